#!/usr/bin/env bash
# Regenerates assets/tokenizers/*.ranks.br (the built-in tiktoken vocabularies embedded in the library)
# from the .tiktoken rank files.  Usage: scripts/build-tokenizer-assets.sh [SOURCE_DIR]
# SOURCE_DIR defaults to ../shared/data/tokenizers (rank files converted from npm tiktoken 1.0.22).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source_dir="${1:-$root/../shared/data/tokenizers}"
dotnet run --project "$root/bench/Terse.Benchmarks" -c Release -- tokenizer-assets "$source_dir" "$root/assets/tokenizers"
