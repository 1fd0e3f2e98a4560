#!/usr/bin/env bash
# Fuzzes every parser of user files (FASTA, GenBank, BED, region strings, VCF, MEME, corpus TOML,
# tokenizer.json) with examples/fuzz.rs, a stable-toolchain mutation fuzzer: seeds built in plus
# tests/fuzz/<target>/*, 1-4 random edits per input, a panic is a crash and an input over the
# timeout a hang (both saved to tests/fuzz/crashes/; turn each into a regression test under
# tests/fuzz/regressions/). Outside the test suite: 1,000,000 inputs per parser take about 16 min.
# Usage: scripts/fuzz.sh [INPUTS_PER_PARSER] [--target NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
N=${1:-1000000}
shift || true
cargo build --release --example fuzz
exec target/release/examples/fuzz --inputs "$N" "$@"
