#!/usr/bin/env bash
# Which built-in model codes held-out text smaller with `-m entropy` (docs/results.md, "The default
# model"): the first 100,000 bytes (cut back to a character boundary) of every held-out file of the
# fixed corpus split, coded with each model and with brotli -q 11, xz -9e and bzip2 -9.
# Usage: scripts/entropy-default.sh [OUT_DIR] [MODEL...]   (default models: stories260K terse1M)
# Prints one table row per file: name, bytes, then the size of each model's file, brotli, xz, bzip2.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/entropy-default}"; shift || true
models=("${@:-stories260K terse1M}"); models=(${models[@]})
for tool in brotli xz bzip2; do command -v $tool > /dev/null || { apt-get update -qq && apt-get install -y -qq brotli xz-utils bzip2 > /dev/null; }; done
mkdir -p "$out/split"
dotnet run --project bench/Terse.Benchmarks -c Release -- corpus-split "$out/split" > /dev/null
for file in "$out"/split/*.heldout.txt; do
  name="$(basename "$file" .heldout.txt)"
  python3 -c "import sys; b=open(sys.argv[1],'rb').read()[:100000]; open(sys.argv[2],'wb').write(b.decode('utf-8','ignore').encode())" "$file" "$out/$name.txt"
  row="$name $(stat -c %s "$out/$name.txt")"
  for model in "${models[@]}"; do
    ./terse compress -m entropy --model "$model" "$out/$name.txt" -o "$out/$name.$model.tent" --json > "$out/$name.$model.json"
    row="$row $(stat -c %s "$out/$name.$model.tent")"
  done
  row="$row $(brotli -q 11 -c "$out/$name.txt" | wc -c) $(xz -9e -c "$out/$name.txt" | wc -c) $(bzip2 -9 -c "$out/$name.txt" | wc -c)"
  echo "$row"
done
