#![cfg(any(feature = "ncnn", feature = "mnn"))]
//! Engines that read a model only after an external converter turned it into their own format (NCNN through
//! pnnx, MNN through mnnconvert): conversions are cached by the model file's hash, a model the converter
//! cannot convert is a clear load failure that leaves the rest of the run alone, and the thread count reaches
//! the engine. Each test runs the harness binary with a conversion cache of its own (`HARNESS_CACHE`), so
//! nothing outside its folder is touched.

mod common;

use common::{quick_default_scenario, root, summary_rows};
use harness_onnx_graph::build::{model, node};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// One converted engine: its name, its converter's cache folder, the converter's name in errors, and a file
/// every conversion leaves.
struct Converted {
    engine: &'static str,
    cache_folder: String,
    converter: String,
    converted_file: &'static str,
}

fn converted_engines() -> Vec<Converted> {
    #[allow(unused_mut)]
    let mut engines = Vec::new();
    #[cfg(feature = "ncnn")]
    engines.push(Converted {
        engine: "ncnn",
        cache_folder: format!("pnnx-{}", harness_backend_ncnn::PNNX_VERSION),
        converter: format!("pnnx {}", harness_backend_ncnn::PNNX_VERSION),
        converted_file: "model.ncnn.param",
    });
    #[cfg(feature = "mnn")]
    engines.push(Converted {
        engine: "mnn",
        cache_folder: format!("mnnconvert-{}", harness_backend_mnn::CONVERTER_VERSION),
        converter: format!("mnnconvert {}", harness_backend_mnn::CONVERTER_VERSION),
        converted_file: "model.mnn",
    });
    engines
}

fn run_harness(threads: &str, scenario: &Path, cache: &Path) -> (Output, PathBuf) {
    common::run_harness(&["--threads", threads], scenario, cache)
}

/// The conversions in the cache: one folder per converted model.
fn conversions(cache: &Path, engine: &Converted) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join(&engine.cache_folder))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn the_row(folder: &Path, engine: &str) -> HashMap<String, String> {
    let rows = summary_rows(folder);
    assert_eq!(rows.len(), 2);
    let row = rows.into_iter().find(|r| r["backend"] == engine).unwrap();
    assert_eq!(row["status"], "ok", "{engine}: {}", row["error"]);
    assert_eq!(row["parity"], "pass", "{engine}");
    row
}

#[test]
fn an_unchanged_model_is_converted_once_and_the_conversion_is_reported_apart() {
    for engine in converted_engines() {
        let name = engine.engine;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        // ONNX Runtime is the reference, so the first load by the engine is the measured row's.
        let backends = format!("[backends.ort]\n[backends.{name}]");
        let scenario = quick_default_scenario(dir.path(), Some(&backends), "", "");

        let (_, first) = run_harness("1", &scenario, &cache);
        let row = the_row(&first, name);
        let conversion_ms: f64 = row["conversion_ms"].parse().expect("a conversion ran");
        assert!(conversion_ms > 0.0, "{name}");
        assert!(!row["settings"].contains("(cached)"), "{}", row["settings"]);
        let converted = conversions(&cache, &engine);
        assert_eq!(converted.len(), 1, "{name}: {converted:?}");
        let file = converted[0].join(engine.converted_file);
        let written = std::fs::metadata(&file).unwrap().modified().unwrap();

        let (_, second) = run_harness("1", &scenario, &cache);
        assert_ne!(first, second, "a new results folder");
        let row = the_row(&second, name);
        assert_eq!(row["conversion_ms"], "", "{name}: no second conversion");
        assert!(row["settings"].contains("(cached)"), "{}", row["settings"]);
        assert_eq!(conversions(&cache, &engine), converted);
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            written
        );
    }
}

#[test]
fn a_model_the_converter_cannot_convert_names_the_model_and_the_converter_and_the_run_goes_on() {
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
    let engines = converted_engines();
    let backends: String = engines
        .iter()
        .map(|e| format!("[backends.{}]\n", e.engine))
        .collect();
    let text = format!(
        "name = \"conversion-failure\"\nthreads = [1]\noutput = \"results\"\n\n\
         [[models]]\nname = \"unknown_op\"\nonnx = \"{bad}\"\n[models.input]\nshape = [1, 3, 8, 8]\n\n\
         [[models]]\nname = \"mobilenet_v2\"\nonnx = \"{good}\"\n[models.input]\nshape = [1, 3, 224, 224]\n\n\
         [inputs]\nrandom = {{ count = 1, seed = 3 }}\n\n{backends}\n\
         [measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n",
        bad = bad.display(),
        good = root().join("models/mobilenet_v2/mobilenet_v2.onnx").display(),
    );
    let scenario = dir.path().join("conversion-failure.toml");
    std::fs::write(&scenario, text).unwrap();

    let (out, folder) = run_harness("1", &scenario, &dir.path().join("cache"));
    let rows = summary_rows(&folder);
    for engine in &engines {
        let name = engine.engine;
        let row = |model: &str| {
            rows.iter()
                .find(|r| r["model"] == model && r["backend"] == name)
                .unwrap()
        };
        let failed = row("unknown_op");
        assert_eq!(failed["status"], "load_failed", "{name}");
        let error = &failed["error"];
        assert!(
            error.starts_with(&format!("{name} could not load")),
            "{error}"
        );
        assert!(error.contains("unknown_op.onnx"), "{error}");
        let converter = format!("{} could not convert it", engine.converter);
        assert!(error.contains(&converter), "{error}");
        assert!(
            error.contains("NoSuchOperator"),
            "the converter's own message: {error}"
        );
        assert!(
            !error.contains('\u{1b}'),
            "terminal colour codes are stripped: {error:?}"
        );
        let good = row("mobilenet_v2");
        assert_eq!(good["status"], "ok", "{name}: {}", good["error"]);
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_op.onnx"));
}

#[test]
fn the_thread_count_reaches_the_engine() {
    for engine in converted_engines() {
        let name = engine.engine;
        let dir = tempfile::tempdir().unwrap();
        let backends = format!("[backends.{name}]");
        let scenario = quick_default_scenario(dir.path(), Some(&backends), "", "");
        let (_, folder) = run_harness("1,2", &scenario, &dir.path().join("cache"));
        let rows = summary_rows(&folder);
        let at = |threads: &str| {
            let row = rows.iter().find(|r| r["threads"] == threads).unwrap();
            assert_eq!(row["status"], "ok", "{name}: {}", row["error"]);
            let observed: u64 = row["observed_threads"].parse().unwrap();
            (observed, row["settings"].clone())
        };
        let ((one, one_settings), (two, two_settings)) = (at("1"), at("2"));
        assert!(
            two > one,
            "{name}: 2 threads run in more OS threads than 1 ({two} against {one})"
        );
        let applied = match name {
            "ncnn" => "num_threads",
            _ => "thread_number",
        };
        assert!(
            one_settings.contains(&format!("{applied}=1")),
            "{one_settings}"
        );
        assert!(
            two_settings.contains(&format!("{applied}=2")),
            "{two_settings}"
        );
    }
}
