#!/usr/bin/env bash
# Classifier training and prediction throughput (sequences/s): genolm against fastai 2.8's
# get_text_classifier(AWD_LSTM, ...) in PyTorch, same shapes, same machine, same libtorch.
# Usage: scripts/bench-classify.sh [--quick] [--repeats N]     Results: out/bench/classify.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
[ -s out/dataset-ecoli-cds-promoters.tsv ] || target/release/genolm dataset promoters \
  --genbank .cache/corpora/ecoli-k12-genbank/NC_000913.gbk.gz --out out/dataset-ecoli-cds-promoters.tsv
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_classify.py "$@"
