"""The layering holds: `app → indexer ← workers`. The library in `indexer/` imports neither the
gateway (`app`), nor the Celery shells (`workers`), nor FastAPI or Celery — at module level or
inside a function. Imports are read with `ast` from every file, so a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("app", "workers", "fastapi", "starlette", "celery", "kombu")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`, wherever it stands; relative imports are
    left out (they stay inside their package)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden_imports(package: Path) -> list[str]:
    bad = []
    for path in sorted(package.rglob("*.py")):
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in FORBIDDEN:
                bad.append(f"{path.relative_to(package.parent)}:{line} imports {module}")
    return bad


def test_indexer_imports_no_app_workers_fastapi_or_celery() -> None:
    files = list((REPO / "indexer").rglob("*.py"))
    assert len(files) > 20, "the indexer package was not found"
    assert forbidden_imports(REPO / "indexer") == []


def test_workers_do_not_import_the_gateway() -> None:
    bad = [b for b in forbidden_imports(REPO / "workers") if " imports app" in b]
    assert bad == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import app.serve", "app.serve"),
        ("from celery import Celery", "celery"),
        ("def f():\n    from fastapi import APIRouter\n", "fastapi"),
        ("class C:\n    def m(self):\n        import workers.tasks\n", "workers.tasks"),
        ("import importlib\nimportlib.import_module('app.main')", "app.main"),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path: Path, source: str, module: str) -> None:
    assert module in [m for _, m in imported_modules(source)]
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(source)
    (found,) = forbidden_imports(package)
    assert found.startswith("pkg/mod.py:") and found.endswith(f" imports {module}")
