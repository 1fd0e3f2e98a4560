#!/usr/bin/env bash
# The GPU checks (issue #25): one prepared run for a machine with NVIDIA GPUs, under 10 minutes on
# one H100/H200-class GPU. What this 2-core CPU machine cannot show:
#   1. setup and build (scripts/setup.sh: rustup/cargo and PyPI, as on any fresh machine), with
#      NCCL's process group (libgenolm_c10d_nccl.so);
#   2. `genolm-torch info --device cuda`: the GPU seen, its compute capability, NCCL built;
#   3. the CUDA-gated tests (torch/tests/cuda.rs, --ignored): fp32 pretraining on the GPU follows
#      the CPU, bf16 tracks fp32, a CNN trains and predicts as on the CPU, a ULMFiT classifier
#      learns, and with 2 GPUs two NCCL ranks follow one;
#   4. pretraining throughput on cuda against fastai's AWD-LSTM on the same GPU, fp32 and bf16
#      (scripts/bench-pretrain.sh --device cuda);
#   5. classifier training and prediction throughput on cuda against fastai, fp32 and bf16
#      (scripts/bench-classify.sh --device cuda);
#   6. with 2 GPUs: pretraining tokens/s on 2 processes (NCCL) against 1.
# Prints one summary line per check (also in out/bench/gpu-check.txt); the full log is
# out/bench/gpu-check.log, the figures out/bench/gpu-*.json. Copy them into BENCHMARKS.md.
# Usage: scripts/gpu-check.sh [--repeats N]   (N interleaved benchmark runs, default 2)
# GENOLM_GPU_CHECK_DEVICE=cpu (with a stand-in nvidia-smi on PATH) rehearses the script itself on a
# machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${GENOLM_GPU_CHECK_DEVICE:-cuda}
REPEATS=2
[ "${1:-}" = --repeats ] && REPEATS=$2
mkdir -p out/bench
LOG=out/bench/gpu-check.log
SUMMARY=out/bench/gpu-check.txt
: >"$LOG"
: >"$SUMMARY"
START=$(date +%s)

say() { echo "gpu-check: $*" | tee -a "$SUMMARY"; }
# run NAME CMD...: runs CMD with its output in the log; PASS/FAIL with the seconds it took.
run() {
  local name=$1 t0=$SECONDS
  shift
  echo "=== $name: $*" >>"$LOG"
  if "$@" >>"$LOG" 2>&1; then
    say "$name: PASS ($((SECONDS - t0)) s)"
  else
    say "$name: FAIL ($((SECONDS - t0)) s; see $LOG)"
    return 1
  fi
}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  say "no NVIDIA GPU or driver here (nvidia-smi -L fails): nothing to check"
  exit 1
fi
GPUS=$(nvidia-smi -L | grep -c '^GPU')
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1), $GPUS GPU(s)"

run "setup and build" scripts/setup.sh || { say "cannot build: stopping"; exit 1; }
source scripts/env.sh

INFO=$(target/release/genolm-torch info --device cuda --json 2>>"$LOG")
echo "$INFO" >>"$LOG"
# info_ok JSON: "compute capability ..., data_parallel ..." when CUDA and NCCL are there, else fails.
info_ok() {
  python3 - "$1" <<'PY'
import json, sys
v = json.loads(sys.argv[1])
if not (v["cuda_available"] and "nccl" in v["data_parallel"]):
    sys.exit(1)
print("compute capability %s, data_parallel %s, precision auto %s"
      % (v["gpu_compute_capability"], v["data_parallel"], v["precision_auto"]))
PY
}
if DETAIL=$(info_ok "$INFO" 2>>"$LOG"); then
  say "info: PASS ($DETAIL)"
else
  say "info: FAIL (CUDA not available or NCCL not built: $INFO)"
fi

run "CUDA tests (torch/tests/cuda.rs, device.rs)" env GENOLM_TEST_DEVICE="$DEVICE" \
  cargo test --release -p genolm-torch --test cuda --test device -- --include-ignored --nocapture
grep -h "NOT RUN" "$LOG" | sort -u | while read -r line; do say "  $line"; done

# The benchmark scripts print one line per shape with the ratios; the summary keeps them.
bench() {
  local name=$1 script=$2 json=$3 before
  before=$(wc -l <"$LOG")
  if run "$name" "$script" --device "$DEVICE" --repeats "$REPEATS" --results "$json"; then
    tail -n +$((before + 1)) "$LOG" | grep -E "^(small|paper|quality)" | while read -r line; do say "  $line"; done
  fi
}
bench "pretraining throughput vs fastai on $DEVICE" scripts/bench-pretrain.sh out/bench/gpu-pretrain.json
bench "classifier throughput vs fastai on $DEVICE" scripts/bench-classify.sh out/bench/gpu-classify.json

if [ "$GPUS" -ge 2 ]; then
  rate() { # rate NPROC: the pretraining run's tokens/s on NPROC GPUs
    local out
    out=$(mktemp -d)
    target/release/genolm launch --nproc "$1" -- pretrain --config configs/lm-ecoli-cpu.toml \
      --out "$out/m" --json --quiet --set train.device="$DEVICE" --set train.max_steps=300 \
      --set train.checkpoint_every=0 --set train.valid_max_batches=1 --set corpus=out/corpus-ecoli \
      2>>"$LOG" | tail -n 1 | python3 -c 'import json,sys; print(round(json.loads(sys.stdin.read())["tokens_per_s"]))'
    rm -rf "$out"
  }
  ONE=$(rate 1) && TWO=$(rate 2) &&
    say "2 GPUs (NCCL) vs 1, pretraining: $ONE -> $TWO tokens/s ($(python3 -c "print(f'{$TWO / $ONE:.2f}')")x)" ||
    say "2 GPUs (NCCL) vs 1: FAIL (see $LOG)"
else
  say "2 GPUs (NCCL) vs 1: NOT RUN (this machine has $GPUS GPU)"
fi
say "done in $((SECONDS / 60)) min $((SECONDS % 60)) s (started $(date -d @"$START" '+%F %T'))"
