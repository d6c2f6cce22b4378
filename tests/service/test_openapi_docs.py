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


def test_the_upload_bodies_are_described(spec: dict[str, Any]) -> None:
    # documented inline by the route (it reads its body itself), so not in components.schemas
    upload = spec["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    for ctype in ("multipart/form-data", "application/json"):
        props = upload[ctype]["schema"]["properties"]
        bare = [name for name, prop in props.items() if not prop.get("description")]
        assert bare == [], ctype


def test_request_bodies_have_examples(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("SearchRequest", "AskRequest", "ChatCompletionRequest", "VideoPatch"):
        props = schemas[name]["properties"]
        assert any(p.get("examples") for p in props.values()), name
        # a whole body to start from, valid against the schema's required fields
        (example,) = schemas[name]["examples"]
        assert set(schemas[name].get("required", [])) <= set(example), name
        assert set(example) <= set(props), name
    upload = spec["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    url_upload = upload["application/json"]["schema"]
    assert url_upload["properties"]["url"]["examples"]
    assert url_upload["examples"][0]["url"].startswith("https://")
    assert "file" in upload["multipart/form-data"]["schema"]["required"]


def test_the_streamed_answer_events_are_documented(spec: dict[str, Any]) -> None:
    ask = spec["paths"]["/v1/ask"]["post"]
    # every event the Answerer yields (app/answer/service.py), and that there is no `error` one
    for event in ("`hits`", "`delta`", "`reset`", "`done`", "`error`"):
        assert event in ask["description"], event
    assert "There is no `error` event" in ask["description"]
    assert "text/event-stream" in ask["responses"]["200"]["content"]
    stream = spec["components"]["schemas"]["AskRequest"]["properties"]["stream"]["description"]
    assert "`error`" not in stream  # the field names only events that exist


def test_the_streamed_chat_completion_is_documented(spec: dict[str, Any]) -> None:
    chat = spec["paths"]["/v1/chat/completions"]["post"]["description"]
    for part in ("chat.completion.chunk", "`delta`", "`finish_reason`", "`citations`", "[DONE]"):
        assert part in chat, part
