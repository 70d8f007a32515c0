#!/usr/bin/env bash
# Splits tinystories_valid_head.txt into training and held-out text for the GMSA experiments:
# blank-line separated blocks 1..3870 train, the rest (about 10%) held out. One contiguous cut, so
# at most one story straddles it. Usage: scripts/gmsa-split.sh [input] [output folder]
set -euo pipefail
input="${1:-../shared/data/text/tinystories_valid_head.txt}"
out="${2:-/tmp/gmsa}"
mkdir -p "$out"
awk -v RS= -v ORS='\n\n' 'NR <= 3870' "$input" > "$out/train.txt"
awk -v RS= -v ORS='\n\n' 'NR > 3870' "$input" > "$out/heldout.txt"
wc -c "$out/train.txt" "$out/heldout.txt"
