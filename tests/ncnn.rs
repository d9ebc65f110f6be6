#![cfg(feature = "ncnn")]
//! NCNN through pnnx: conversions are cached by model hash, and a model pnnx cannot convert is a clear
//! load failure that leaves the rest of the run alone. Each test runs the harness binary with a conversion
//! cache of its own (`HARNESS_CACHE`), so nothing outside its folder is touched.

mod common;

use common::{quick_default_scenario, root, summary_rows};
use harness_onnx_graph::build::{model, node};
use std::path::{Path, PathBuf};
use std::process::Output;

fn run_harness(scenario: &Path, cache: &Path) -> (Output, PathBuf) {
    common::run_harness(&["--threads", "1"], scenario, cache)
}

/// The conversions in the cache: one folder per converted model.
fn conversions(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join(format!("pnnx-{}", harness_backend_ncnn::PNNX_VERSION)))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn an_unchanged_model_is_converted_once_and_the_conversion_is_reported_apart() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // ONNX Runtime is the reference, so the first load by NCNN is the measured row's.
    let scenario =
        quick_default_scenario(dir.path(), Some("[backends.ort]\n[backends.ncnn]"), "", "");

    let (_, first) = run_harness(&scenario, &cache);
    let ncnn_row = |folder: &Path| {
        let rows = summary_rows(folder);
        assert_eq!(rows.len(), 2);
        let row = rows.into_iter().find(|r| r["backend"] == "ncnn").unwrap();
        assert_eq!(row["status"], "ok", "{}", row["error"]);
        assert_eq!(row["parity"], "pass");
        row
    };
    let row = ncnn_row(&first);
    let conversion_ms: f64 = row["conversion_ms"].parse().expect("a conversion ran");
    assert!(conversion_ms > 0.0);
    assert!(!row["settings"].contains("(cached)"), "{}", row["settings"]);
    let converted = conversions(&cache);
    assert_eq!(converted.len(), 1, "{converted:?}");
    let param = converted[0].join("model.ncnn.param");
    let written = std::fs::metadata(&param).unwrap().modified().unwrap();

    let (_, second) = run_harness(&scenario, &cache);
    assert_ne!(first, second, "a new results folder");
    let row = ncnn_row(&second);
    assert_eq!(row["conversion_ms"], "", "no second conversion");
    assert!(row["settings"].contains("(cached)"), "{}", row["settings"]);
    assert_eq!(conversions(&cache), converted);
    assert_eq!(
        std::fs::metadata(&param).unwrap().modified().unwrap(),
        written
    );
}

#[test]
fn a_model_pnnx_cannot_convert_names_the_model_and_pnnx_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A well-formed ONNX file whose one node is an operator no converter knows.
    let unknown = model(
        vec![node("NoSuchOperator", &["x"], "y", vec![])],
        vec![],
        &[1, 3, 8, 8],
        &[1, 3, 8, 8],
        13,
    );
    let bad = dir.path().join("unknown_op.onnx");
    std::fs::write(&bad, harness_onnx_graph::encode(&unknown)).unwrap();
    let text = format!(
        "name = \"pnnx-failure\"\nthreads = [1]\noutput = \"results\"\n\n\
         [[models]]\nname = \"unknown_op\"\nonnx = \"{bad}\"\n[models.input]\nshape = [1, 3, 8, 8]\n\n\
         [[models]]\nname = \"mobilenet_v2\"\nonnx = \"{good}\"\n[models.input]\nshape = [1, 3, 224, 224]\n\n\
         [inputs]\nrandom = {{ count = 1, seed = 3 }}\n\n[backends.ncnn]\n\n\
         [measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n",
        bad = bad.display(),
        good = root().join("models/mobilenet_v2/mobilenet_v2.onnx").display(),
    );
    let scenario = dir.path().join("pnnx-failure.toml");
    std::fs::write(&scenario, text).unwrap();

    let (out, folder) = run_harness(&scenario, &dir.path().join("cache"));
    let rows = summary_rows(&folder);
    let row = |model: &str| rows.iter().find(|r| r["model"] == model).unwrap();
    let failed = row("unknown_op");
    assert_eq!(failed["status"], "load_failed");
    let error = &failed["error"];
    assert!(error.starts_with("ncnn could not load"), "{error}");
    assert!(error.contains("unknown_op.onnx"), "{error}");
    assert!(
        error.contains("pnnx 20261020 could not convert it"),
        "{error}"
    );
    assert!(
        error.contains("NoSuchOperator"),
        "pnnx's own message: {error}"
    );
    assert!(
        !error.contains('\u{1b}'),
        "terminal colour codes are stripped: {error:?}"
    );
    assert_eq!(
        row("mobilenet_v2")["status"],
        "ok",
        "{}",
        row("mobilenet_v2")["error"]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_op.onnx"));
}
