#!/usr/bin/env bash
# Issue #23's figures on real data: what a CNN and a ULMFiT (k-mer LSTM) classifier learned.
#  1. The primer's simulated task (../shared/data/deep-learning-genomics-primer): per model and
#     method, the fraction of positive test sequences whose best 12-base attribution window is the
#     planted CGACCGAACTCC (>= 10 of 12 bases), and the motif the seqlets cluster into.
#  2. E. coli sigma70 promoters (81 bp, TSS at base 61; ../shared/data/CNNPromoterData): the mean
#     attribution profile (peaks at -10 and -35?) and the discovered motifs against TATAAT / TTGACA.
# Trains what is missing (about 1 min); about 3 min in all. Outputs: out/interpret/; the pictures the
# README shows are copied to docs/interpret/.
# Usage: scripts/interpret.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-corpora >/dev/null
G=target/release/genolm
DATA=../shared/data
OUT=out/interpret
mkdir -p $OUT docs/interpret
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

[ -f out/cnn-primer/model.safetensors ] || $G cnn train --config configs/cnn-primer.toml -q
[ -f out/clf-primer-motif/model.safetensors ] || $G classify train --config configs/primer-motif.toml
[ -f out/cnn-ecoli-promoters-81bp/model.safetensors ] || $G cnn train --config configs/cnn-ecoli-promoters-81bp.toml -q
[ -f out/clf-ecoli-promoters-81bp-naive/model.safetensors ] || $G classify train --config configs/ecoli-promoters-81bp-naive.toml

say "1. The primer's planted motif (CGACCGAACTCC)"
P=$DATA/deep-learning-genomics-primer
python3 scripts/interpret_checks.py positives out/cnn-primer/test_predictions.tsv $P/sequences.txt $P/labels.txt $OUT/primer-positives.fa
for model in cnn-primer clf-primer-motif; do
  for method in grad grad-x-input integrated; do
    d=$OUT/primer-$model-$method
    $G interpret saliency --model out/$model --fasta $OUT/primer-positives.fa --out $d --force --method $method --max-plots 3 2>&1 | tail -1
    printf '%s, %s: ' $model $method
    python3 scripts/interpret_checks.py planted $d/saliency.tsv CGACCGAACTCC
  done
  $G motifs discover --saliency $OUT/primer-$model-grad-x-input/saliency.tsv --out $OUT/primer-$model-motifs --force --known motifs/known.meme
  awk -F'\t' 'NR > 1 && $4 == 1' $OUT/primer-$model-motifs/compare.tsv | head -3
done

say "2. E. coli sigma70 promoters (81 bp, TSS at 61): profile and motifs"
PROM=$DATA/CNNPromoterData/Ecoli_prom.fa
for model in cnn-ecoli-promoters-81bp clf-ecoli-promoters-81bp-naive; do
  methods="grad-x-input integrated"
  # The LSTM's integrated gradients take 4 min here (3 frames x 32 steps x 4 references).
  [ $model = clf-ecoli-promoters-81bp-naive ] && methods="grad-x-input"
  for method in $methods; do
    d=$OUT/81bp-$model-$method
    $G interpret saliency --model out/$model --fasta $PROM --out $d --force --method $method --mark 61 --max-plots 3 2>&1 | tail -1
    echo "$model, $method:"
    python3 scripts/interpret_checks.py profile $d/profile.tsv
    for region in all 18-36; do
      args="--width 6 --per-sequence 2"
      [ $region = all ] || args="--width 6 --region $region"
      $G motifs discover --saliency $d/saliency.tsv --out $d-motifs-$region --force --known motifs/known.meme $args 2>&1 | tail -1 | cut -c1-160
      python3 scripts/interpret_checks.py closest $d-motifs-$region/compare.tsv sigma70_-10 sigma70_-35
    done
  done
done

say "3. Pictures for the README (docs/interpret/)"
cp $OUT/primer-cnn-primer-motifs/logo-motif_1.png docs/interpret/primer-cnn-logo.png
cp $OUT/primer-clf-primer-motif-motifs/logo-motif_1.png docs/interpret/primer-lstm-logo.png
cp $OUT/primer-clf-primer-motif-grad-x-input/saliency-1.png docs/interpret/primer-lstm-saliency.png
cp $OUT/81bp-cnn-ecoli-promoters-81bp-integrated/profile.png docs/interpret/81bp-cnn-profile.png
cp $OUT/81bp-cnn-ecoli-promoters-81bp-integrated/saliency-1.png docs/interpret/81bp-cnn-saliency.png
cp $OUT/81bp-cnn-ecoli-promoters-81bp-integrated-motifs-all/logo-motif_1.png docs/interpret/81bp-cnn-logo-10.png
ls docs/interpret
