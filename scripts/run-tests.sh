#!/bin/sh
# Node 20's test runner does not expand globs: list the test files ourselves.
# Usage: scripts/run-tests.sh DIR [DIR...]
set -eu
files=$(find "$@" -name '*.test.ts' 2>/dev/null | sort)
if [ -z "$files" ]; then
  echo "no test files under: $*" >&2
  exit 1
fi
# shellcheck disable=SC2086
exec node --import tsx --test --test-concurrency=2 $files
