#!/usr/bin/env bash
# Language-model training throughput: genolm against fastai 2.8's get_language_model(AWD_LSTM, ...) in
# PyTorch, same vocab/batch/bptt/emb/hidden/layers, same machine, same libtorch (the bench venv reuses
# .venv's torch 2.13). fp32 and bf16; then bf16-vs-fp32 quality on E. coli.
# Usage: scripts/bench-pretrain.sh [--quick]     Results: out/bench/pretrain.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
VENV=.cache/bench-venv
[ -x $VENV/bin/python ] || python3 -m venv $VENV
# torch comes from .venv (the same libtorch genolm links), fastai and its light dependencies from PyPI.
SITE=$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")
BSITE=$($VENV/bin/python -c "import site; print(site.getsitepackages()[0])")
echo "$SITE" > "$BSITE/genolm_venv_torch.pth"
$VENV/bin/python -c "import fastai.text.models.awdlstm, numpy" 2>/dev/null || {
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check --no-deps fastai==2.8.12
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check "fastcore>=2.2.22" "fasttransform>=0.0.3" \
    "fastprogress>=0.2.4" "fastdownload>=0.0.8,<2" "plum-dispatch<2.10" pandas matplotlib pyyaml requests packaging \
    cloudpickle scipy scikit-learn pillow "numpy>=2"
}
[ -d out/corpus-ecoli ] || target/release/genolm corpus build --config configs/corpus-ecoli.toml --quiet
mkdir -p out/bench
exec $VENV/bin/python scripts/bench_pretrain.py "$@"
