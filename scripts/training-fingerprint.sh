#!/usr/bin/env bash
# Fingerprints of every training path on small real runs: pretraining (stopped and resumed),
# LM fine-tuning, a classifier from the LM through ULMFiT's stages, a naive one with early stopping.
# Run before and after a change to the trainer and diff the two files: a refactor that claims
# "behaviour unchanged" must leave every line identical (weights' sha256, losses to the last bit).
#   scripts/training-fingerprint.sh out/fingerprint-before.txt   (needs out/corpus-ecoli and
#   out/dataset-ecoli-cds-promoters.tsv from scripts/demo.sh, or builds them)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
OUT=${1:?usage: scripts/training-fingerprint.sh FILE}
G=target/release/genolm
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
DATA=${GENOLM_DATA:-../shared/data}
[ -s out/corpus-ecoli/tokens.bin ] || $G corpus build --config configs/corpus-ecoli.toml
[ -s out/dataset-ecoli-cds-promoters.tsv ] || $G dataset promoters \
  --genbank "$DATA/ecoli-k12-mg1655/NC_000913.3.gb" --out out/dataset-ecoli-cds-promoters.tsv
export OMP_NUM_THREADS=2
LM=(--set model.emb_size=32 --set model.hidden_size=64 --set train.batch_size=16
    --set train.max_steps=60 --set train.valid_max_batches=20 --set train.precision=fp32
    --set train.log_every=10 --set train.checkpoint_every=25 -q --json)
$G pretrain --config configs/lm-ecoli-cpu.toml --out $W/lm "${LM[@]}" > $W/lm.json
$G pretrain --config configs/lm-ecoli-cpu.toml --out $W/lm-split "${LM[@]}" --stop-after 37 > /dev/null
$G pretrain --resume $W/lm-split -q --json > $W/lm-split.json
$G finetune-lm --model $W/lm --task configs/ecoli-cds-promoters.toml --out $W/ft -q --json \
  --set train.max_steps=30 --set train.valid_max_batches=10 --set train.lr=5e-3 > $W/ft.json
CLF=(--set train.batch_size=64 --set train.precision=fp32 -q --json)
$G classify train --config configs/ecoli-cds-promoters.toml --out $W/clf "${CLF[@]}" \
  --set lm=\"$W/ft\" \
  --set 'train.stages=[{unfreeze=1,epochs=1,lr=2e-2},{unfreeze=2,epochs=1,lr=1e-2},{unfreeze=0,epochs=1,lr=1e-3}]' \
  > $W/clf.json
$G classify train --config configs/primer-motif.toml --out $W/naive "${CLF[@]}" \
  --set train.patience=1 --set 'train.stages=[{unfreeze=0,epochs=4,lr=1e-2}]' > $W/naive.json
{
  for d in lm lm-split ft clf naive; do
    echo "$d model $(sha256sum < $W/$d/model.safetensors | cut -c1-64)"
    # Metrics rows without wall-clock fields, keys sorted: the numbers must match to the last bit.
    python3 - "$W/$d/metrics.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    row = {k: v for k, v in json.loads(line).items() if k not in ("seconds", "tokens_per_s")}
    print("  ", json.dumps(row, sort_keys=True))
PY
  done
  for j in lm lm-split ft; do
    python3 -c "import json,sys; r=json.load(open('$W/$j.json')); print('$j', r['steps'], repr(r['valid_loss']), repr(r['train_loss']))"
  done
  for j in clf naive; do
    python3 -c "import json,sys; r=json.load(open('$W/$j.json')); print('$j', repr(r['mcc']), repr(r['accuracy']), repr(r['auroc']))"
  done
} > "$OUT"
echo "wrote $OUT"
