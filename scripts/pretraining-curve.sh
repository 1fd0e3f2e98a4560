#!/usr/bin/env bash
# Is pretraining worth it, and how much? Classifier test MCC against language-model pretraining
# compute (issue #22): for each arm of ARMS.json (a tokenization, an LM shape, a number of epochs
# on the E. coli genome) an LM is pretrained, then on 3 random splits of each task a classifier
# from it and the naive one of the same shape, tokenization and epochs. Tasks: the CDS-start
# promoters of the bundled GenBank and the 81 bp sigma70 promoters (../shared/data/CNNPromoterData).
# No LM fine-tuning step: both tasks' sequences are E. coli's, which the LM has read.
# Usage: scripts/pretraining-curve.sh [ARMS.json]   (default configs/pretraining-curve.json)
# Output: out/pretraining-curve/{results.jsonl, curve.tsv, curve.png, curve.svg}; runs already
# done are reused (delete an arm's directory to redo it). About 70 minutes on 2 cores (11 arms).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
source scripts/env.sh
G=target/release/genolm
O=out/pretraining-curve
[ -s out/dataset-ecoli-cds-promoters.tsv ] ||
  $G dataset promoters --genbank .cache/corpora/ecoli-k12-genbank/NC_000913.gbk.gz \
    --out out/dataset-ecoli-cds-promoters.tsv
python3 scripts/pretraining_curve.py --arms "${1:-configs/pretraining-curve.json}" \
  --tasks ecoli-cds-promoters ecoli-promoters-81bp --splits 1 2 3 --out $O
$G plot pretraining-curve --results $O/results.jsonl --out $O/curve.png
