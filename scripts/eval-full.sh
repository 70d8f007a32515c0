#!/usr/bin/env bash
# Every table and plot of docs/results.md § Evaluation from a fresh clone, in one command: the fixed
# splits, the trained compressors the harness compares (GMSA, memory tokens, KEFT, Z-tokens; each
# skipped when OUT already holds it), then `terse eval --suite full` (which tunes its readers) and
# the plots. One thread throughout, as the documented runs: training sums in the matrix backend's
# order, so another thread count (or CPU) can end with slightly different weights.
# Usage: scripts/eval-full.sh [OUT]   (default /tmp/terse-eval; results in OUT/eval, plots OUT/eval/full.TASK.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/terse-eval}"
mkdir -p "$out"
dotnet run --project bench/Terse.Benchmarks -c Release -- corpus-split "$out/split" > /dev/null
train=()
for source in tinystories_valid_head wikitext2_raw_test cnndm_test100 hotpotqa_dev_subsampled500 flashrag_wiki_passages_sample; do
  train+=("$out/split/$source.train.txt")
done
[ -f "$out/gmsa/gmsa.json" ] || ./terse gmsa train "${train[@]}" -o "$out/gmsa" --steps 2000 --threads 1
[ -f "$out/memory/gmsa.json" ] || ./terse gmsa train "${train[@]}" -o "$out/memory" --merge memory --lsa-layers 0 --steps 2000 --threads 1
[ -f "$out/gmsa-keft/gmsa.json" ] || ./terse gmsa keft "$out/gmsa" "${train[@]}" -o "$out/gmsa-keft" --steps 1000 --threads 1
[ -f "$out/ztokens/ztokens.json" ] || ./terse ztokens train "$out/split/tinystories_valid_head.train.txt" -o "$out/ztokens" --steps 2000 --seed 1 --threads 1
./terse eval --suite full --gmsa "$out/gmsa" --gmsa "$out/memory" --gmsa "$out/gmsa-keft" --ztokens "$out/ztokens" --threads 1 -o "$out/eval"
dotnet run --project bench/Terse.Benchmarks -c Release -- plot-eval "$out/eval/results.json" "$out/eval/full"
