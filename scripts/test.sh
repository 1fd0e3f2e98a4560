#!/usr/bin/env bash
# Sets everything up (idempotent) and runs every test, unit and integration, in the release profile
# (the one setup builds, so libtorch's C++ wrapper compiles once).
# Integration tests read ../shared/data; without it they say SKIPPED, and in CI (CI=true) they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-corpora
# fastai 2.8 in a scratch venv over .venv's torch, for the test that loads genolm weights into fastai.
source scripts/bench-venv.sh
source scripts/env.sh
if [ "${CI:-}" = true ]; then
  export GENOLM_REQUIRE_SHARED_DATA=1
fi
# Each test that returns early for want of a prerequisite appends a line here (tests/common/skip.rs).
export GENOLM_SKIP_LOG="$PWD/target/skipped-tests.txt"
: > "$GENOLM_SKIP_LOG"
status=0
cargo test --release --workspace --no-fail-fast || status=$?
skipped=$(sort -u "$GENOLM_SKIP_LOG" | wc -l)
if [ "$skipped" -gt 0 ]; then
  echo "SKIPPED: $skipped tests, for want of a prerequisite (CI fails instead):"
  sort -u "$GENOLM_SKIP_LOG" | sed 's/^/  /'
else
  echo "skipped: 0 tests"
fi
exit $status
