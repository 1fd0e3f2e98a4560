#!/usr/bin/env bash
# Fault injection (issue #24), outside the test suite: kill -9 at random moments (20 per command by
# default) during corpus build, pretrain, classify train, cnn train, predict, scan and variants
# score; two runs on one --out; full disks (a small tmpfs, so run as root). Checks that no partial
# output ever appears under a final name, that resumed training ends with the uninterrupted run's
# weights, and that nothing is left behind; see scripts/faults.py. About 4 min.
# Usage: scripts/faults.sh [--kills N] [--only CASE ...] [--seed S]     Results: out/faults/faults.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-corpora >/dev/null
exec python3 scripts/faults.py "$@"
