#!/usr/bin/env bash
# The project's one set-up step: everything the build, the tests and the default scenario need on a fresh
# machine. Idempotent: whatever is already in place is left alone. New engines extend this file and
# scripts/runtimes.toml, not a script of their own.
#
#   scripts/setup.sh                                  for this machine
#   scripts/setup.sh --target aarch64-unknown-linux-gnu   runtime libraries for a board as well
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

targets=("$(uname -m)-unknown-linux-gnu")
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=("$2"); shift 2 ;;
    *) say "unknown argument $1"; exit 2 ;;
  esac
done

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install the Rust toolchain (rustup) first"
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  say "python3 (3.11 or newer, with pip) is needed to fetch runtime libraries from PyPI"
  exit 1
fi

# Native runtime libraries from pinned PyPI wheels (ONNX Runtime, ...), checked by sha256.
for target in "${targets[@]}"; do
  python3 scripts/fetch_runtimes.py "$target"
done

say "ready"
