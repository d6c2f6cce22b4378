"""One library for the command line and the service: a video indexed with `vidrag index` (run as
a subprocess, with a temporary data directory and SQLite database) is listed by `GET /v1/videos`
and `vidrag list`, found by `/v1/search` and `vidrag search`, playable, answered by `vidrag ask`,
refused a second time as already indexed, and removed by `vidrag delete`. An interrupted run
says how to resume, and that command finishes it."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import AppSettings
from tests import synth

pytestmark = pytest.mark.slow
VIDRAG = str(Path(sys.executable).with_name("vidrag"))
QUESTION = "Which gate does flight BA 4022 leave from?"


def _env(**extra: str) -> dict[str, str]:
    # only what the test sets: no VIDRAG_DATABASE_URL or data dir of the machine leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDRAG_")}
    env.update(
        VIDRAG_HF_OFFLINE="true",
        VIDRAG_DETECT__BACKEND="none",  # objects play no part here; keeps the test short
        VIDRAG_FRAMES__BACKEND="none",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def vidrag(*args: str, data: Path, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [VIDRAG, *args, "--data-dir", str(data)]
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def gate_video() -> Path:
    card = synth.save_png(synth.text_card(["FLIGHT BA 4022", "GATE A34"]), "gate-card")
    speech = synth.speech_wav("Passengers for London, please go to the gate shown on the board.")
    return synth.still_with_speech(card, speech, 12.0)


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory, gate_video: Path
) -> Iterator[tuple[Path, str, subprocess.CompletedProcess[str]]]:
    """(data dir, video id, the index run) after `vidrag index` of the gate video."""
    data = tmp_path_factory.mktemp("cli") / "data"
    run = vidrag("index", str(gate_video), "--title", "Gate card", data=data)
    assert run.returncode == 0, run.stdout + run.stderr
    vid = run.stdout.strip().splitlines()[-1].split()[1]  # "ready: <id>  <title>"
    yield data, vid, run


@pytest.fixture(scope="module")
def gateway(library: tuple[Path, str, object]) -> Iterator[TestClient]:
    """The service over the same data directory, as `vidrag serve` would build it."""
    data, _, _ = library
    settings = AppSettings(data_dir=data, hf_offline=True, warm_up=False)
    with TestClient(create_app(settings)) as client:
        yield client


def test_index_shows_one_bar_per_stage_and_a_summary(library) -> None:
    _, vid, run = library
    # not a terminal here: each bar's advances are plain lines, in seconds of video; a
    # one-part video fills each stage once, whole
    for stage in ("decode", "speech", "ocr", "objects", "frames", "clips", "embed", "index"):
        assert f"{stage:>8} 12/12 s of video" in run.stderr, run.stderr
    assert not re.search(r"\d+/\d+ part", run.stderr)  # no bar counts parts
    assert "capabilities: asr=" in run.stdout and f"ready: {vid}  Gate card" in run.stdout


def test_cli_video_is_in_the_service_library(library, gateway: TestClient) -> None:
    _, vid, _ = library
    videos = gateway.get("/v1/videos").json()["videos"]
    assert [v["id"] for v in videos] == [vid]
    video = gateway.get(f"/v1/videos/{vid}").json()
    assert video["status"] == "ready" and video["title"] == "Gate card"
    assert video["progress"]["percent"] == 100
    assert video["progress"]["parts_done"] == video["progress"]["parts_total"] == 1
    assert video["capabilities"]["ocr"]["ok"] and video["clip_count"] >= 1
    media = gateway.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=0-99"})
    assert media.status_code == 206 and len(media.content) == 100
    hits = gateway.post("/v1/search", json={"query": "gate A34", "top_k": 3}).json()["hits"]
    assert hits and hits[0]["video_id"] == vid
    answer = gateway.post("/v1/ask", json={"question": QUESTION}).json()
    assert answer["citations"][0]["video_id"] == vid
    assert "4022" in answer["answer"] or "A34" in answer["answer"]  # quoted from the card


def test_list_search_and_ask_from_the_command_line(
    library, gate_video: Path, gateway: TestClient
) -> None:
    data, vid, _ = library
    listed = vidrag("list", data=data)
    assert listed.returncode == 0 and vid in listed.stdout and "ready" in listed.stdout
    found = vidrag("search", str(gate_video), "gate A34", data=data)
    assert found.returncode == 0 and "A34" in found.stdout, found.stdout + found.stderr
    # the same Answerer as `POST /v1/ask`: the same answer, streamed
    served = gateway.post("/v1/ask", json={"question": QUESTION, "video_ids": [vid]}).json()
    for video in (vid, str(gate_video), "gate card"):  # an id, the file, the title
        asked = vidrag("ask", video, QUESTION, data=data)
        assert asked.returncode == 0, asked.stderr
        text, _, cited = asked.stdout.partition("citations:")
        assert text.strip() == served["answer"].strip()
        assert "[00:00:00–00:00:12] Gate card" in cited
        assert "model: extractive" in asked.stdout


def test_second_index_says_already_indexed(library, gate_video: Path) -> None:
    data, vid, _ = library
    again = vidrag("index", str(gate_video), data=data)
    assert again.returncode == 0
    assert again.stdout.strip() == f"already indexed: {vid}  Gate card"


def test_unknown_video_is_an_error(library) -> None:
    data, _, _ = library
    asked = vidrag("ask", "no-such-video", QUESTION, data=data)
    assert asked.returncode == 2 and "error [video_not_found]" in asked.stderr


def test_delete_removes_only_that_video(library, gateway: TestClient) -> None:
    data, vid, _ = library
    card = synth.save_png(synth.text_card(["DELETE ME"]), "delete-card")
    other = synth.still_with_speech(card, None, 4.0)
    indexed = vidrag("index", str(other), "--title", "Doomed", data=data)
    assert indexed.returncode == 0, indexed.stderr
    other_id = indexed.stdout.strip().splitlines()[-1].split()[1]
    assert {v["id"] for v in gateway.get("/v1/videos").json()["videos"]} == {vid, other_id}
    gone = vidrag("delete", "Doomed", data=data)
    assert gone.returncode == 0 and other_id in gone.stdout
    assert [v["id"] for v in gateway.get("/v1/videos").json()["videos"]] == [vid]
    assert gateway.get(f"/v1/videos/{other_id}").status_code == 404
    assert not (data / "videos" / other_id).exists()
    assert other_id not in vidrag("list", data=data).stdout


def _wait_for(path_glob: str, root: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if next(root.glob(path_glob), None):
            return
        time.sleep(0.1)
    pytest.fail(f"{path_glob} never appeared (exit {proc.poll()})")


def test_killed_and_interrupted_runs_resume(tmp_path: Path) -> None:
    """Killed outright, the next run takes the dead run's steps back at once (the stale-heartbeat
    delay is an hour here, so waiting it out would not finish); Ctrl-C prints the command that
    resumes, and that command finishes the video."""
    speech = synth.speech_wav("One two three four five six seven eight nine ten.")
    card = synth.save_png(synth.text_card(["PARTS", "AND RESUMES"]), "resume-card")
    # 8 parts: when the second run's Ctrl-C comes (after part 1's speech) six remain, so it
    # cannot finish first (with 4, a user's-clone run did, and exited 0)
    video = synth.still_with_speech(card, speech, 80.0)
    data = tmp_path / "data"
    env = _env(VIDRAG_SEGMENT__PART_S="10", VIDRAG_JOBS__STALE_AFTER_S="3600")
    cmd = [VIDRAG, "index", str(video), "--data-dir", str(data), "--jobs", "1"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}

    first = subprocess.Popen(cmd, env=env, **pipes)  # type: ignore[call-overload]
    _wait_for("videos/*/parts/0000/stages/speech.json", data, first)
    first.send_signal(signal.SIGKILL)
    first.communicate()

    # a suite started in the background (`scripts/test.sh &`, nohup) passes SIGINT on ignored,
    # and Python then installs no Ctrl-C handler: give the run the default a terminal gives
    def ctrl_c_default() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    second = subprocess.Popen(cmd, env=env, preexec_fn=ctrl_c_default, **pipes)  # type: ignore[call-overload]
    _wait_for("videos/*/parts/0001/stages/speech.json", data, second)
    second.send_signal(signal.SIGINT)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 130, out + err
    assert "interrupted:" in err and "resume with:" in err
    assert "Traceback" not in err  # the pool processes leave Ctrl-C to the main one
    lines = err.splitlines()
    resume = shlex.split(lines[lines.index(next(x for x in lines if "resume with:" in x)) + 1])
    assert resume[:3] == ["vidrag", "index", str(video.resolve())]
    assert vidrag("list", data=data).stdout.split()[1] != "ready"

    third = subprocess.run([VIDRAG, *resume[1:]], env=env, capture_output=True, text=True)
    assert third.returncode == 0, third.stdout + third.stderr
    vid = third.stdout.strip().splitlines()[-1].split()[1]
    listed = vidrag("list", data=data).stdout
    assert f"{vid}  ready" in listed
