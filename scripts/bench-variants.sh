#!/usr/bin/env bash
# Variant-effect scoring throughput (variants/s): `genolm variants score` against tangermeme's
# substitution_effect (PyPI) on the same CNN's weights in PyTorch (same machine, same libtorch),
# the scores' agreement, and the forward-pass floor of this CPU. Needs the CNN of
# scripts/reproduce-tlvar.sh (out/cnn-tlvar-generic-chr20) or --model DIR.
# Usage: scripts/bench-variants.sh [--n N] [--repeats R]     Results: out/bench/variants.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/bench-venv.sh
$VENV/bin/python -c "import tangermeme.variant_effect" 2>/dev/null ||
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check tangermeme==1.6.0
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_variants.py "$@"
