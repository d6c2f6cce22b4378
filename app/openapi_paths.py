"""The documented operations, read once from the app's OpenAPI schema: for each path template,
its methods and the query parameters each takes. The routes are included lazily (FastAPI), so
the schema, not the router, is where the full paths are; the 405 handler (`app.errors`) and the
unknown-parameter check (`app.strict_query`) both ask here."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import compile_path

Operations = list[tuple[re.Pattern[str], dict[str, set[str]]]]


def operations(api: Any) -> Operations:
    """(path pattern, {METHOD: query parameter names}); HEAD wherever GET is. Cached on the app."""
    table: Operations | None = getattr(api.state, "documented_operations", None)
    if table is None:
        table = []
        for template, ops in api.openapi()["paths"].items():
            params = {
                m.upper(): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
                for m, op in ops.items()
            }
            if "GET" in params:
                params["HEAD"] = params["GET"]
            table.append((compile_path(template)[0], params))
        api.state.documented_operations = table
    return table


def methods_at(api: Any, path: str) -> set[str]:
    """Every documented method at `path` (across the operations that share it)."""
    return {m for pattern, ops in operations(api) if pattern.match(path) for m in ops}
