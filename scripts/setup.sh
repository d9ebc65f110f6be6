#!/usr/bin/env bash
# The project's one set-up step: everything the build, the tests and the default scenario need on a fresh
# machine. Idempotent: whatever is already in place is left alone. Later engines extend this file.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install the Rust toolchain (rustup) first"
  exit 1
fi

say "ready (tract is pure Rust and needs nothing else)"
