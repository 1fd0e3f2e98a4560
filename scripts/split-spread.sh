#!/usr/bin/env bash
# How much a task's test metrics move with the random train/valid/test split: for each split seed,
# the whole ULMFiT tail (LM fine-tuning on that split's train+valid sequences, classifier from it)
# and the task's naive config, then a table of every split with mean and standard deviation.
# Usage: scripts/split-spread.sh [--no-finetune] TASK PRETRAINED_LM SEED... [-- MORE_FINETUNE_SETTINGS...]
#   e.g. scripts/split-spread.sh ecoli-promoters-81bp out/lm-ecoli-paper-long 1 2 3 4 5 \
#          -- --set train.epochs=4 --set train.max_steps=215
#   --no-finetune: the classifier starts from PRETRAINED_LM itself (the demo's CDS-start chain).
# Classifier settings: configs/TASK.toml (bf16); naive: configs/TASK-naive.toml. Outputs under
# out/split-spread-TASK/ (seed-N task configs, LMs, classifiers, summary.tsv); a seed already done
# is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
finetune=yes
[ "${1:-}" = --no-finetune ] && { finetune=no; shift; }
[ $# -ge 3 ] || { sed -n 2,11p "$0" >&2; exit 2; }
task=$1 lm=$2
shift 2
seeds=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do seeds+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
ft_sets=("$@")
[ -f "configs/$task.toml" ] || { echo "configs/$task.toml: no such task" >&2; exit 2; }
[ -f "$lm/model.safetensors" ] || { echo "$lm: no language model (run scripts/reproduce.sh first)" >&2; exit 2; }
source scripts/env.sh
source scripts/ulmfit-settings.sh
G=target/release/genolm
out=out/split-spread-$task
mkdir -p "$out"
for s in "${seeds[@]}"; do
  [ -f "$out/clf-s$s/test_metrics.json" ] && [ -f "$out/naive-s$s/test_metrics.json" ] && continue
  # The task config with this split seed.
  scripts/task_runs.py split-seed "configs/$task.toml" "$out/task-s$s.toml" "$s"
  rm -rf "$out/lm-s$s" "$out/clf-s$s" "$out/naive-s$s"
  init=$lm
  if [ $finetune = yes ]; then
    init=$out/lm-s$s
    $G finetune-lm --model "$lm" --task "$out/task-s$s.toml" --out "$init" --quiet \
      "${FINETUNE_SETS[@]}" "${ft_sets[@]}"
  fi
  $G classify train --config "$out/task-s$s.toml" --set "lm=$init" --set train.precision=auto \
    --out "$out/clf-s$s" --json | tail -1
  $G classify train --config "configs/$task-naive.toml" --set "split.seed=$s" --out "$out/naive-s$s" \
    --json | tail -1
done
python3 - "$out" "${seeds[@]}" <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
keys = ["mcc", "accuracy", "specificity", "recall", "auroc"]
lines = ["split_seed\tclassifier\t" + "\t".join(keys)]
for kind in ("clf", "naive"):
    cols = {k: [] for k in keys}
    for s in seeds:
        r = json.load(open(f"{out}/{kind}-s{s}/test_metrics.json"))
        vals = {k: r["accuracy"] if k == "accuracy" else r["summary"][k] for k in keys}
        for k in keys:
            cols[k].append(vals[k])
        lines.append(f"{s}\t{kind}\t" + "\t".join(f"{vals[k]:.4f}" for k in keys))
    if len(seeds) > 1:
        lines.append("mean\t" + kind + "\t" + "\t".join(f"{statistics.mean(cols[k]):.4f}" for k in keys))
        lines.append("sd\t" + kind + "\t" + "\t".join(f"{statistics.stdev(cols[k]):.4f}" for k in keys))
open(f"{out}/summary.tsv", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
