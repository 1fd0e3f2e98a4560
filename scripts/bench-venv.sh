# Sourced by the benchmark scripts: a scratch venv with fastai 2.8 from PyPI whose torch is .venv's
# (the same libtorch genolm links). Sets VENV.
VENV=.cache/bench-venv
[ -x $VENV/bin/python ] || python3 -m venv $VENV
SITE=$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")
BSITE=$($VENV/bin/python -c "import site; print(site.getsitepackages()[0])")
echo "$SITE" > "$BSITE/genolm_venv_torch.pth"
$VENV/bin/python -c "import fastai.text.models.awdlstm, numpy" 2>/dev/null || {
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check --no-deps fastai==2.8.12
  $VENV/bin/python -m pip install --quiet --disable-pip-version-check "fastcore>=2.2.22" "fasttransform>=0.0.3" \
    "fastprogress>=0.2.4" "fastdownload>=0.0.8,<2" "plum-dispatch<2.10" pandas matplotlib pyyaml requests packaging \
    cloudpickle scipy scikit-learn pillow "numpy>=2"
}
