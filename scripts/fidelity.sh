#!/usr/bin/env bash
# The fidelity bench: the harness against each engine's own tool (OpenVINO's benchmark_app, LiteRT's
# litert-benchmark, ONNX Runtime's Python API, OpenCV's cv2) on MobileNetV2, alternately, with the same
# threads and run counts; prints harness / own per engine and thread count (scripts/fidelity.py says how).
# Sets up what it needs (scripts/setup.sh --fidelity) and uses an optimised build.
#   scripts/fidelity.sh [--repetitions N] [--threads 1,2] [--markdown FILE]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/built-binary.sh"
"$root/scripts/setup.sh" --fidelity --if-changed
binary=$(cd "$root" && built_binary --release --bin harness)
exec "$root/.runtimes/fidelity-venv/bin/python" "$root/scripts/fidelity.py" --harness "$binary" "$@"
