#!/usr/bin/env bash
# Runs a whole reproduction chain on a clean checkout: setup, corpus, language model, LM fine-tuning on
# the task's training sequences, the classifier from the fine-tuned LM and its naive baseline. Test
# metrics land in out/clf-NAME*/test_metrics.json (with plots), timings on stdout.
# Usage: scripts/reproduce.sh NAME
#   NAME: primer-motif | ecoli-promoters-81bp | ecoli-cds-promoters | arabidopsis-lncrna | human-chr20-promoters
# Steps already done (a corpus or pretrained LM in out/) are reused; delete them to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
names="primer-motif ecoli-promoters-81bp ecoli-cds-promoters arabidopsis-lncrna human-chr20-promoters"
name=${1:-}
[[ " $names " == *" $name "* && -n $name ]] || { echo "usage: scripts/reproduce.sh ${names// / | }" >&2; exit 2; }
scripts/setup.sh
G=target/release/genolm

timed() {
  local start=$SECONDS
  "$@"
  echo "  ($((SECONDS - start)) s: ${*:1:3})"
}

# pretrained CORPUS_CONFIG LM_CONFIG LM_DIR: the corpus and pretrained LM, unless already there.
pretrained() {
  local corpus_dir
  corpus_dir=$(sed -n 's/^dir = "\(.*\)"/\1/p' "configs/$1.toml")
  [ -f "$corpus_dir/corpus.toml" ] || timed $G corpus build --config "configs/$1.toml" --force
  if [ ! -f "$3/model.safetensors" ]; then
    rm -rf "$3"
    timed $G pretrain --config "configs/$2.toml"
  fi
}

# finetuned TASK PRETRAINED_DIR: ULMFiT's second step, on the task's train+valid sequences (out/lm-TASK).
finetuned() {
  rm -rf "out/lm-$1"
  timed $G finetune-lm --model "$2" --task "configs/$1.toml" --out "out/lm-$1" --quiet \
    --set train.epochs=10 --set train.max_steps=500 --set train.batch_size=32 --set train.lr=5e-3
}

classifier() {
  rm -rf "out/clf-$1"
  timed $G classify train --config "configs/$1.toml"
}

case "$name" in
  primer-motif)
    classifier primer-motif ;;
  ecoli-promoters-81bp)
    pretrained corpus-ecoli lm-ecoli-cpu out/lm-ecoli
    finetuned ecoli-promoters-81bp out/lm-ecoli ;;
  ecoli-cds-promoters)
    pretrained corpus-ecoli lm-ecoli-cpu out/lm-ecoli
    timed $G dataset promoters --genbank .cache/corpora/ecoli-k12-genbank/NC_000913.gbk.gz \
      --out out/dataset-ecoli-cds-promoters.tsv
    finetuned ecoli-cds-promoters out/lm-ecoli ;;
  arabidopsis-lncrna)
    pretrained corpus-arabidopsis-chr1 lm-arabidopsis-cpu out/lm-arabidopsis
    finetuned arabidopsis-lncrna out/lm-arabidopsis ;;
  human-chr20-promoters)
    pretrained corpus-human-chr20 lm-human-chr20-cpu out/lm-human-chr20
    finetuned human-chr20-promoters out/lm-human-chr20 ;;
esac
if [ "$name" != primer-motif ]; then
  classifier "$name"
  classifier "$name-naive"
fi
scripts/report.py "$name"
