"""scripts/gpu_eval.py without a GPU: its command line, and its evaluation loop against the test
double of vLLM (indexing and starting vLLM are the parts left to a GPU host)."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from app.answer.service import Answerer
from app.answer.settings import LMMSettings
from bench.haystack import Needle
from indexer.store import Library
from indexer.types import Hit
from tests.answer.fakes import MODEL, FakeVLLM, error_reply, stream_reply

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_eval.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_eval", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_eval"] = mod  # dataclasses resolve their module by name
    spec.loader.exec_module(mod)
    return mod


def test_help_runs_from_anywhere(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert "--vllm-url" in p.stdout and "--start-vllm" in p.stdout


def test_a_server_is_required() -> None:
    with pytest.raises(SystemExit) as e:
        load().parse_args(["--minutes", "1"])
    assert e.value.code == 2


def test_evaluation_loop(fake_vllm: FakeVLLM, library: Library, hits: list[Hit]) -> None:
    ev = load()
    late, _, early = hits
    needles = [
        Needle("text", 752.0, 758.0, "What is the launch code?", ["742"], "x.png"),
        Needle("text", 12.0, 18.0, "Which exit is shown?", ["exit"], "y.png"),
    ]
    fake_vllm.script.append(stream_reply("The code is 742 ", "[00:12:35]."))
    fake_vllm.script.extend([error_reply(500)] * 3)  # the second question: the LMM is down
    lmm = LMMSettings(
        base_urls=[fake_vllm.url], model=MODEL, backoff_base_s=0.01, backoff_max_s=0.02
    )
    answerer = Answerer(lmm, library)
    by_query = {needles[0].query: [late], needles[1].query: [early]}
    rows = asyncio.run(
        ev.evaluate(answerer, by_query.__getitem__, needles, "aaaa", {"aaaa": "haystack"})
    )
    first, second = rows
    assert (first.retrieved, first.words_ok, first.cited_ok, first.model) == (
        True,
        True,
        True,
        MODEL,
    )
    assert first.degraded is None and first.first_token_ms is not None
    assert second.model == "extractive" and second.degraded.startswith("lmm_unavailable")
    assert (second.retrieved, second.words_ok, second.cited_ok) == (True, True, True)
    summary = ev.summarize(rows)
    assert summary["needles"] == 2 and summary["degraded"] == 1
    assert summary["answer_words"] == summary["cited"] == 1.0
    table = ev.render_table(rows).splitlines()
    assert len(table) == 4 and "degraded: lmm_unavailable" in table[3]

    assert asyncio.run(ev.wait_ready(lmm, 5.0, None, poll_s=0.05)) == [MODEL]
    wrong = lmm.model_copy(update={"model": "other/model"})
    with pytest.raises(RuntimeError, match="not ready"):
        asyncio.run(ev.wait_ready(wrong, 0.2, None, poll_s=0.05))
