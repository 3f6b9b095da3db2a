#!/usr/bin/env bash
# Re-vendors the front-end libraries into cloud/static/vendor/ from npm at pinned versions,
# with their licences. The result is committed: the site never loads anything from a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."

PICO=2.1.1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "@picocss/pico@$PICO")

dest=cloud/static/vendor/pico
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/node_modules/@picocss/pico/css/pico.min.css" "$dest/"
cp "$work/node_modules/@picocss/pico/LICENSE.md" "$dest/LICENSE.md"
echo "@picocss/pico $PICO" > "$dest/VERSION"
echo "vendored: pico $PICO"
