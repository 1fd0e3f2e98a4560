#!/usr/bin/env bash
# Fuzzes every parser of user files with genolm::fuzz, a stable-toolchain mutation fuzzer: seeds
# built in plus tests/fuzz/<target>/*, 1-4 random edits per input, a panic is a crash and an input
# over the timeout a hang (both saved to tests/fuzz/crashes/; turn each into a regression test
# under tests/fuzz/regressions/). Outside the test suite.
#   examples/fuzz.rs (data crate): FASTA, GenBank sequence and features, BED, region strings, VCF,
#     MEME, corpus TOML, tokenizer.json, whole corpus directories;
#   torch/examples/fuzz_models.rs: pretraining, classifier and CNN TOML configs, whole model
#     directories (ULMFiT classifier, CNN, language model).
# 1,000,000 inputs per target take about 40 min in all.
# Usage: scripts/fuzz.sh [INPUTS_PER_TARGET] [--target NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
N=${1:-1000000}
shift || true
cargo build --release --example fuzz -p genolm --example fuzz_models -p genolm-torch
status=0
target/release/examples/fuzz --inputs "$N" "$@" || status=$?
target/release/examples/fuzz_models --inputs "$N" "$@" || status=$?
exit $status
