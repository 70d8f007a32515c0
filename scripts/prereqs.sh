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

# python3-torch (optional, Debian's PyTorch CPU build): with it the tests re-run
# scripts/hf-reference.py, the float64 reference behind the Hugging Face parity goldens; without it
# they check the committed goldens. Best effort and bounded; TERSE_NO_TORCH=1 skips it.
if [ -z "${TERSE_NO_TORCH:-}" ] && ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=""; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    echo "terse: installing python3-torch for the reference parity check (TERSE_NO_TORCH=1 skips) …" >&2
    export DEBIAN_FRONTEND=noninteractive
    { timeout 900 $SUDO apt-get install -y -qq python3-torch >/dev/null 2>&1 \
      || { timeout 120 $SUDO apt-get update -qq >/dev/null 2>&1 && timeout 900 $SUDO apt-get install -y -qq python3-torch >/dev/null 2>&1; }; } \
      || echo "terse: note: python3-torch did not install; the parity tests use the committed goldens" >&2
  fi
fi
