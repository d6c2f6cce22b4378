#!/usr/bin/env bash
# The whole test suite: lint, format, types, then every test that can run on this machine
# (real Redis, PostgreSQL, Celery workers, ffmpeg and the offline CPU models included).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the quick ones.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
$py -m ruff check .
$py -m ruff format --check .
$py -m mypy
# pytest exits 5 when nothing was collected: that is a failure here, not a pass
$py -m pytest "$@"
