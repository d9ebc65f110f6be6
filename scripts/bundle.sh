#!/usr/bin/env bash
# Cross-builds harness for a board and packs a self-contained bundle: the binary, the runtime libraries it
# loads (in lib/ beside it, where the harness looks), the models and the scenarios.
#
#   scripts/bundle.sh [--target aarch64-unknown-linux-gnu]   →  dist/harness-<target>.tar.gz
#
# Built in: candle, ONNX Runtime, LiteRT, OpenVINO, tract. Not built in: OpenCV (it links the board's own OpenCV,
# which a cross build cannot assume); the bundle's BUNDLE.txt says so.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    *) echo "bundle: unknown argument $1" >&2; exit 2 ;;
  esac
done
features=candle,ort,tflite,openvino,tract

scripts/setup.sh --target "$target"
linker_variable="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
export "$linker_variable=${target%%-*}-linux-gnu-gcc"
cargo build --release --quiet --target "$target" --no-default-features --features "$features" --bin harness

bundle="dist/harness-$target"
rm -rf "$bundle"
mkdir -p "$bundle/lib"
cp "target/$target/release/harness" "$bundle/"
cp .runtimes/"$target"/*/* "$bundle/lib/"
cp -r models scenarios "$bundle/"
mkdir -p "$bundle/results"
{
  echo "harness $(git describe --always --dirty 2>/dev/null || echo unknown) for $target"
  echo "built in: ${features//,/, }"
  echo "not built in: opencv (links the board's own OpenCV; build on the board to measure it)"
  echo "runtime libraries in lib/:"
  (cd "$bundle/lib" && sha256sum -- *)
} > "$bundle/BUNDLE.txt"
tar -C dist -czf "dist/harness-$target.tar.gz" "harness-$target"
echo "bundle: dist/harness-$target.tar.gz ($(du -h "dist/harness-$target.tar.gz" | cut -f1))"
