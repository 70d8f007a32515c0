#!/usr/bin/env bash
# Installs what Terse needs beyond the .NET SDK, only when it is missing. Idempotent and quiet.
#   - libopenblas0: the matrix-product backend of the neural engine (a managed fallback exists,
#     but it is slower; the tests exercise both).
set -euo pipefail

if ! command -v dotnet >/dev/null 2>&1; then
  echo "terse: the .NET 10 SDK is required (https://dot.net); 'dotnet' is not on PATH" >&2
  exit 1
fi

if ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=""; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    echo "terse: installing libopenblas0 …" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -qq libopenblas0 >/dev/null 2>&1 \
      || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq libopenblas0 >/dev/null; }
  else
    echo "terse: note: libopenblas0 is not installed and cannot be installed here; using the managed matrix kernels" >&2
  fi
fi

