#!/usr/bin/env bash
# Data-parallel pretraining throughput (issue #25): `genolm launch --nproc 2` (c10d, Gloo) against
# PyTorch's DistributedDataParallel (Gloo) on fastai 2.8's AWD-LSTM, and 1 process against 2 on
# this machine's cores; genolm's gradient-averaging cost per step. About 10 min.
# Usage: scripts/bench-dist.sh [--steps N] [--repeats R]     Results: out/bench/dist.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
[ -d out/corpus-ecoli ] || target/release/genolm corpus build --config configs/corpus-ecoli.toml --quiet
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_dist.py "$@"
