#!/bin/sh
# Regenerates docs/dashboard.png: the dashboard browser test (headless chromium
# against a target and a host running I/O) writes its screenshot there instead of a
# temp file, after about 20 s of history. Needs chromium (apt-get install chromium).
# Usage: sh scripts/dashboard-screenshot.sh
set -eu
cd "$(dirname "$0")/.."
DASHBOARD_PNG="$(pwd)/docs/dashboard.png" exec node --import tsx --test test/integration/dashboard.test.ts
