#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into the database, bucket and index the environment
# names (an empty database and bucket: a new cluster, or the old one emptied).
#   scripts/restore.sh /backups/kepu-2026-12-01
# Stop the web nodes and workers first; start them again when it has finished (docs/deploy.md).
# FLASK (default: .venv/bin/flask --app wsgi) and PG_RESTORE (default: pg_restore on PATH) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:?usage: scripts/restore.sh DIR}"
FLASK="${FLASK:-.venv/bin/flask --app wsgi}"
URL="${KEPU_DATABASE_URL:?KEPU_DATABASE_URL must name the PostgreSQL database}"
LIBPQ_URL="postgresql:${URL#*:}"

# 0. The copy is what the backup wrote.
(cd "$DIR" && sha256sum --check --quiet objects.sha256)
# 1. The database: schema and rows as they were (--clean drops what an earlier attempt left).
"${PG_RESTORE:-pg_restore}" --clean --if-exists --no-owner --no-privileges --exit-on-error \
  --dbname "$LIBPQ_URL" "$DIR/database.dump"
# 2. Any migration newer than the backup.
$FLASK db upgrade
# 3. The objects, each at its key.
$FLASK storage import "$DIR/objects"
# 4. Every stored file's size and SHA-256 against the database (exits 1 on any problem).
$FLASK storage verify
# 5. The search index, rebuilt from the database.
$FLASK search reindex
echo "restored from $DIR; run flask doctor on every node after starting them"
