#!/usr/bin/env bash
# Serves Kepu Cloud on one machine: a task-queue worker beside the gunicorn web process.
# Both stop together (Ctrl-C or SIGTERM); the worker is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
# The site answers only to trusted host names (KEPU_TRUSTED_HOSTS, default localhost,127.0.0.1):
# serving one address, that address is one of them; serving all (0.0.0.0), name them yourself.
case "$HOST" in
  0.0.0.0 | :: | "[::]" | 127.0.0.1 | localhost) ;;
  *) export KEPU_TRUSTED_HOSTS="${KEPU_TRUSTED_HOSTS:-localhost,127.0.0.1,$HOST}" ;;
esac

"$BIN/flask" --app wsgi worker --workers "${KEPU_WORKER_THREADS:-1}" &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT
# Upload threads allocate and free MB-sized buffers: without a cap glibc gives each thread its own
# malloc arena and the freed memory stays with the process (bench/upload_bench.py measures it).
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" "$BIN/gunicorn" -c scripts/gunicorn.conf.py --workers "${KEPU_WEB_WORKERS:-2}" --threads "${KEPU_WEB_THREADS:-4}" --timeout 120 --no-control-socket \
  --bind "$HOST:$PORT" --access-logfile - wsgi:app
