#!/usr/bin/env bash
# Held-out figures of a base model (docs/base-models.md): the copy test on 100 passages per source
# and bits/byte of every held-out file of the fixed corpus split.
# Usage: scripts/base-model-figures.sh MODEL [OUT_DIR]   (MODEL: a built-in name or a model file)
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"
out="${2:-/tmp/base-model-figures}"
mkdir -p "$out/split"
dotnet run --project bench/Terse.Benchmarks -c Release -- corpus-split "$out/split" > /dev/null
name="$(basename "$model" .bin)"
./terse lm copy-test -m "$model" --passages 100 --json > "$out/$name.copy.json"
for file in "$out"/split/*.heldout.txt; do
  source="$(basename "$file" .heldout.txt)"
  printf '{"source":"%s","eval":%s}\n' "$source" "$(./terse lm eval -m "$model" "$file" --json)"
done > "$out/$name.lm.jsonl"
echo "wrote $out/$name.copy.json and $out/$name.lm.jsonl"
