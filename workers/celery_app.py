"""The Celery app, configured from the same settings as the gateway (`indexer.service_settings`).

    celery -A workers.celery_app worker -Q vidrag.cpu,vidrag.gpu   # one worker for both queues
    celery -A workers.celery_app worker -Q vidrag.gpu -c 1          # a GPU host

With no `VIDRAG_BROKER_URL` it uses the embedded file-system broker under the data directory
(one machine, no Redis); `VIDRAG_BROKER_URL=redis://...` makes it distributed."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init

from indexer.service_settings import ServiceSettings


def make_celery(settings: ServiceSettings | None = None) -> Celery:
    settings = settings or ServiceSettings()
    app = Celery("vidrag")
    app.conf.update(settings.celery_config())
    app.conf.include = ["workers.tasks", "workers.signals"]
    return app


celery_app = make_celery()


@worker_init.connect
def _create_dirs(**_: object) -> None:
    # at worker start, not at import: importing this module must not create directories
    ServiceSettings().ensure_dirs()
