#!/usr/bin/env bash
# One-hot CNN training and prediction throughput (sequences/s): genolm against the same
# architecture in plain PyTorch (same machine, same libtorch), TLVar's and Basset-TF's shapes, and
# the fraction of this CPU's convolution rate each reaches.
# Usage: scripts/bench-cnn.sh [--repeats N]     Results: out/bench/cnn.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_cnn.py "$@"
