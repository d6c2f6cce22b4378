"""docker-compose.yml: valid for the compose binary, loud about missing secrets, and vLLM is
started with the multimodal limits the gateway's request budget needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.answer.settings import LMMSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "VLLM_API_KEY": "vllm-secret",
    "VIDRAG_API_KEYS": "k1,k2",
    "VLLM_MODEL_REVISION": "0123abc",
}


def compose_cmd() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = compose_cmd()
    if cmd is None:
        pytest.skip("no docker compose / docker-compose binary")
    # only what compose needs from our environment: no stray VIDRAG_* or secrets leak in, and
    # an empty env file instead of a developer's .env
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        return subprocess.run(
            [
                *cmd,
                "-f",
                str(COMPOSE),
                "--project-directory",
                str(REPO),
                "--env-file",
                empty.name,
                "config",
            ],
            capture_output=True,
            text=True,
            env={**base, **env},
            timeout=60,
            check=False,
        )


def resolved(env: dict[str, str]) -> dict[str, Any]:
    p = config(env)
    assert p.returncode == 0, p.stderr
    return yaml.safe_load(p.stdout)


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


class _Env(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDRAG_", env_nested_delimiter="__")
    lmm: LMMSettings = LMMSettings()


def gateway_lmm(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> LMMSettings:
    """The LMM settings the gateway container would read from its environment."""
    for k, v in env.items():
        if k.startswith("VIDRAG_LMM__"):
            monkeypatch.setenv(k, str(v))
    return _Env().lmm


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_missing_secret_fails_loudly(missing: str) -> None:
    p = config({k: v for k, v in SECRETS.items() if k != missing})
    assert p.returncode != 0
    assert f"set {missing} in .env" in p.stderr


def test_services_and_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = resolved(SECRETS)
    services = cfg["services"]
    assert set(services) == {"redis", "postgres", "gateway", "worker", "vllm"}
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("gateway", "worker"):
        deps = services[name]["depends_on"]
        assert deps["redis"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
        env = services[name]["environment"]
        assert env["VIDRAG_DATABASE_URL"] == "postgresql://vidrag:pg-secret@postgres:5432/vidrag"
        assert env["VIDRAG_BROKER_URL"] == "redis://redis:6379/0"
    for name in ("worker", "vllm"):
        (dev,) = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    image = services["vllm"]["image"]
    assert image.startswith("vllm/vllm-openai:v"), "a pinned release, never latest"
    assert flag([str(c) for c in services["vllm"]["command"]], "--revision") == "0123abc"
    # published on loopback unless the operator says otherwise, and never without keys
    (port,) = services["gateway"]["ports"]
    # compose v2 writes a mapping, docker-compose 1.x the short "ip:host:container" string
    host_ip = port["host_ip"] if isinstance(port, dict) else port.split(":")[0]
    assert host_ip == "127.0.0.1", port
    assert services["gateway"]["environment"]["VIDRAG_API_KEYS"] == "k1,k2"

    gw_env = services["gateway"]["environment"]
    lmm = gateway_lmm(gw_env, monkeypatch)
    assert lmm.base_urls == ["http://vllm:8000/v1"]
    assert lmm.api_key is not None and lmm.api_key.get_secret_value() == "vllm-secret"
    assert services["vllm"]["environment"]["VLLM_API_KEY"] == "vllm-secret"
    command = [str(c) for c in services["vllm"]["command"]]
    assert flag(command, "--model") == lmm.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    # the defaults are the gateway's defaults, and vLLM accepts what the gateway sends
    assert lmm.max_images == LMMSettings().max_images
    assert lmm.max_model_len == LMMSettings().max_model_len
    assert json.loads(flag(command, "--limit-mm-per-prompt")) == lmm.limit_mm_per_prompt()
    assert int(flag(command, "--max-model-len")) == lmm.max_model_len
    assert 0 < float(flag(command, "--gpu-memory-utilization")) < 1  # leaves room for the worker


def test_one_variable_sets_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    services = resolved({**SECRETS, "VIDRAG_LMM_MAX_IMAGES": "7"})["services"]
    lmm = gateway_lmm(services["gateway"]["environment"], monkeypatch)
    command = [str(c) for c in services["vllm"]["command"]]
    assert lmm.max_images == 7
    assert json.loads(flag(command, "--limit-mm-per-prompt")) == {"image": 7, "video": 0}


def test_compose_defaults_match_the_settings() -> None:
    # without a compose binary too: the file's own defaults agree with LMMSettings
    text = COMPOSE.read_text()
    raw = yaml.safe_load(text)
    assert set(raw["services"]) == {"redis", "postgres", "gateway", "worker", "vllm"}
    defaults = dict(re.findall(r"\$\{(VIDRAG_LMM_\w+):-([^}]*)\}", text))
    s = LMMSettings()
    assert int(defaults["VIDRAG_LMM_MAX_IMAGES"]) == s.max_images
    assert int(defaults["VIDRAG_LMM_MAX_MODEL_LEN"]) == s.max_model_len
    assert all(f"${{{k}:?" in text for k in SECRETS)
