#!/usr/bin/env bash
# The whole test suite, set-up included. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The set-up for this machine and for aarch64 boards, then the aarch64 bundle, which the target tests run
# under qemu-user.
scripts/setup.sh --target aarch64-unknown-linux-gnu
scripts/bundle.sh --target aarch64-unknown-linux-gnu
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --features fault-injection 2>&1 | tee "$log"
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
