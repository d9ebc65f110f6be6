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

# System packages from Debian's archive: OpenCV and what the `opencv` crate's build needs (libclang, pkg-config),
# and for a foreign target its C cross compiler (the linker, and tract's assembly kernels) and qemu-user.
system_packages=(libopencv-dev clang libclang-dev pkg-config)
for target in "${targets[@]}"; do
  case "$target" in
    "$(uname -m)-unknown-linux-gnu") ;;
    aarch64-unknown-linux-gnu) system_packages+=(gcc-aarch64-linux-gnu qemu-user) ;;
    *) say "no cross set-up is known for $target"; exit 2 ;;
  esac
done
missing=()
for package in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing system packages: ${missing[*]}; this script installs them with apt-get (Debian, Ubuntu); install them with your distribution's tools"
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing ${missing[*]} from the distribution's archive"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Native runtime libraries from pinned PyPI wheels (ONNX Runtime, ...), checked by sha256; Rust's standard
# library for each foreign target.
for target in "${targets[@]}"; do
  python3 scripts/fetch_runtimes.py "$target"
  if ! rustup target list --installed | grep -qx "$target"; then
    say "adding the Rust target $target"
    rustup target add "$target" >/dev/null
  fi
done

say "ready"
