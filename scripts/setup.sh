#!/usr/bin/env bash
# One-time (and idempotent) setup on Debian/Ubuntu:
#   1. system packages a build needs (python3-venv, a C++ compiler, pkg-config) when missing (as root);
#   2. Rust via rustup when cargo is missing;
#   3. .venv/ with the PyPI torch wheel, which carries libtorch (CPU + CUDA) for tch;
#   4. the bundled corpora named in corpora/*.toml (Debian packages, sha256-verified) unless --no-corpora;
#   5. a release build of genolm and genolm-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TORCH_VERSION=2.13.0
TOKENIZERS_VERSION="0.22.*"
SNAKEMAKE_VERSION=9.27.1
FETCH_CORPORA=1
for arg in "$@"; do
  case "$arg" in
    --no-corpora) FETCH_CORPORA=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v c++ >/dev/null || missing+=(g++)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v curl >/dev/null || missing+=(curl)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)  # text in PNG plots
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" python3-pip >/dev/null
  else
    echo "setup.sh: please install: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    say "installing Rust (rustup)"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  say "installing torch==$TORCH_VERSION into .venv (libtorch for tch; ~4.7 GB, a few minutes)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
# Python's `tokenizers`, so the tests can check that Python users load genolm's tokenizer.json.
if ! .venv/bin/python -c "import tokenizers" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "tokenizers==$TOKENIZERS_VERSION"
fi

# snakemake, which runs workflows/scan (a whole-genome scan as shard jobs, locally or on a cluster).
if ! .venv/bin/python -c "import snakemake" 2>/dev/null; then
  say "installing snakemake==$SNAKEMAKE_VERSION into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "snakemake==$SNAKEMAKE_VERSION"
fi

if [ "$FETCH_CORPORA" = 1 ]; then
  if command -v apt-get >/dev/null && ! apt-cache show cct-examples >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "apt package lists are empty: apt-get update"
    apt-get update -qq
  fi
  say "fetching bundled corpora (corpora/*.toml)"
  .venv/bin/python scripts/fetch_corpora.py
fi

# Gloo's headers, which c10d's ProcessGroupGloo.hpp includes and the torch wheel does not ship:
# Debian's libgloo-dev, unpacked into .cache/gloo (no root; only its declarations are compiled
# against, the code is libtorch's). Without them genolm builds without data-parallel training.
if [ ! -f .cache/gloo/usr/include/gloo/context.h ] && command -v apt-get >/dev/null; then
  if ! apt-cache show libgloo-dev >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
  fi
  say "unpacking Gloo headers (Debian libgloo-dev) into .cache/gloo"
  rm -rf .cache/gloo-dl && mkdir -p .cache/gloo-dl
  if (cd .cache/gloo-dl && apt-get download libgloo-dev >/dev/null 2>&1); then
    dpkg -x .cache/gloo-dl/libgloo-dev_*.deb .cache/gloo
  else
    say "libgloo-dev not available: building without data-parallel training (genolm launch)"
  fi
  rm -rf .cache/gloo-dl
fi

# The CUDA runtime's crt/ and cccl headers, which c10d's ProcessGroupNCCL.hpp includes and the CUDA
# wheels leave out (nvidia-cuda-runtime ships the rest): headers only, ~3 MB, matching the runtime's
# version. build.rs compiles the NCCL process group against them (data-parallel training on GPUs).
CUDA_INC="$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/nvidia/cu13/include"
if [ -f "$CUDA_INC/cuda_runtime_api.h" ] && { [ ! -f "$CUDA_INC/crt/host_config.h" ] || [ ! -d "$CUDA_INC/nv" ]; }; then
  CUDA_MM=$(.venv/bin/python -c "import importlib.metadata as m; print('.'.join(m.version('nvidia-cuda-runtime').split('.')[:2]))")
  say "installing CUDA $CUDA_MM crt and cccl headers (for NCCL data-parallel training)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    "nvidia-cuda-crt==$CUDA_MM.*" "nvidia-cuda-cccl==$CUDA_MM.*" ||
    say "CUDA headers not available: data-parallel training on GPUs will not be built (CPU/Gloo is)"
fi

say "building (release)"
export LIBTORCH_USE_PYTORCH=1 PATH="$ROOT/.venv/bin:$PATH"
cargo build --release --workspace
say "ready: $ROOT/target/release/genolm"
