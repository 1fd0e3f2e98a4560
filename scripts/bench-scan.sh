#!/usr/bin/env bash
# Scan throughput (windows/s): genolm scan against a batched PyTorch sliding-window loop with the same
# weights (fastai's classifier via scripts/genolm_fastai.py), same run, same libtorch; tracks compared.
# Usage: scripts/bench-scan.sh [--model DIR] [--bases N] [--step S] [--repeats N]
#   default model: out/clf-ecoli-cds-promoters (scripts/reproduce.sh ecoli-cds-promoters makes it)
# Results: out/bench/scan.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
exec $VENV/bin/python scripts/bench_scan.py "$@"
