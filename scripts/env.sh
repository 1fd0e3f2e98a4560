# Sourced by the scripts: the environment genolm is built and tested in (one profile: release).
export LIBTORCH_USE_PYTORCH=1
export PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin:$HOME/.cargo/bin:$PATH"
