//! Helpers shared by the integration tests.
#![allow(dead_code)] // Each test file uses its own subset.

pub mod sshd;

use harness::run::isolation::{Isolation, Workers};
use harness::run::RunOutcome;
use harness::scenario;
use harness_backend_api::Backend;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Each measurement in a worker process, as `harness run` does.
pub fn worker_processes() -> Isolation {
    Isolation::Subprocess(Workers::new(env!("CARGO_BIN_EXE_harness").into(), None))
}

/// Loads the scenario at `path` against `backends` and runs it quietly.
pub fn run_scenario(
    path: &Path,
    backends: &[Box<dyn Backend>],
    isolation: &Isolation,
) -> RunOutcome {
    let infos: Vec<_> = backends.iter().map(|b| b.info()).collect();
    let scenario = scenario::load(path, &infos).unwrap();
    harness::run::run(&scenario, backends, isolation, &mut std::io::sink()).unwrap()
}

/// `harness run ARGS SCENARIO` with a conversion cache of its own (`HARNESS_CACHE`), which must succeed;
/// returns its output and the results folder it printed.
pub fn run_harness(args: &[&str], scenario: &Path, cache: &Path) -> (Output, PathBuf) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .args(args)
        .arg(scenario)
        .env("HARNESS_CACHE", cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let folder = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out, folder)
}

/// `harness ARGS` in `dir`, with a conversion cache of its own there.
pub fn harness_in(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .current_dir(dir)
        .env("HARNESS_CACHE", dir.join("cache"))
        .output()
        .unwrap()
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The default scenario, shortened to 1 thread and a few timed runs, writing under `dir`; `backends` replaces
/// its backend tables when given, and `measure` is appended to its short [measure] table.
pub fn quick_default_scenario(
    dir: &Path,
    backends: Option<&str>,
    extra_backends: &str,
    measure: &str,
) -> PathBuf {
    let full = std::fs::read_to_string(root().join("scenarios/mobilenet.toml")).unwrap();
    let (head, _measure) = full.split_once("[measure]").unwrap();
    let head = match backends {
        Some(tables) => format!(
            "{}{tables}\n",
            head.split_once("# OpenCV's DNN module").unwrap().0
        ),
        None => head.to_string(),
    };
    let text = head
        .replace("../models", &root().join("models").display().to_string())
        .replace("threads = [1, 2]", "threads = [1]")
        .replace("output = \"../results\"", "output = \"results\"")
        + extra_backends
        + "\n[measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n"
        + measure;
    let path = dir.join("quick.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A small scenario over both MobileNetV2 files through tract alone, threads 1 and 2, two random inputs, written
/// as `<name>.toml` in `dir`, results under `dir/results`.
pub fn tract_scenario(dir: &Path, name: &str, min_runs: u64) -> PathBuf {
    let models = root().join("models/mobilenet_v2");
    let text = format!(
        r#"name = "{name}"
threads = [1, 2]
output = "results"

[[models]]
name = "mobilenet_v2"
onnx = "{onnx}"
tflite = "{tflite}"

[models.input]
shape = [1, 3, 224, 224]
layout = "NCHW"

[inputs]
random = {{ count = 2, seed = 11 }}

[backends.tract]
formats = ["onnx", "tflite"]

[measure]
warmup_runs = 1
warmup_seconds = 0
min_runs = {min_runs}
min_seconds = 0
max_seconds = 20
"#,
        onnx = models.join("mobilenet_v2.onnx").display(),
        tflite = models.join("mobilenet_v2.tflite").display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every engine that reads ONNX, for the tests that run one network on all of them.
pub const ONNX_ENGINES: [&str; 7] = [
    "candle", "mnn", "ncnn", "opencv", "openvino", "ort", "tract",
];

/// A results folder's summary.csv, one map from column to cell per row.
pub fn summary_rows(folder: &Path) -> Vec<std::collections::HashMap<String, String>> {
    csv_rows(&folder.join("summary.csv"))
}

/// A CSV file of a results folder, one map from column to cell per row.
pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}
