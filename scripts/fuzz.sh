#!/usr/bin/env bash
# Coverage-guided fuzzing of one of Terse's parsers with SharpFuzz and AFL++ (docs/fuzzing.md).
#   scripts/fuzz.sh TARGET [SECONDS] [FINDINGS_DIR]      e.g. scripts/fuzz.sh tmtk 600
#   scripts/fuzz.sh list
# Publishes bench/Terse.Fuzz, instruments its copy of Terse.dll for AFL's coverage map, runs afl-fuzz
# from the committed seeds (bench/Terse.Fuzz/corpus/TARGET) for SECONDS (default 600) with a 256 MiB
# managed heap (a larger allocation is an OutOfMemoryException, i.e. a crash) and 5 s per input,
# then prints executions, corpus size, coverage, crashes and hangs, and replays every crash.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [FINDINGS_DIR] (scripts/fuzz.sh list)}"
seconds="${2:-600}"
findings="${3:-${TMPDIR:-/tmp}/terse-fuzz/$target}"
build="${TMPDIR:-/tmp}/terse-fuzz/bin"

if ! command -v afl-fuzz >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "terse: installing afl++ …" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null; }
  else
    echo "terse: afl-fuzz is missing: install the Debian package afl++" >&2
    exit 1
  fi
fi

cd "$root"
dotnet tool restore >/dev/null
rm -rf "$build"
dotnet publish bench/Terse.Fuzz/Terse.Fuzz.csproj -c Release -o "$build" -nologo -v quiet >&2
if [ "$target" = list ]; then exec dotnet "$build/Terse.Fuzz.dll" list; fi
dotnet tool run sharpfuzz "$build/Terse.dll" >&2

rm -rf "$findings"
mkdir -p "$findings"
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export DOTNET_GCHeapHardLimit=0x10000000 DOTNET_TieredPGO=0
afl-fuzz -i "bench/Terse.Fuzz/corpus/$target" -o "$findings" -t 5000 -m none -V "$seconds" -- dotnet "$build/Terse.Fuzz.dll" "$target" >"$findings/afl.log" 2>&1 || {
  echo "terse: afl-fuzz stopped with an error; the end of $findings/afl.log:" >&2
  tail -20 "$findings/afl.log" >&2
  exit 1
}

stats="$findings/default/fuzzer_stats"
value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "$target: $(value execs_done) executions in $(value run_time) s ($(value execs_per_sec)/s), corpus $(value corpus_count), coverage $(value bitmap_cvg) of the map ($(value edges_found) edges), crashes $(value saved_crashes), hangs $(value saved_hangs)"
if compgen -G "$findings/default/crashes/id*" >/dev/null; then
  dotnet "$build/Terse.Fuzz.dll" "$target" --replay "$findings"/default/crashes/id* || true
  exit 1
fi
if compgen -G "$findings/default/hangs/id*" >/dev/null; then exit 1; fi
