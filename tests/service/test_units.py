"""Small pure pieces of the gateway and workers: Range parsing, file-name checks, the extractive
answer, transient-error classification, settings from the environment."""

from __future__ import annotations

import pytest

from app.answer import extractive
from app.errors import InvalidFilename, RangeNotSatisfiable
from app.ranges import parse_range
from app.settings import AppSettings
from app.upload import check_filename
from indexer.errors import CorruptMedia, ModelUnavailable
from indexer.types import Evidence, Hit


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-200", (800, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=0-0", (0, 0)),
        ("bytes=0-1,5-6", None),
    ],
)
def test_ranges(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=5-2", "bytes=-0", "items=0-1", "bytes=a-b", "bytes=-"]
)
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(header, 1000)
    assert e.value.headers == {"Content-Range": "bytes */1000"}


@pytest.mark.parametrize("name", ["lecture.mp4", "Vidéo de cours (2024).mkv", "a..b.mp4"])
def test_plain_file_names_pass(name: str) -> None:
    assert check_filename(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x.mp4", "a/b.mp4", "C:\\x\\y.mp4", "x\x00.mp4", "x\n.mp4", "é" * 200],
)
def test_path_like_file_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidFilename):
        check_filename(name)


def _hit(vid: str, start: float, *evidence: tuple[str, str]) -> Hit:
    return Hit(
        video_id=vid,
        clip_index=int(start // 10),
        start_s=start,
        end_s=start + 10,
        score=1.0,
        evidence=[
            Evidence(modality=m, text=t, start_s=start, end_s=start + 5) for m, t in evidence
        ],
    )  # type: ignore[arg-type]


def test_extractive_answer_quotes_the_matching_evidence_with_times() -> None:
    hits = [
        _hit("v1", 30, ("objects", "2 person, 1 car")),
        _hit(
            "v1",
            60,
            ("speech", "and mister john dashwood had then leisure to consider"),
            ("ocr", "EXIT"),
        ),
    ]
    a = extractive.answer("What did John Dashwood consider?", hits, {"v1": "Lecture"})
    assert "00:01:00–00:01:10" in a.answer and "dashwood" in a.answer.split("\n")[0]
    assert [h.start_s for h in a.cited] == [60]  # the objects-only clip supports nothing
    assert a.answer.endswith(extractive.NOTE)
    assert "".join(extractive.chunks(a.answer)) == a.answer


def test_extractive_answer_without_hits_says_so() -> None:
    a = extractive.answer("anything?", [])
    assert a.cited == [] and "Nothing" in a.answer


def test_transient_errors_are_told_apart() -> None:
    from sqlalchemy.exc import OperationalError

    from workers.tasks import is_transient

    assert is_transient(OSError(5, "Input/output error"))
    assert is_transient(ConnectionResetError())
    assert is_transient(OperationalError("select 1", {}, Exception("database is locked")))
    assert not is_transient(FileNotFoundError("source.mp4"))
    assert not is_transient(CorruptMedia("truncated"))
    assert not is_transient(ModelUnavailable("no weights"))
    assert not is_transient(ValueError("bug"))


def test_a_failed_step_is_retried_unless_it_would_fail_the_same_way() -> None:
    from indexer.errors import DecodeStalled, StepTimedOut, ToolMissing
    from indexer.service_settings import JobSettings
    from workers.tasks import retries_allowed

    jobs = JobSettings(max_retries=5, step_retries=1)
    assert retries_allowed(ConnectionResetError(), jobs) == 5
    for once in (DecodeStalled("hung"), ValueError("a bug"), MemoryError()):
        assert retries_allowed(once, jobs) == 1, once
    never_again = (CorruptMedia("truncated"), ModelUnavailable("no"), ToolMissing("ffmpeg"))
    for never in (*never_again, StepTimedOut("killed")):
        assert retries_allowed(never, jobs) == 0, never
    assert retries_allowed(FileNotFoundError("source.mp4"), jobs) == 0


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("VIDRAG_API_KEYS", " key-one, key-two ,")
    monkeypatch.setenv("VIDRAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VIDRAG_JOBS__STALE_AFTER_S", "30")
    monkeypatch.setenv("VIDRAG_DATABASE_URL", "postgresql://root@db:5432/vidrag")
    s = AppSettings()
    assert s.api_keys == ["key-one", "key-two"] and s.jobs.stale_after_s == 30
    assert s.db_url() == "postgresql+psycopg://root@db:5432/vidrag"
    conf = s.celery_config()
    assert conf["broker_url"] == "filesystem://" and s.embedded
    assert conf["result_backend"] == "db+postgresql+psycopg://root@db:5432/vidrag"
    assert conf["task_acks_late"] and conf["worker_prefetch_multiplier"] == 1
    monkeypatch.setenv("VIDRAG_BROKER_URL", "redis://cache:6379/2")
    conf = AppSettings().celery_config()
    assert conf["broker_url"] == conf["result_backend"] == "redis://cache:6379/2"
    assert conf["task_routes"]["vidrag.index_part"]["queue"] == "vidrag.gpu"
