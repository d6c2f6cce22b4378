"""Issue 13, safe by default: with API keys set, `/readyz` tells an anonymous probe only whether
it is ready (not which models, broker or disk are behind it), and the key a player passes as
`?api_key=` on media URLs never reaches the access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.observability import RedactKeys, configure_logging
from app.settings import AppSettings
from tests.answer.fakes import MODEL, FakeVLLM
from tests.answer.test_service import lmm


def test_readiness_details_need_a_key(tmp_path: Path) -> None:
    settings = AppSettings(
        data_dir=tmp_path / "data", api_keys=["news:k1"], warm_up=False, requeue_on_start=False
    )
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/readyz").json()
        assert anonymous["status"] == "ready"
        assert anonymous["checks"] == {} and anonymous["capabilities"] == {}
        assert (
            client.get("/readyz", headers={"Authorization": "Bearer wrong"}).json()["checks"] == {}
        )
        detail = client.get("/readyz", headers={"Authorization": "Bearer k1"}).json()
        assert detail["checks"]["database"] == "ok" and detail["capabilities"]


def test_the_access_log_drops_api_keys() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/v1/videos/ab/media?api_key=s3cret&x=1", "1.1", 206),
        None,
    )
    assert RedactKeys().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "api_key=[redacted]&x=1" in line
    configure_logging(json_logs=False)  # what the gateway does at start
    assert any(isinstance(f, RedactKeys) for f in logging.getLogger("uvicorn.access").filters)


@pytest.fixture
def fake_vllm() -> Iterator[FakeVLLM]:
    server = FakeVLLM()
    yield server
    server.close()


def test_readiness_probes_the_language_model(tmp_path: Path, fake_vllm: FakeVLLM) -> None:
    """The LMM is reported (served model, or why not) without gating readiness: answers fall
    back to extractive quotes when it is down."""
    settings = AppSettings(
        data_dir=tmp_path / "data",
        warm_up=False,
        requeue_on_start=False,
        lmm=lmm(fake_vllm.url),
    )
    with TestClient(create_app(settings)) as client:
        up = client.get("/readyz").json()
        assert up["checks"]["lmm"].startswith("ok: ") and MODEL in up["checks"]["lmm"]
    down = settings.model_copy(update={"lmm": lmm("http://127.0.0.1:9/v1", retries=0)})
    with TestClient(create_app(down)) as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["lmm"].startswith("error: ")
