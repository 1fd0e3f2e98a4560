#!/usr/bin/env bash
# Sets everything up (idempotent), then runs the main job on the bundled data (Debian packages
# cct-examples: E. coli K-12 GenBank; ragout-examples: 16 bacterial genomes), the whole ULMFiT path:
#   token corpora -> AWD-LSTM pretraining on E. coli (non-overlapping 3-mers, ~2 min) -> promoter
#   classifier from it and its naive baseline (same shape, tokenization and epochs) on the CDS-start
#   task derived from the GenBank annotation, on 3 random splits -> test-set report saying what
#   pretraining gained, with ROC, PR, confusion-matrix and training-curve plots -> genome-wide scan.
# See README.md for its time; a pretrained out/lm-ecoli is reused (delete it to train again).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
G=target/release/genolm

echo; echo "== Token corpora: E. coli K-12 (GenBank; 3-mers stride 3), 16 bacterial genomes (FASTA; 5-mers stride 2) =="
$G corpus build --config configs/corpus-ecoli-codon.toml --force
$G corpus stats out/corpus-ecoli-codon
$G corpus build --config configs/corpus-bacteria.toml --force
$G corpus stats out/corpus-bacteria
$G tokenize --tokenizer out/corpus-ecoli-codon --seq ATGAAACGCATTAGCACCACCATTACCACC --kmers

echo; echo "== ULMFiT on the E. coli CDS-start promoter task (scripts/reproduce.sh ecoli-cds-promoters) =="
scripts/reproduce.sh ecoli-cds-promoters
$G lm eval --model out/lm-ecoli --corpus out/corpus-ecoli-codon --split valid

echo; echo "== The same classifiers on two more random splits (scripts/split-spread.sh), then the report =="
rm -rf out/split-spread-ecoli-cds-promoters
scripts/split-spread.sh --no-finetune ecoli-cds-promoters out/lm-ecoli 1 2
scripts/report.py ecoli-cds-promoters

echo; echo "== genolm predict: three windows of each class from the task table (ids name the truth), both strands averaged =="
awk -F'\t' 'NR > 1 && seen[$2]++ < 3 {print ">" $3 "\n" $1}' out/dataset-ecoli-cds-promoters.tsv > out/demo-query.fa
$G predict --model out/clf-ecoli-cds-promoters --fasta out/demo-query.fa --out out/demo-predictions.tsv --rc-average
column -t out/demo-predictions.tsv

echo; echo "== genolm scan: the CDS-start classifier along the whole E. coli genome, both strands (circular) =="
scripts/reproduce-scan.sh ecoli-cds
echo "recall of CDS starts (a call within 100 bp on the same strand):"
python3 -c "import json; t = json.load(open('out/scan-ecoli-cds/scan.summary.json'))['truth']; print(f\"  {t['sites_found']} of {t['sites']} CDS starts ({t['recall']:.3f}); precision {t['precision']:.3f} of {t['calls']} calls; per-window AUPRC {t['window_auprc']:.3f} (random: {t['window_auprc_baseline']:.3f})\")"

echo
echo "Corpora:        out/corpus-ecoli-codon, out/corpus-bacteria (tokens.bin, documents.bin, tokenizer.json, corpus.toml)"
echo "Language model: out/lm-ecoli (pretrained; training.png)"
echo "Classifiers:    out/clf-ecoli-cds-promoters (from the LM), out/clf-ecoli-cds-promoters-naive"
echo "                test_metrics.json, roc.png, pr.png, confusion.png, training.png in each"
echo "Report:         out/report-ecoli-cds-promoters.md (3 splits: out/split-spread-ecoli-cds-promoters/summary.tsv)"
echo "Scan:           out/scan-ecoli-cds/scan.promoter.{plus,minus,max}.{bedGraph,bw}, scan.promoter.calls.bed, scan.summary.json,"
echo "                track-800-840kb.png (scores, calls, CDS starts and genes), scan.summit-distance.png"
