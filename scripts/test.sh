#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs prerequisites, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
scripts/reference-prereqs.sh
dotnet build Terse.slnx -c Release -nologo -v quiet
dotnet test Terse.slnx -c Release --no-build -nologo --logger "console;verbosity=normal" "$@"
