#!/usr/bin/env bash
# Rebuilds the built-in Z-token model (assets/ztokens/, card: docs/ztokens.md § The shipped model)
# and the figures of its card: the fixed corpus split, 2,000 updates of `ztokens train` on every
# training file (seed 1, one thread), `ztokens eval` on two held-out files, the container table
# (TZTK v1 against v2 against the entropy coder, 50 KB of eight held-out files) and a round trip of
# the first 100,000 bytes of every file in ../shared/data/text.
# Usage: scripts/ztokens-default.sh [OUT_DIR]      then copy OUT_DIR/model (without its checkpoint) to assets/ztokens/
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/ztokens-default}"
mkdir -p "$out/split"
dotnet run --project bench/Terse.Benchmarks -c Release -- corpus-split "$out/split" > /dev/null
./terse ztokens train "$out"/split/*.train.txt -o "$out/model" --steps 2000 --seed 1 --threads 1 --json > "$out/train.json"
for name in tinystories_valid_head wikitext2_raw_test; do
  ./terse ztokens eval "$out/model" "$out/split/$name.heldout.txt" --max-segments 2000 --json > "$out/eval.$name.json"
done
held=()
for name in tinystories_valid_head wikitext2_raw_test cnndm_test100 hotpotqa_dev_subsampled500 qulac loghub_HDFS_2k loghub_OpenSSH_2k humaneval; do
  held+=("$out/split/$name.heldout.txt")
done
dotnet run --project bench/Terse.Benchmarks -c Release -- ztokens-container "$out/model" "${held[@]}" --kb 50 | tee "$out/container.md"
for file in ../shared/data/text/*; do
  head -c 100000 "$file" > "$out/in"
  ./terse compress -m ztokens --ztokens "$out/model" "$out/in" -o "$out/in.tztk" --json > "$out/in.json"
  ./terse decompress --ztokens "$out/model" "$out/in.tztk" -o "$out/out"
  cmp -s "$out/in" "$out/out" && echo "$(basename "$file"): round trip exact, $(stat -c %s "$out/in.tztk") bytes" || { echo "$(basename "$file"): DIFFERENT"; exit 1; }
done
