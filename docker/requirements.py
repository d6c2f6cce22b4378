"""Print the requirements of vidrag's core and the given extras, one per line, for a Docker layer
that installs dependencies before the source is copied (a code change then rebuilds only the
source layer). Self-references such as `vidrag[cpu]` are expanded.

    python requirements.py gpu postgres -faiss-cpu > requirements.txt   # -NAME: leave NAME out
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def req_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements(
    pyproject: Path, extras: list[str], drop: frozenset[str] = frozenset()
) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    name, optional = project["name"], project.get("optional-dependencies", {})
    out = list(project["dependencies"])
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"unknown extra {extra!r}; known: {sorted(optional)}")
        seen.add(extra)
        for req in optional[extra]:
            m = re.fullmatch(rf"{re.escape(name)}\[([\w,\s-]+)\]", req.strip())
            if m:
                todo += [e.strip() for e in m.group(1).split(",")]
            elif req not in out:
                out.append(req)
    return [r for r in out if req_name(r) not in drop]


if __name__ == "__main__":
    here = Path(sys.argv[0]).resolve().parent
    path = next(p for p in (Path("pyproject.toml"), here.parent / "pyproject.toml") if p.exists())
    args = sys.argv[1:]
    drop = frozenset(a[1:].lower().replace("_", "-") for a in args if a.startswith("-"))
    print("\n".join(requirements(path, [a for a in args if not a.startswith("-")], drop)))
