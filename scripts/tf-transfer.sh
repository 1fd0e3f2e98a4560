#!/usr/bin/env bash
# Multi-task -> single-task transfer for TF binding (Novakovsky et al., issue #21, BENCHMARKS.md):
#   1. `genolm dataset tf-sites` on RegulonDB's E. coli TF-RISet (200 bp windows, GC-matched
#      background);
#   2. the Basset-TF CNN trained multi-label on the TFs with >= 40 windows, less the held-out ones;
#   3. `cnn compare` on each held-out TF's single-task table: from scratch (self, 3e-3) against
#      fine-tuning every layer from the multi-task CNN with a fresh output layer (ft, 3e-4) and
#      against the conv blocks frozen (tl, 3e-3); 5 repetitions (balanced, 20 % test split);
#      the gain over self plotted against the TF's number of windows.
# Held out: 6 TFs with many windows (50-510; removed from the multi-task labels) and every third
# TF with 10-39 windows (never multi-task labels). No window of a held-out TF's table (its
# positives and its negatives) is in the multi-task data: pretraining never sees a sequence the
# single-task runs are tested on (80 % of the held-out positives are other TFs' sites, and the
# negatives come from the same background, so without this the gain is inflated; BENCHMARKS.md).
# Steps whose output exists are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
D=${SHARED_DATA:-../shared/data}
bin=target/release/genolm
out=out/tf-transfer
mkdir -p $out
[ -s out/tf-sites/tfs.tsv ] ||
  $bin dataset tf-sites --sites "$D/regulondb_ecoli/RegulonDB13_TF-RISet.tsv.gz" \
    --genome "$D/ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna" --out out/tf-sites
large="Fis NarL OmpR ArgR LexA NagC"
small=$(awk -F'\t' 'NR > 1 && $2 >= 10 && $2 < 40 { if (n++ % 3 == 0) print $1 }' out/tf-sites/tfs.tsv)
heldout="$large $small"
# The multi-task labels: every TF of multi-label.tsv but the held-out ones.
labels=$(awk -F'\t' -v held=" $large " 'NR > 1 && $3 == "yes" && index(held, " " $1 " ") == 0 {
  printf "%s\"%s\"", (n++ ? ", " : ""), $1 }' out/tf-sites/tfs.tsv)
tables=()
for tf in $heldout; do tables+=("out/tf-sites/single-task/$tf.tsv"); done
[ -s $out/pretrain.tsv ] ||
  awk -F'\t' 'FNR == 1 { file++ } file < ARGC - 1 { if (FNR > 1) held[$1] = 1; next }
    FNR == 1 || !($1 in held)' "${tables[@]}" out/tf-sites/multi-label.tsv > $out/pretrain.tsv.tmp &&
  mv $out/pretrain.tsv.tmp $out/pretrain.tsv
[ -s $out/multi/model.safetensors ] ||
  $bin cnn train --config configs/cnn-basset-tf.toml --out $out/multi --set "classes=[$labels]" \
    --set "data.path=\"$out/pretrain.tsv\""
[ -s $out/compare/gain.tsv ] ||
  $bin cnn compare --pretrained $out/multi --data "${tables[@]}" --methods self ft tl \
    --frac-trains 1 --nrep 5 --epochs 30 --patience 5 --lr 3e-3 --ft-lr 3e-4 \
    --freeze-through conv3 --batch-size 100 --out $out/compare
cat $out/compare/gain.tsv
