#!/usr/bin/env bash
# Language-model training throughput: genolm against fastai 2.8's get_language_model(AWD_LSTM, ...) in
# PyTorch, same vocab/batch/bptt/emb/hidden/layers, same machine, same libtorch (the bench venv reuses
# .venv's torch 2.13). fp32 and bf16; then bf16-vs-fp32 quality on E. coli.
# Usage: scripts/bench-pretrain.sh [--quick] [--repeats N]     Results: out/bench/pretrain.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
[ -d out/corpus-ecoli ] || target/release/genolm corpus build --config configs/corpus-ecoli.toml --quiet
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_pretrain.py "$@"
