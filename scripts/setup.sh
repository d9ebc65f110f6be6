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

# System packages from Debian's archive: OpenCV and what the `opencv` crate's build needs (libclang, pkg-config);
# the ssh client and server the ssh target and its test use; for a foreign target its C and C++ cross compilers
# (the linker, tract's assembly kernels, OpenCV's glue), qemu-user, and the target's OpenCV through Debian
# multiarch (only the modules the backend links: `libopencv-dev:arm64` conflicts with the host's).
system_packages=(libopencv-dev clang libclang-dev pkg-config openssh-client openssh-server)
foreign_architectures=()
for target in "${targets[@]}"; do
  case "$target" in
    "$(uname -m)-unknown-linux-gnu") ;;
    aarch64-unknown-linux-gnu)
      foreign_architectures+=(arm64)
      system_packages+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user
        libopencv-dnn-dev:arm64 libopencv-imgproc-dev:arm64) ;;
    *) say "no cross set-up is known for $target"; exit 2 ;;
  esac
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
for architecture in "${foreign_architectures[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -qx "$architecture"; then
    say "adding the package architecture $architecture (Debian multiarch)"
    $sudo dpkg --add-architecture "$architecture"
  fi
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
  say "installing ${missing[*]} from the distribution's archive"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# sshd refuses to start without its privilege-separation folder, which the package's service start would make.
[ -d /run/sshd ] || $sudo install -d -m 0755 /run/sshd

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
