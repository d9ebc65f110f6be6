#!/usr/bin/env bash
# The whole test suite, set-up included. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The set-up for this machine, for aarch64 boards and for the tests, then the aarch64 bundle, which the
# target tests run under qemu-user. The bundle is built in a target folder of its own, as a user's
# CARGO_TARGET_DIR would put it: the scripts must find what cargo built wherever it went.
scripts/setup.sh --tests --target aarch64-unknown-linux-gnu
CARGO_TARGET_DIR="$PWD/target/bundle" scripts/bundle.sh --target aarch64-unknown-linux-gnu
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --features fault-injection 2>&1 | tee "$log"
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
