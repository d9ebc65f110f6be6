#!/usr/bin/env python3
"""Fidelity: does the harness measure an engine as fast as the engine's own tool does?

For each engine that has a tool of its own, and each thread count, the harness (`harness run` on MobileNetV2,
one engine, one measurement) and the engine's own tool run alternately, each in a fresh process, several times.
The own tool is given the harness row's warm-up and timed run counts, so both time the same number of runs of
the same model file with the same threads; each side's figure is the median latency of its runs. The table
shows each side's median over the repetitions, and the median and range of the repetitions' ratios, harness /
own (each repetition's two sides ran back to back).

The own tools: OpenVINO's `benchmark_app` and LiteRT's `litert-benchmark` (from the same wheels the set-up
unpacks the libraries from), ONNX Runtime's Python API (the same wheel), OpenCV's `cv2` (Debian's
python3-opencv: the same OpenCV library the harness links, given the same rewritten graph), and tract's
`tract bench` (tract-cli of the same tract release, from crates.io; it reports means, so its pairs compare means). Run through
scripts/fidelity.sh, which sets them up.

  python3 scripts/fidelity.py --harness target/release/harness [--repetitions 5] [--threads 1,2] [--engines E,..]
                              [--markdown F]
  python3 scripts/fidelity.py own ENGINE --model FILE --threads N --warmup W --runs R   (one own measurement)
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONNX = ROOT / "models/mobilenet_v2/mobilenet_v2.onnx"
TFLITE = ROOT / "models/mobilenet_v2/mobilenet_v2.tflite"
SHAPE = [1, 3, 224, 224]
VENV = ROOT / ".runtimes/fidelity-venv"
# Debian's interpreter, which has Debian's python3-opencv (the OpenCV the harness links) and its numpy.
DEBIAN_PYTHON = "/usr/bin/python3"

# engine (harness backend), model format, model file, the interpreter its own tool runs under, what the tool is
ENGINES = [
    ("ort", "onnx", ONNX, VENV / "bin/python", "ONNX Runtime's Python API (onnxruntime wheel)"),
    ("openvino", "onnx", ONNX, VENV / "bin/python", "benchmark_app (openvino wheel)"),
    ("tflite", "tflite", TFLITE, VENV / "bin/python", "litert-benchmark (ai-edge-litert wheel)"),
    ("opencv", "onnx", ONNX, Path(DEBIAN_PYTHON), "cv2 (Debian python3-opencv)"),
    ("tract", "onnx", ONNX, VENV / "bin/python", "tract bench (tract-cli from crates.io), means"),
]
# tract's own tool reports the mean of its runs only: its pairs compare means.
STATISTIC = {"tract": "mean_ms"}
TRACT = ROOT / ".runtimes/fidelity-tools/bin/tract"

SCENARIO = """name = "fidelity-{engine}"
output = "results"
threads = [{threads}]
[[models]]
name = "mobilenet_v2"
{format} = "{model}"
[models.input]
shape = {shape}
layout = "NCHW"
[inputs]
random = {{ count = 1, seed = 1 }}
[backends.{engine}]
formats = ["{format}"]
[measure]
warmup_runs = 5
warmup_seconds = 0.5
min_runs = 30
min_seconds = 2.0
max_seconds = 30.0
rounds = 1
"""


def harness_once(harness: str, engine: str, fmt: str, model: Path, threads: int, folder: Path) -> dict:
    """One `harness run` of one engine at one thread count; its row of summary.csv."""
    scenario = folder / f"fidelity-{engine}-{threads}.toml"
    scenario.write_text(SCENARIO.format(engine=engine, threads=threads, format=fmt, model=model, shape=SHAPE))
    out = folder / "results"
    result = subprocess.run([harness, "run", str(scenario), "--out", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"fidelity: harness run failed for {engine} at {threads} threads:\n{result.stderr[-2000:]}")
    latest = sorted(out.glob(f"*-fidelity-{engine}"))[-1]
    with open(latest / "summary.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["timing"] == "inference"]
    if len(rows) != 1 or rows[0]["status"] != "ok":
        sys.exit(f"fidelity: expected one ok row from {latest}, got {rows}")
    return rows[0]


def own_once(engine: str, python: Path, model: Path, threads: int, warmup: int, runs: int) -> float:
    """One measurement with the engine's own tool, in a fresh process: its median latency in ms."""
    command = [str(python), __file__, "own", engine, "--model", str(model), "--threads", str(threads),
               "--warmup", str(warmup), "--runs", str(runs)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"fidelity: {engine}'s own tool failed:\n{result.stdout[-1500:]}\n{result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


# --- Each engine's own measurement, run under the interpreter that has the engine. Each prints the median ms.

def own_ort(model: Path, threads: int, warmup: int, runs: int) -> float:
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feed = {name: np.random.default_rng(1).random(SHAPE, dtype=np.float32)}
    return median_of(lambda: session.run(None, feed), warmup, runs)


def own_opencv(model: Path, threads: int, warmup: int, runs: int) -> float:
    import cv2
    import numpy as np
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(str(model))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    blob = np.random.default_rng(1).random(SHAPE, dtype=np.float32)

    def run():
        net.setInput(blob)
        return net.forward()
    return median_of(run, warmup, runs)


def own_openvino(model: Path, threads: int, warmup: int, runs: int) -> float:
    # benchmark_app times a fixed number of iterations after its own first inference; its warm-up is that one
    # run, so the harness's warm-up count is not passed on (the report says so).
    command = [str(Path(sys.executable).parent / "benchmark_app"), "-m", str(model), "-d", "CPU", "-api", "sync",
               "-hint", "none", "-nstreams", "1", "-nthreads", str(threads), "-infer_precision", "f32",
               "-niter", str(runs)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Median:\s+([0-9.]+) ms", text).group(1))


def own_tflite(model: Path, threads: int, warmup: int, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        command = [str(Path(sys.executable).parent / "litert-benchmark"), f"--model={model}",
                   f"--num_threads={threads}", f"--warmup_runs={warmup}", f"--num_runs={runs}",
                   f"--result_json={result}"]
        subprocess.run(command, capture_output=True, text=True, check=True)
        return float(json.loads(result.read_text())["latency"]["median_ms"])


def opencv_model(folder: Path) -> Path:
    """The graph the harness gives OpenCV 4.6: MobileNetV2 with each Clip's constant bounds as attributes and
    opset 10 declared (what backends/onnx-graph/src/rewrite.rs does; the harness row's `model_adaptation`
    states its count, checked against this one's)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(str(ONNX))
    # Bounds are scalar initializers or Constant nodes' outputs.
    tensors = [(t.name, t) for t in model.graph.initializer] + [
        (n.output[0], a.t) for n in model.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    constants = {name: float(numpy_helper.to_array(t).reshape(-1)[0]) for name, t in tensors
                 if numpy_helper.to_array(t).size == 1}
    count = 0
    for node in model.graph.node:
        if node.op_type == "Clip" and len(node.input) > 1:
            bounds = [constants[name] for name in node.input[1:]]
            del node.input[1:]
            node.attribute.extend(onnx.helper.make_attribute(n, v) for n, v in zip(["min", "max"], bounds))
            count += 1
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = 10
    path = folder / f"mobilenet_v2-opencv-{count}-clips.onnx"
    onnx.save(model, str(path))
    return path


def own_tract(model: Path, threads: int, warmup: int, runs: int) -> float:
    # A pool of N threads for N > 1, as the harness's backend gives tract; none for 1.
    pool = ["--threads", str(threads)] if threads > 1 else []
    command = [str(TRACT), str(model), "-O", "--machine-friendly", *pool, "bench", "--allow-random-input",
               "--warmup-loops", str(warmup), "--max-loops", str(runs), "--max-time", "600000"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"real: ([0-9.e-]+)", text).group(1)) * 1e3


def median_of(run, warmup: int, runs: int) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(times)


OWN = {"ort": own_ort, "opencv": own_opencv, "openvino": own_openvino, "tflite": own_tflite, "tract": own_tract}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "own":
        parser = argparse.ArgumentParser(prog="fidelity.py own")
        parser.add_argument("engine", choices=OWN)
        parser.add_argument("--model", type=Path, required=True)
        parser.add_argument("--threads", type=int, required=True)
        parser.add_argument("--warmup", type=int, required=True)
        parser.add_argument("--runs", type=int, required=True)
        args = parser.parse_args(sys.argv[2:])
        print(OWN[args.engine](args.model, args.threads, args.warmup, args.runs))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--harness", required=True, help="the harness binary (a release build)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--engines", default=",".join(OWN), help="of " + ", ".join(OWN))
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    engines = [e for e in ENGINES if e[0] in args.engines.split(",")]
    pairs = {(engine, threads): ([], []) for engine, *_ in engines for threads in thread_counts}
    # The harness row's warm-up and timed run counts, which the own tool is given.
    counts = {}
    with tempfile.TemporaryDirectory() as folder:
        # OpenCV's own side reads the graph the harness gives OpenCV (the harness rewrites it in memory).
        own_models = {engine: model for engine, _, model, _, _ in ENGINES}
        own_models["opencv"] = opencv_model(Path(folder))
        for repetition in range(args.repetitions):
            for engine, fmt, model, python, _ in engines:
                for threads in thread_counts:
                    key = (engine, threads)
                    harness_ms, own_ms = pairs[key]

                    def harness_side():
                        row = harness_once(args.harness, engine, fmt, model, threads, Path(folder))
                        harness_ms.append(float(row[STATISTIC.get(engine, "median_ms")]))
                        if engine == "opencv" and not own_models[engine].stem.endswith(
                                f"-{row['model_adaptation'].split()[0]}-clips"):
                            sys.exit(f"fidelity: the harness adapted the model for OpenCV otherwise: "
                                     f"{row['model_adaptation']} (own side: {own_models[engine].name})")
                        counts[key] = (int(row["warmup_runs"]), int(row["runs"]))

                    def own_side():
                        own_ms.append(own_once(engine, python, own_models[engine], threads, *counts[key]))

                    # Which goes first alternates, so that a drift of the machine's speed falls on both sides.
                    steps = [harness_side, own_side] if repetition % 2 == 0 else [own_side, harness_side]
                    for step in steps:
                        step()
                    print(f"repetition {repetition}: {engine}, {threads} thread(s): harness {harness_ms[-1]:.2f} ms, "
                          f"own {own_ms[-1]:.2f} ms", file=sys.stderr, flush=True)
    lines = ["| engine | own tool | threads | harness ms | own ms | harness / own | range |",
             "|---|---|---:|---:|---:|---:|---|"]
    for engine, _, _, _, tool in engines:
        for threads in thread_counts:
            harness_ms, own_ms = pairs[(engine, threads)]
            # Each repetition's two sides ran back to back: their ratio is free of the machine's drift between
            # repetitions, which a ratio of the two medians would take in.
            ratios = [h / o for h, o in zip(harness_ms, own_ms)]
            lines.append(f"| {engine} | {tool} | {threads} | {statistics.median(harness_ms):.2f} | "
                         f"{statistics.median(own_ms):.2f} | {statistics.median(ratios):.3f} | "
                         f"{min(ratios):.3f}–{max(ratios):.3f} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
