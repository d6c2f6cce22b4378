"""Issue 12: every public field and operation of the OpenAPI schema says what it is (FastAPI's
own validation-error schema aside), and the streamed answer's events are documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from app.settings import AppSettings

FASTAPI_OWN = {"HTTPValidationError", "ValidationError"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: Path = tmp_path_factory.mktemp("openapi")
    return create_app(AppSettings(data_dir=data, warm_up=False)).openapi()


def test_every_field_has_a_description(spec: dict[str, Any]) -> None:
    missing = [
        f"{name}.{field}"
        for name, schema in spec["components"]["schemas"].items()
        if name not in FASTAPI_OWN
        for field, prop in (schema.get("properties") or {}).items()
        if not prop.get("description")
    ]
    assert missing == []


def test_every_operation_is_described(spec: dict[str, Any]) -> None:
    bare = [
        f"{method.upper()} {path}"
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if not op.get("description")
    ]
    assert bare == []


def test_request_bodies_have_examples(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("SearchRequest", "AskRequest", "ChatCompletionRequest", "VideoPatch"):
        props = schemas[name]["properties"]
        assert any(p.get("examples") for p in props.values()), name
    upload = spec["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert upload["application/json"]["schema"]["properties"]["url"]["examples"]
    assert "file" in upload["multipart/form-data"]["schema"]["required"]


def test_the_streamed_answer_events_are_documented(spec: dict[str, Any]) -> None:
    ask = spec["paths"]["/v1/ask"]["post"]
    for event in ("`hits`", "`delta`", "`reset`", "`done`"):
        assert event in ask["description"], event
    assert "text/event-stream" in ask["responses"]["200"]["content"]
