#!/usr/bin/env bash
# Runs a whole reproduction chain on a clean checkout: setup, corpus, language model, LM fine-tuning on
# the task's training sequences, the classifier from the fine-tuned LM and its naive baseline. Test
# metrics land in out/clf-NAME*/test_metrics.json (with plots), timings on stdout.
# Usage: scripts/reproduce.sh NAME [--paper-lm | --bacteria-lm | --bidirectional]
#   NAME: primer-motif | ecoli-promoters-81bp | ecoli-cds-promoters | arabidopsis-lncrna | human-chr20-promoters
#   --paper-lm (E. coli tasks): Genomic-ULMFiT's model size for the LM (configs/lm-ecoli-paper-cpu.toml
#     then configs/lm-ecoli-paper-cpu-long.toml, ~2 h of pretraining on 2 cores) and the naive baseline,
#     bf16; results in out/clf-NAME-paper*.
#   --bacteria-lm (E. coli tasks): that paper-size E. coli LM, then ~95 min more on the 16 bacterial
#     genomes (configs/lm-bacteria-paper-cpu-warm.toml), fine-tuned 4 epochs; out/clf-NAME-bact (no
#     naive baseline: it is --paper-lm's).
#   --bidirectional (E. coli tasks): ULMFiT's forward + backward pair: --paper-lm's E. coli LM and its
#     backward twin (configs/lm-ecoli-paper-bwd-cpu.toml, 72 min), each fine-tuned 4 epochs, a
#     classifier from each (out/clf-NAME-fwd, out/clf-NAME-bwd) and their average on the test split
#     (out/clf-NAME-bidir.json, .tsv); no naive baseline (--paper-lm's).
# Steps already done (a corpus or pretrained LM in out/) are reused; delete them to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
names="primer-motif ecoli-promoters-81bp ecoli-cds-promoters arabidopsis-lncrna human-chr20-promoters"
name=${1:-}
usage="usage: scripts/reproduce.sh ${names// / | } [--paper-lm | --bacteria-lm | --bidirectional]"
[[ " $names " == *" $name "* && -n $name ]] || { echo "$usage" >&2; exit 2; }
# The paper-size variant: its own LM, output dirs with this suffix and these classifier settings.
suffix="" clf_sets=() ft_steps=(--set train.epochs=10 --set train.max_steps=500)
case "${2:-}" in
  "") ;;
  --paper-lm | --bacteria-lm | --bidirectional)
    [[ $name == ecoli-* ]] || { echo "$2: only for the E. coli tasks" >&2; exit 2; }
    suffix=-paper
    clf_sets=(--set train.precision=auto)
    if [ "$2" != --paper-lm ]; then
      suffix=-bact
      [ "$2" = --bidirectional ] && suffix=-fwd
      # Where the task-validation LM loss bottoms out (longer fine-tuning overfits these sets).
      ft_steps=(--set train.epochs=4 --set train.max_steps=215)
    fi ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
scripts/setup.sh
source scripts/ulmfit-settings.sh
G=target/release/genolm

timed() {
  local start=$SECONDS
  "$@"
  echo "  ($((SECONDS - start)) s: ${*:1:3})"
}

# pretrained CORPUS_CONFIG LM_CONFIG LM_DIR: the corpus and pretrained LM, unless already there
# (an LM dir pretrained with other settings than LM_CONFIG's, e.g. by an older version of the
# config, is trained again).
pretrained() {
  local corpus_dir
  corpus_dir=$(sed -n 's/^dir = "\(.*\)"/\1/p' "configs/$1.toml")
  [ -f "$corpus_dir/corpus.toml" ] || timed $G corpus build --config "configs/$1.toml" --force
  if [ -f "$3/model.safetensors" ] && ! lm_matches "configs/$2.toml" "$3"; then
    echo "$3 was pretrained with other settings than configs/$2.toml: training it again"
    rm -rf "$3"
  fi
  if [ ! -f "$3/model.safetensors" ]; then
    rm -rf "$3"
    timed $G pretrain --config "configs/$2.toml"
  fi
}

# lm_matches LM_CONFIG LM_DIR: every value LM_CONFIG sets is the one LM_DIR recorded (precision and
# device are recorded as resolved, so "auto" matches anything).
lm_matches() {
  python3 - "$1" "$2/config.json" <<'PY'
import json, sys, tomllib
want = tomllib.load(open(sys.argv[1], "rb"))
have = json.load(open(sys.argv[2])).get("pretrain", {})
def same(w, h):
    if isinstance(w, dict):
        return isinstance(h, dict) and all(k in ("precision", "device", "threads") or same(v, h.get(k)) for k, v in w.items())
    if isinstance(w, list):
        w = list(w)
        return isinstance(h, list) and len(w) == len(h) and all(same(a, b) for a, b in zip(w, h))
    return w == h
sys.exit(0 if same(want, have) else 1)
PY
}

