#!/usr/bin/env bash
# python3-torch (optional, Debian's PyTorch CPU build) for the test suite only: with it the tests
# re-run scripts/hf-reference.py, the float64 reference behind the Hugging Face parity goldens;
# without it they check the committed goldens. Best effort, at most 5 minutes in all, so that a
# clean CI run stays well inside its budget; TERSE_NO_TORCH=1 skips it. Not part of scripts/prereqs.sh,
# which ./terse runs on first use.
if [ -z "${TERSE_NO_TORCH:-}" ] && ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=""; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    echo "terse: installing python3-torch for the reference parity check (TERSE_NO_TORCH=1 skips) …" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 bash -c "$SUDO apt-get install -y -qq python3-torch >/dev/null 2>&1 || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq python3-torch >/dev/null 2>&1; }" \
      || echo "terse: note: python3-torch did not install; the parity tests use the committed goldens" >&2
  fi
fi
exit 0
