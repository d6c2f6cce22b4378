"""Settings shared by the gateway and the workers: where the job state lives (the database),
how they reach each other (the broker and its queues) and the timings of the job machinery.

`celery_config()` turns them into Celery's configuration as plain values, so both sides are
configured alike while this module (like all of `indexer`) imports no Celery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from indexer.settings import Settings


class JobSettings(BaseModel):
    """Timings and limits of the job machinery (`VIDRAG_JOBS__*`)."""

    # a running step whose worker has not beaten for this long is dead: five missed beats
    # (beats come from the worker's main process, which extractors in its pool never block),
    # so with a sweep every 5 s a dead worker is noticed within 30 s
    stale_after_s: float = 25.0
    heartbeat_s: float = 5.0
    sweep_s: float = 5.0  # how often the gateway looks for dead steps and lost jobs
    # an unfinished job in which nothing happened for this long while the queues are empty
    # lost its message (a flushed queue, a worker that died before starting it): resend it
    resend_after_s: float = 60.0
    # a ready video whose index cannot be loaded is re-indexed from its source by the gateway
    # at most this often, then marked failed (index_unloadable)
    heal_attempts: int = 2
    # a job that failed on a full disk is queued again once the data disk has this much free
    min_free_mb: float = 1024.0
    busy_retry_s: float = 5.0  # a step another worker holds is tried again after this
    max_retries: int = 5  # for transient errors (flaky disk, lost connections)
    # for other failures of a step that a fresh try may not repeat (a hung decoder, a time
    # limit, an unexpected error): the part is retried on its own before the video fails
    step_retries: int = 1
    # a step running longer is killed with its pool process (which is replaced) and the video
    # fails as time_limit_exceeded. A 5-min part takes 30-120 s on 2 CPU cores; the limits
    # leave room for a loaded machine
    part_time_limit_s: int = 3600
    finish_time_limit_s: int = 3600
    retry_backoff_s: float = 5.0
    progress_interval_s: float = 0.5  # progress writes per step are at most this frequent
    # Redis only: an unacknowledged task is handed out again after this long (a safety net;
    # dead workers are normally detected sooner through their heartbeats)
    visibility_timeout_s: int = 6 * 3600
    poll_s: float = 0.05  # embedded broker: how often an idle worker looks for work
    # embedded worker processes (None: one per core up to two, then one per two cores)
    concurrency: int | None = None


class WebhookSettings(BaseModel):
    """Delivery of `ready`/`failed` webhooks by the gateway's sweep (`VIDRAG_WEBHOOKS__*`)."""

    max_attempts: int = 8  # then the delivery is marked failed
    backoff_s: float = 5.0  # the wait after the first failed attempt; doubled after each next
    max_backoff_s: float = 3600.0
    timeout_s: float = 10.0


class ServiceSettings(Settings):
    """Settings shared by the gateway and the workers: where the state and the queue are."""

    # default: sqlite:///<data_dir>/vidrag.db
    database_url: str | None = None
    # default: an embedded broker in <data_dir>/broker (no Redis); redis://host:6379/0 to scale
    broker_url: str | None = None
    # default: the Redis broker itself, else the database
    result_backend: str | None = None
    queue_prefix: str = "vidrag"
    jobs: JobSettings = Field(default_factory=JobSettings)
    # every video's `ready`/`failed` events go to these URLs (and to its own `webhook_url`)
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # HMAC-SHA256 key of the `X-Vidrag-Signature` header; empty: deliveries are not signed
    webhook_secret: str = ""
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_webhook_urls(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    def db_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / 'vidrag.db'}"
        # psycopg 3 is the driver we install; a bare postgresql:// would ask for psycopg2
        for bare in ("postgresql://", "postgres://"):
            if url.startswith(bare):
                return "postgresql+psycopg://" + url[len(bare) :]
        return url

    @property
    def embedded(self) -> bool:
        return not self.broker_url

    @property
    def broker_dir(self) -> Path:
        return self.data_dir.resolve() / "broker"

    def queue(self, kind: str) -> str:
        return f"{self.queue_prefix}.{kind}"

    def celery_config(self) -> dict[str, Any]:
        """Celery configuration as plain values (no Celery import), shared by both sides."""
        jobs = self.jobs
        if self.broker_url:
            broker = self.broker_url
            transport: dict[str, Any] = {
                "visibility_timeout": jobs.visibility_timeout_s,
                "socket_connect_timeout": 5,  # an unreachable broker fails fast, not after minutes
            }
        else:
            # kombu's file-system transport: one folder of message files, polled; no server
            broker = "filesystem://"
            folder = str(self.broker_dir / "queue")
            transport = {
                "data_folder_in": folder,
                "data_folder_out": folder,
                "control_folder": str(self.broker_dir / "control"),
                "polling_interval": jobs.poll_s,
            }
        backend = self.result_backend
        if backend is None:
            if broker.startswith(("redis://", "rediss://")):
                backend = broker
            elif self.db_url().startswith("sqlite"):
                # its own file: Celery's result writes must not queue behind ours
                backend = f"db+sqlite:///{self.data_dir.resolve() / 'results.db'}"
            else:
                backend = "db+" + self.db_url()
        cpu, gpu = self.queue("cpu"), self.queue("gpu")
        return {
            "broker_url": broker,
            "broker_transport_options": transport,
            "result_backend": backend,
            "result_expires": 24 * 3600,
            "task_default_queue": cpu,  # also where Celery's own chord_unlock goes
            "task_annotations": {
                # hard limits only: the pool kills the process and starts a fresh one. A soft
                # limit raises wherever the task is, also inside an import, and leaves the
                # process with half-imported modules (seen: torch) that fail every later task
                "vidrag.index_part": {"time_limit": jobs.part_time_limit_s},
                "vidrag.finish": {"time_limit": jobs.finish_time_limit_s},
            },
            "task_routes": {
                "vidrag.prepare": {"queue": cpu},
                "vidrag.index_part": {"queue": gpu},
                "vidrag.finish": {"queue": gpu},
            },
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            # a task is acknowledged when it ends, so one that dies with its worker runs again
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
            "worker_hijack_root_logger": False,
        }

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            (self.broker_dir / "queue").mkdir(parents=True, exist_ok=True)
            (self.broker_dir / "control").mkdir(parents=True, exist_ok=True)
