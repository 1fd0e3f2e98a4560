#!/usr/bin/env bash
# Interpretation throughput: in-silico mutagenesis (substitutions/s) and saliency (sequences/s),
# genolm against tangermeme (PyPI) on the same CNN in PyTorch, same run; and the LSTM's
# state-cached mutagenesis against its naive one.
# Usage: scripts/bench-interpret.sh [--repeats N]     Results: out/bench/interpret.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
$VENV/bin/python -c "import tangermeme, safetensors" 2>/dev/null ||
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check "tangermeme==1.6.0" safetensors
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_interpret.py "$@"
