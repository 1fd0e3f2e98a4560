#!/usr/bin/env bash
# Genome scans on real data, the figures in BENCHMARKS.md ("Scanning genomes"):
#   ecoli-81bp-heldout  the 81 bp sigma70 promoter classifier (CNNPromoterData) trained WITHOUT the
#                       sequences inside NC_000913.3:780,001-860,000, scanned along that stretch (both
#                       strands, window 81, step 3) against RegulonDB's TSSs; plot of 800-840 kb.
#   ecoli-cds           the demo's CDS-start classifier (scripts/reproduce.sh ecoli-cds-promoters)
#                       along the whole bundled E. coli genome, both strands, against the CDS starts.
#   human-chr20         a chr20 promoter classifier along human chr20 (63 Mbp bgzf, or REGION of it),
#                       both strands, against RefSeq TSSs (see the case for CLF and REGION).
# Usage: scripts/reproduce-scan.sh NAME      (reads ../shared/data except ecoli-cds)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
G=target/release/genolm
DATA=../shared/data
ECOLI_FA=$DATA/ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna
ECOLI_GB=$DATA/ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.gbff.gz
REGULONDB=$DATA/regulondb_ecoli/RegulonDB13_PromoterSet.tsv

case "${1:-}" in
ecoli-81bp-heldout)
  O=out/scan-81bp-heldout
  .venv/bin/python scripts/heldout_81bp.py $DATA/CNNPromoterData $ECOLI_FA 780001 860000 $O
  CLF=out/clf-ecoli-promoters-81bp-heldout-naive
  [ -s $CLF/model.safetensors ] || $G classify train --config configs/ecoli-promoters-81bp-heldout-naive.toml
  $G scan --model $CLF --genome $ECOLI_FA --region NC_000913.3:780001-860000 --strand both --step 3 \
    --merge-gap 20 --min-length 20 --truth $REGULONDB --truth-distance 50 --out $O/scan
  $G plot track --bigwig $O/scan.promoter.plus.bw $O/scan.promoter.minus.bw --calls $O/scan.promoter.calls.bed \
    --truth $REGULONDB --genes $ECOLI_GB --region NC_000913.3:800001-840000 --out $O/track-800-840kb.png \
    --title "81 bp promoter classifier (trained without 780-860 kb) along NC_000913.3:800-840 kb"
  ;;
ecoli-cds)
  O=out/scan-ecoli-cds
  GB=.cache/corpora/ecoli-k12-genbank/NC_000913.gbk.gz
  [ -s out/clf-ecoli-cds-promoters/model.safetensors ] || scripts/reproduce.sh ecoli-cds-promoters
  mkdir -p $O
  $G dataset sites --genbank $GB --out $O/cds-starts.bed
  $G scan --model out/clf-ecoli-cds-promoters --genome $GB --strand both --circular \
    --merge-gap 50 --min-length 20 --truth $O/cds-starts.bed --truth-distance 100 --out $O/scan
  $G plot track --bigwig $O/scan.promoter.plus.bw $O/scan.promoter.minus.bw --calls $O/scan.promoter.calls.bed \
    --truth $O/cds-starts.bed --genes $GB --region NC_000913:800001-840000 --out $O/track-800-840kb.png \
    --title "CDS-start classifier (demo) along E. coli K-12, 800-840 kb"
  ;;
human-chr20)
  # CLF: the classifier (default: the naive chr20 promoter classifier, which needs no LM; set
  # CLF=out/clf-human-chr20-promoters after scripts/reproduce.sh human-chr20-promoters for the ULMFiT
  # one). REGION: a part of chr20 (e.g. REGION=20:30000001-40000000) instead of all 63 Mbp.
  O=out/scan-human-chr20
  CLF=${CLF:-out/clf-human-chr20-promoters-naive}
  if [ ! -s $CLF/model.safetensors ]; then
    if [ "$CLF" = out/clf-human-chr20-promoters-naive ]; then
      $G classify train --config configs/human-chr20-promoters-naive.toml
    else
      scripts/reproduce.sh human-chr20-promoters
    fi
  fi
  mkdir -p $O
  # RefSeq TSSs (hg19, the same coordinates as GRCh37) on chr20, named as the genome names it.
  zcat $DATA/human_grch37_chr20/annotation_hg19_chromhmm/RefSeqTSS.hg19.bed.gz \
    | awk -F'\t' -v OFS='\t' '$1 == "chr20" {$1 = "20"; print}' > $O/refseq-tss-chr20.bed
  /usr/bin/time -v $G scan --model $CLF --genome $DATA/human_grch37_chr20/20.fa.gz --strand both \
    ${REGION:+--region $REGION} --merge-gap 100 --min-length 50 --truth $O/refseq-tss-chr20.bed \
    --truth-distance 500 --out $O/scan 2> >(tee $O/time.log >&2)
  ;;
*)
  echo "usage: scripts/reproduce-scan.sh ecoli-81bp-heldout | ecoli-cds | human-chr20" >&2
  exit 2
  ;;
esac
