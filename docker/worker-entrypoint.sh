#!/bin/sh
# vidrag-worker run   a Celery worker consuming the cpu and gpu queues (settings: VIDRAG_*)
# vidrag-worker ping  exit 0 when this container's worker answers a Celery ping (health check)
set -eu
prefix="${VIDRAG_QUEUE_PREFIX:-vidrag}"
name="worker@${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}"
case "${1:-run}" in
  run)
    shift || true
    # one process per GPU by default: each loads its own models
    exec python -m celery -A workers.celery_app worker \
      -Q "$prefix.cpu,$prefix.gpu" -n "$name" \
      -c "${VIDRAG_WORKER_CONCURRENCY:-1}" \
      --without-gossip --without-mingle -l "${VIDRAG_LOG_LEVEL:-INFO}" "$@"
    ;;
  ping)
    exec python -m celery -A workers.celery_app inspect ping -d "$name" --timeout 10 >/dev/null
    ;;
  *)
    exec "$@"
    ;;
esac
