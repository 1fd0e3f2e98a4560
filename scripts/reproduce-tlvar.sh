#!/usr/bin/env bash
# TLVar's transfer learning, both bases, on a clean checkout (BENCHMARKS.md, issue #20):
#   1. HGMD base: windows of HGMD.bed's chr20 variants (1001 bp), TLVar's CNN trained on them;
#   2. generic base: 1001 bp windows centred on chr20's RefSeq TSSs, CpG islands and exons against
#      GC-matched intergenic windows (touching no such element nor a RefSeq gene body), the same CNN
#      with BatchNorm and a global max pool (configs/cnn-tlvar-generic.toml);
#   3. `cnn compare` of each base on CAGI_train.h5 (base, self, tl, tl0 at fractions 0.1, 0.3, 1;
#      5 repetitions). Steps whose output exists are reused; delete it to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
D=${SHARED_DATA:-../shared/data}
G=$D/human_grch37_chr20/20.fa.gz
A=$D/human_grch37_chr20/annotation_hg19_chromhmm
bin=target/release/genolm
mkdir -p out/tlvar
[ -s out/tlvar/hgmd-chr20.tsv ] ||
  $bin variants windows --variants "$D/TLVar/HGMD.bed" --genome "$G" --flank 500 --out out/tlvar/hgmd-chr20
[ -s out/cnn-tlvar-hgmd-chr20/model.safetensors ] ||
  $bin cnn train --config configs/cnn-tlvar.toml
if [ ! -d out/tlvar/generic-chr20 ]; then
  for f in RefSeqTSS CpGIsland RefSeqExon; do
    zcat "$A/$f.hg19.bed.gz" | awk -v OFS='\t' '$1 == "chr20" { print $1, $2, $3, "functional" }'
  done > out/tlvar/chr20-functional.bed
  $bin dataset tf-sites --sites out/tlvar/chr20-functional.bed --genome "$G" --length 1001 \
    --exclude "$A/RefSeqGene.hg19.bed.gz" --out out/tlvar/generic-chr20
fi
# TLVar's network as published stays at chance on this base (BENCHMARKS.md); its variant with
# BatchNorm and a global max pool over the window learns it.
[ -s out/cnn-tlvar-generic-chr20/model.safetensors ] ||
  $bin cnn train --config configs/cnn-tlvar-generic.toml
for base in hgmd generic; do
  [ -s out/tlvar/compare-$base-chr20/compare.tsv ] ||
    $bin cnn compare --pretrained out/cnn-tlvar-$base-chr20 --data "$D/TLVar/CAGI_train.h5" \
      --methods base self tl tl0 --frac-trains 0.1 0.3 1 --nrep 5 --freeze-through conv2 \
      --out out/tlvar/compare-$base-chr20
done
cat out/tlvar/compare-*-chr20/wilcoxon.tsv
