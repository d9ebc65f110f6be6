#!/usr/bin/env bash
# Cross-builds harness for a board and packs a self-contained bundle: the binary, the runtime libraries it
# loads (in lib/ beside it, where the harness looks), the models and the scenarios.
#
#   scripts/bundle.sh [--target aarch64-unknown-linux-gnu]   →  dist/harness-<target>.tar.gz
#
# Built in: candle, ONNX Runtime, LiteRT, OpenVINO, tract, and OpenCV, linked against Debian's arm64 OpenCV 4.6
# (multiarch): the board provides OpenCV's shared libraries itself (`apt install libopencv-dnn406
# libopencv-imgproc406` on Debian 12 / Raspberry Pi OS). Not built in: NCNN (the set-up builds it for the host
# only). BUNDLE.txt lists both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/built-binary.sh
target=aarch64-unknown-linux-gnu
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    *) echo "bundle: unknown argument $1" >&2; exit 2 ;;
  esac
done
features=candle,opencv,ort,tflite,openvino,tract

scripts/setup.sh --if-changed --target "$target"
linker_variable="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
export "$linker_variable=${target%%-*}-linux-gnu-gcc"
export "CXX_${target//-/_}=${target%%-*}-linux-gnu-g++"
# Debian's arm64 OpenCV has no pkg-config file usable from the host: name its libraries and headers directly.
multiarch="${target%%-*}-linux-gnu"
export OPENCV_LINK_LIBS=opencv_core,opencv_dnn,opencv_imgproc OPENCV_LINK_PATHS="/usr/lib/$multiarch"
export OPENCV_INCLUDE_PATHS="/usr/include/opencv4,/usr/include/$multiarch/opencv4"
binary=$(built_binary --release --target "$target" --no-default-features --features "$features" --bin harness)

bundle="dist/harness-$target"
rm -rf "$bundle"
mkdir -p "$bundle/lib"
cp "$binary" "$bundle/"
cp .runtimes/"$target"/*/* "$bundle/lib/"
cp -r models scenarios "$bundle/"
mkdir -p "$bundle/results"
{
  echo "harness $(git describe --always --dirty 2>/dev/null || echo unknown) for $target"
  echo "built in: ${features//,/, }"
  echo "not built in: ncnn (built by the set-up for the host only), mnn (its converter is a Python module for the host only)"
  echo "the board provides: glibc 2.35 or newer (OpenVINO's libraries), OpenCV 4.6 (libopencv_dnn.so.406, libopencv_imgproc.so.406, libopencv_core.so.406)"
  echo "runtime libraries in lib/:"
  (cd "$bundle/lib" && sha256sum -- *)
} > "$bundle/BUNDLE.txt"
tar -C dist -czf "dist/harness-$target.tar.gz" "harness-$target"
echo "bundle: dist/harness-$target.tar.gz ($(du -h "dist/harness-$target.tar.gz" | cut -f1))"
