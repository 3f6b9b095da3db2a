#!/usr/bin/env bash
# Re-vendors the front-end libraries into cloud/static/vendor/ from npm at pinned versions,
# with their licences. The result is committed: the site never loads anything from a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."

PICO=2.1.1
TUS=4.3.1
QUILL=2.0.3
ECHARTS=6.1.0
# Only the browser tests inject axe-core (tests/browser/test_accessibility.py); no page loads it.
AXE=4.14.1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "@picocss/pico@$PICO" "tus-js-client@$TUS" "quill@$QUILL" "echarts@$ECHARTS" "axe-core@$AXE")

dest=cloud/static/vendor/pico
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/node_modules/@picocss/pico/css/pico.min.css" "$dest/"
cp "$work/node_modules/@picocss/pico/LICENSE.md" "$dest/LICENSE.md"
echo "@picocss/pico $PICO" > "$dest/VERSION"
dest=cloud/static/vendor/tus-js-client
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/node_modules/tus-js-client/dist/tus.min.js" "$dest/"
cp "$work/node_modules/tus-js-client/LICENSE" "$dest/LICENSE"
echo "tus-js-client $TUS" > "$dest/VERSION"

dest=cloud/static/vendor/quill
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/node_modules/quill/dist/quill.js" "$work/node_modules/quill/dist/quill.snow.css" "$dest/"
cp "$work/node_modules/quill/dist/quill.js.LICENSE.txt" "$dest/"
cp "$work/node_modules/quill/LICENSE" "$dest/LICENSE"
echo "quill $QUILL" > "$dest/VERSION"

dest=cloud/static/vendor/echarts
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/node_modules/echarts/dist/echarts.min.js" "$dest/"
cp "$work/node_modules/echarts/LICENSE" "$work/node_modules/echarts/NOTICE" "$work/node_modules/echarts/licenses/LICENSE-d3" "$dest/"
echo "echarts $ECHARTS" > "$dest/VERSION"

dest=cloud/static/vendor/axe-core
rm -rf "$dest" && mkdir -p "$dest"
cp "$work/node_modules/axe-core/axe.min.js" "$dest/"
cp "$work/node_modules/axe-core/LICENSE" "$work/node_modules/axe-core/LICENSE-3RD-PARTY.txt" "$dest/"
echo "axe-core $AXE" > "$dest/VERSION"

echo "vendored: pico $PICO, tus-js-client $TUS, quill $QUILL, echarts $ECHARTS, axe-core $AXE"
