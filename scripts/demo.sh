#!/usr/bin/env bash
# Sets everything up (idempotent), then runs the main job on the bundled data: token corpora from the
# E. coli K-12 GenBank (Debian cct-examples) and 16 bacterial genomes (Debian ragout-examples).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
G=target/release/genolm

echo; echo "== E. coli K-12 MG1655 corpus (GenBank, k=5 stride 2) =="
$G corpus build --config configs/corpus-ecoli.toml --force
$G corpus stats out/corpus-ecoli

echo; echo "== Multi-genome bacterial corpus (16 genomes, 4 species) =="
$G corpus build --config configs/corpus-bacteria.toml --force
$G corpus stats out/corpus-bacteria

echo; echo "== Tokenizing a sequence with the E. coli vocabulary =="
$G tokenize --tokenizer out/corpus-ecoli --seq ATGAAACGCATTAGCACCACCATTACCACC --kmers

echo; echo "== Pretraining the E. coli AWD-LSTM language model (configs/lm-ecoli-cpu.toml, ~6 min on 2 cores) =="
if [ -f out/lm-ecoli/model.safetensors ]; then
  echo "out/lm-ecoli already holds a trained model (delete it to train again)"
else
  rm -rf out/lm-ecoli
  $G pretrain --config configs/lm-ecoli-cpu.toml
fi
$G lm eval --model out/lm-ecoli --corpus out/corpus-ecoli --split valid

echo
echo "Corpora: out/corpus-ecoli, out/corpus-bacteria (tokens.bin, documents.bin, tokenizer.json, corpus.toml)"
echo "Language model: out/lm-ecoli (model.safetensors, config.toml, metrics.jsonl, training.png)"
