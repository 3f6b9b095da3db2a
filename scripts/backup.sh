#!/usr/bin/env bash
# Back up a Kepu Cloud deployment into DIR: the database, then the stored objects.
#   scripts/backup.sh /backups/kepu-2026-12-01
# Reads the node's settings from the environment (KEPU_DATABASE_URL, KEPU_STORAGE, KEPU_S3_*),
# as every node does; run it on any one node (docs/deploy.md, "Backups"). The search index is not
# backed up: restore.sh rebuilds it from the database.
# FLASK (default: .venv/bin/flask --app wsgi) and PG_DUMP (default: pg_dump on PATH) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:?usage: scripts/backup.sh DIR}"
FLASK="${FLASK:-.venv/bin/flask --app wsgi}"
mkdir -p "$DIR"
URL="${KEPU_DATABASE_URL:?KEPU_DATABASE_URL must name the PostgreSQL database}"
case "$URL" in
  postgresql*) ;;
  *) echo "backup.sh backs up PostgreSQL; for the embedded SQLite file use: sqlite3 instance/kepu.db '.backup DIR/kepu.db'" >&2; exit 2 ;;
esac
# libpq does not know SQLAlchemy's driver suffix (postgresql+psycopg://).
LIBPQ_URL="postgresql:${URL#*:}"

# 1. The database first: every object a row of the dump names was stored before that row was committed.
"${PG_DUMP:-pg_dump}" --format=custom --no-owner --no-privileges --file "$DIR/database.dump" "$LIBPQ_URL"
# 2. Then the objects (one file per object, named by its key).
$FLASK storage export "$DIR/objects"
# 3. A manifest to check the copy against.
(cd "$DIR" && find objects -type f -print0 | sort -z | xargs -0 -r sha256sum > objects.sha256)
date -u +%Y-%m-%dT%H:%M:%SZ > "$DIR/created_at"
echo "backup written to $DIR"
