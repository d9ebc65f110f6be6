#!/usr/bin/env bash
# The project's one set-up step: everything the build, the tests and the default scenario need on a fresh
# machine. Idempotent: whatever is already in place is left alone. New engines extend this file and
# scripts/runtimes.toml, not a script of their own.
#
#   scripts/setup.sh                                  what building and running need, for this machine
#   scripts/setup.sh --target aarch64-unknown-linux-gnu   runtime libraries for a board as well
#   scripts/setup.sh --tests                          what the tests need besides (an ssh server)
#   scripts/setup.sh --fidelity                       the engines' own tools the fidelity bench runs
#                                                     (scripts/fidelity.sh)
#   scripts/setup.sh --if-changed ...                 nothing when a set-up with these arguments and these
#                                                     scripts has finished here before (scripts/harness)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

targets=("$(uname -m)-unknown-linux-gnu")
tests=false
fidelity=false
if_changed=false
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets+=("$2"); shift 2 ;;
    --tests) tests=true; shift ;;
    --fidelity) fidelity=true; shift ;;
    --if-changed) if_changed=true; shift ;;
    *) say "unknown argument $1"; exit 2 ;;
  esac
done

# A finished set-up leaves a stamp named by what it depends on: these scripts, the runtime manifest and the
# arguments. Deleting .runtimes/ (or running without --if-changed) makes the next one check everything again.
stamp=".runtimes/setup-$(cat scripts/setup.sh scripts/runtimes.toml scripts/fetch_runtimes.py \
  scripts/fidelity-requirements.txt <(echo "${targets[*]} tests=$tests fidelity=$fidelity") | sha256sum | cut -c1-16).done"
if $if_changed && [ -f "$stamp" ]; then
  exit 0
fi

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install the Rust toolchain (rustup) first"
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  say "python3 (3.11 or newer, with pip) is needed to fetch runtime libraries from PyPI"
  exit 1
fi

# System packages from Debian's archive: OpenCV and what the `opencv` crate's build needs (libclang, pkg-config);
# cmake, with which `mnn-sys` builds MNN;
# the ssh client the ssh targets use (and the server their test starts, with --tests); for a foreign target its C and C++ cross compilers
# (the linker, tract's assembly kernels, OpenCV's glue), qemu-user, and the target's OpenCV through Debian
# multiarch (only the modules the backend links: `libopencv-dev:arm64` conflicts with the host's).
system_packages=(libopencv-dev clang libclang-dev pkg-config cmake openssh-client)
if $tests; then
  system_packages+=(openssh-server)
fi
# The fidelity bench runs OpenCV's own Python binding on the same OpenCV library, under Debian's interpreter.
if $fidelity; then
  system_packages+=(python3-opencv)
fi
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
if $tests && [ ! -d /run/sshd ]; then
  $sudo install -d -m 0755 /run/sshd
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

# The engines' own tools for the fidelity bench, from pinned PyPI wheels (the same releases the harness loads)
# in a virtual environment of their own; nothing else uses it.
if $fidelity; then
  venv=.runtimes/fidelity-venv
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv for the engines' own tools"
    python3 -m venv "$venv"
  fi
  if ! cmp -s scripts/fidelity-requirements.txt "$venv/installed.txt"; then
    say "installing the engines' own tools (scripts/fidelity-requirements.txt) into $venv"
    "$venv/bin/python" -m pip install --quiet --no-deps --only-binary=:all: -r scripts/fidelity-requirements.txt
    cp scripts/fidelity-requirements.txt "$venv/installed.txt"
  fi
  # tract's own command-line tool, of the tract release the harness links (Cargo.lock), from crates.io with its
  # published lock file; only the ONNX and TFLite readers and the thread pool the backend uses.
  tract_version=$(grep -A1 '^name = "tract-onnx"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
  if [ "$(.runtimes/fidelity-tools/bin/tract --version 2>/dev/null)" != "tract-cli $tract_version" ]; then
    say "building tract-cli $tract_version for the fidelity bench (about 15 minutes on 2 cores)"
    cargo install --quiet --locked tract-cli --version "$tract_version" --no-default-features \
      --features onnx,tflite,multithread-mm --root .runtimes/fidelity-tools --target-dir target/fidelity-tools
  fi
fi

mkdir -p .runtimes
touch "$stamp"
say "ready"
