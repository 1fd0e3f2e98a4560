#!/usr/bin/env bash
# Corpus-build benchmark: genolm against a pure-Python implementation of Genomic-ULMFiT's k-mer
# tokenizer + frequency vocabulary + numericalization (and HF `tokenizers` on pre-split k-mers),
# on E. coli NC_000913.3 (k=5/2 and k=3/1), and on human chr20 against merely decompressing it.
# Usage: scripts/bench-corpus.sh [--repeats N] [--py-repeats N]     Results: out/bench/corpus.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-corpora >/dev/null
VENV=.cache/bench-venv
if [ ! -x $VENV/bin/python ]; then
  python3 -m venv $VENV
fi
$VENV/bin/python -c "import numpy, tokenizers" 2>/dev/null ||
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check "numpy>=2" "tokenizers==0.22.*"
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_corpus.py "$@"
