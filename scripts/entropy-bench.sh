#!/usr/bin/env bash
# Entropy-coding results and speed (docs/results.md and docs/benchmarks.md, "Entropy coding"):
# installs the reference compressors (Debian packages), then runs the comparison commands.
#   scripts/entropy-bench.sh            # both tables, first 100 KB of each text (speed: first 50 KB)
#   scripts/entropy-bench.sh table 20   # one table, first 20 KB
#   scripts/entropy-bench.sh speed 50 terse1M   # compress/decompress tokens/s on 1 and 2 cores (model: stories260K unless given)
#   scripts/entropy-bench.sh roundtrip   # every shared text, both models, round trips checked
#   scripts/entropy-bench.sh context 100 [text/FILE] # chunk size and sliding-window carry against size and work
#   scripts/entropy-bench.sh overhead 50 # coded size against the model's exact −log2 p
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in xz:xz-utils zstd:zstd brotli:brotli bzip2:bzip2; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
dotnet build bench/Terse.Benchmarks -c Release -nologo -v quiet >&2
run() { dotnet bench/Terse.Benchmarks/bin/Release/net10.0/Terse.Benchmarks.dll entropy "$@"; }
what="${1:-all}"
case "$what" in
  table) run table --kb "${2:-100}" ;;
  speed) run speed --kb "${2:-50}" ${3:+--model "$3"} ;;
  overhead) run overhead --kb "${2:-50}" ;;
  roundtrip) run roundtrip --kb "${2:-100}" ;;
  context) run context --kb "${2:-100}" ${3:+--file "$3"} ;;
  all)   run table --kb 100; echo; run speed --kb 50 ;;
  *) echo "usage: $0 [table|speed|overhead|roundtrip|context|all] [KB]" >&2; exit 2 ;;
esac
