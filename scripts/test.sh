#!/usr/bin/env bash
# The whole test suite, set-up included. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked --features fault-injection
