#!/usr/bin/env bash
# Runs a whole reproduction chain on a clean checkout: setup, corpus, language model, derived data,
# the classifier from the LM and its naive baseline; test metrics land in out/clf-*/test_metrics.json.
# Usage: scripts/reproduce.sh NAME     NAME: primer-motif | ecoli-promoters-81bp | ecoli-cds-promoters
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
case "$name" in
  primer-motif|ecoli-promoters-81bp|ecoli-cds-promoters) ;;
  *) echo "usage: scripts/reproduce.sh primer-motif|ecoli-promoters-81bp|ecoli-cds-promoters" >&2; exit 2 ;;
esac
scripts/setup.sh
G=target/release/genolm

needs_lm() {
  [ -d out/corpus-ecoli ] || $G corpus build --config configs/corpus-ecoli.toml
  if [ ! -f out/lm-ecoli/model.safetensors ]; then
    rm -rf out/lm-ecoli
    $G pretrain --config configs/lm-ecoli-cpu.toml
  fi
}

train() {
  rm -rf "out/clf-$1"
  local start=$SECONDS
  $G classify train --config "configs/$1.toml"
  echo "  $1: $((SECONDS - start)) s"
}

case "$name" in
  primer-motif)
    train primer-motif ;;
  ecoli-promoters-81bp)
    needs_lm
    train ecoli-promoters-81bp
    train ecoli-promoters-81bp-naive ;;
  ecoli-cds-promoters)
    needs_lm
    $G dataset promoters --genbank .cache/corpora/ecoli-k12-genbank/NC_000913.gbk.gz \
      --out out/dataset-ecoli-cds-promoters.tsv
    train ecoli-cds-promoters
    train ecoli-cds-promoters-naive ;;
esac
for f in out/clf-"$name"*/test_metrics.json; do
  echo "$f"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['summary']; print(f\"  accuracy {r['accuracy']:.3f}  MCC {s['mcc']:.3f}  specificity {s['specificity']:.3f}  AUROC {s['auroc']:.3f}\")" "$f"
done