# finetuned TASK PRETRAINED_DIR: ULMFiT's second step, on the task's train+valid sequences
# (out/lm-TASK, plus the variant's suffix).
finetuned() {
  rm -rf "out/lm-$1$suffix"
  timed $G finetune-lm --model "$2" --task "configs/$1.toml" --out "out/lm-$1$suffix" --quiet \
    "${ft_steps[@]}" "${FINETUNE_SETS[@]}"
}

# classifier CONFIG_NAME [--set ...]: trains into out/clf-TASK[-paper][-naive].
classifier() {
  local config=$1 out
  shift
  out="out/clf-$name$suffix${config#"$name"}"
  rm -rf "$out"
  timed $G classify train --config "configs/$config.toml" --out "$out" "${clf_sets[@]}" "$@"
}

# ecoli_lm: the E. coli LM of this run in $LM: the CPU config, or the paper-size one (--paper-lm),
# or that one continued on the bacterial genomes (--bacteria-lm).
ecoli_lm() {
  if [ -n "$suffix" ]; then
    pretrained corpus-ecoli lm-ecoli-paper-cpu out/lm-ecoli-paper
    LM=out/lm-ecoli-paper-long # a second one-cycle from it
    pretrained corpus-ecoli lm-ecoli-paper-cpu-long "$LM"
  fi
  if [ "$suffix" = -bact ]; then
    # The bacterial corpus in the E. coli LM's vocabulary, so that its weights carry over.
    [ -f out/corpus-bacteria-ecoli-vocab/corpus.toml ] ||
      timed $G corpus build --config configs/corpus-bacteria.toml --tokenizer "$LM" \
        --out out/corpus-bacteria-ecoli-vocab --force
    LM=out/lm-bacteria-paper-warm
    if [ ! -f "$LM/model.safetensors" ]; then
      rm -rf "$LM"
      timed $G pretrain --config configs/lm-bacteria-paper-cpu-warm.toml
    fi
  elif [ -z "$suffix" ]; then
    LM=out/lm-ecoli
    pretrained corpus-ecoli-codon lm-ecoli-cpu "$LM"
  fi
}

case "$name" in
  primer-motif)
    classifier primer-motif ;;
  ecoli-promoters-81bp)
    ecoli_lm
    finetuned ecoli-promoters-81bp "$LM" ;;
  ecoli-cds-promoters)
    ecoli_lm
    timed $G dataset promoters --genbank .cache/corpora/ecoli-k12-genbank/NC_000913.gbk.gz \
      --out out/dataset-ecoli-cds-promoters.tsv
    # The demo's small LM goes straight to the classifier (its config's lm): the task's windows
    # are part of the genome it read, and fine-tuning on them measured neutral (BENCHMARKS.md).
    [ -z "$suffix" ] || finetuned ecoli-cds-promoters "$LM" ;;
  arabidopsis-lncrna)
    pretrained corpus-arabidopsis-chr1 lm-arabidopsis-cpu out/lm-arabidopsis
    finetuned arabidopsis-lncrna out/lm-arabidopsis ;;
  human-chr20-promoters)
    pretrained corpus-human-chr20 lm-human-chr20-cpu out/lm-human-chr20
    finetuned human-chr20-promoters out/lm-human-chr20 ;;
esac
# The paper-size CDS-start runs in BENCHMARKS.md trained 12 epochs (ULMFiT's four stages; the naive
# one all groups at 5e-3), before the demo's config went to five.
paper_stages=() paper_naive_stages=()
if [ -n "$suffix" ] && [ "$name" = ecoli-cds-promoters ]; then
  paper_stages=(--set 'train.stages=[{unfreeze=1,epochs=2,lr=2e-2},{unfreeze=2,epochs=2,lr=1e-2},{unfreeze=3,epochs=2,lr=5e-3},{unfreeze=0,epochs=6,lr=1e-3}]')
  paper_naive_stages=(--set 'train.stages=[{unfreeze=0,epochs=12,lr=5e-3}]')
fi
if [ "$name" != primer-motif ]; then
  classifier "$name" ${suffix:+--set "lm=out/lm-$name$suffix"} "${paper_stages[@]}"
  # The naive baseline at the LM's shape and tokenization.
  [[ $suffix == -bact || $suffix == -fwd ]] ||
    classifier "$name-naive" ${suffix:+--set model.emb_size=400 --set model.hidden_size=1150 --set model.n_layers=3 \
      --set k=5 --set stride=2} "${paper_naive_stages[@]}"
fi
scripts/report.py "$name$suffix"
if [ "$suffix" = -fwd ]; then
  # The backward twin of the same chain, then the mean of both classifiers on the test split.
  pretrained corpus-ecoli lm-ecoli-paper-bwd-cpu out/lm-ecoli-paper-bwd
  suffix=-bwd
  finetuned "$name" out/lm-ecoli-paper-bwd
  classifier "$name" --set "lm=out/lm-$name-bwd"
  scripts/report.py "$name-bwd"
  $G classify eval --model "out/clf-$name-fwd" --model "out/clf-$name-bwd" --split test --json \
    --out "out/clf-$name-bidir.tsv" | tee "out/clf-$name-bidir.json"
fi
