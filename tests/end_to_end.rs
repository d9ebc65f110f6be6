//! A small scenario through the real tract backend: the results folder, its CSV columns, and outputs that
//! equal a direct tract run on the same input.

use harness::export::csv::{sample_columns, summary_columns};
mod common;

use common::{quick_default_scenario, run_scenario, tract_scenario, worker_processes};
use harness::record::Status;
use harness::scenario;
use harness_backend_api::{ModelFormat, TensorData};
use std::path::{Path, PathBuf};
use std::process::Command;
use tract_onnx::prelude::*;

fn small_scenario(dir: &Path) -> PathBuf {
    tract_scenario(dir, "e2e", 3)
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Runs the model directly with tract, the way a user of tract would.
fn direct_tract_logits(path: &Path, format: ModelFormat, input: Tensor) -> Vec<f32> {
    let model = match format {
        ModelFormat::Onnx => tract_onnx::onnx()
            .model_for_path(path)
            .unwrap()
            .into_typed()
            .unwrap(),
        ModelFormat::Tflite => tract_tflite::tflite().model_for_path(path).unwrap(),
    };
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan.run(tvec!(input.into())).unwrap();
    out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

#[test]
fn a_scenario_runs_end_to_end_through_tract() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_scenario(dir.path());
    let compiled = harness::backends::compiled_in();
    let scenario = scenario::load(&path, &harness::backends::infos(&compiled)).unwrap();
    let outcome = run_scenario(&path, &compiled, &worker_processes());

    // One row per format × thread count, all measured.
    assert_eq!(outcome.records.len(), 4);
    for r in &outcome.records {
        assert_eq!(r.status, Status::Ok, "{:?}", r.error);
        assert!(r.samples_ns.len() >= 3);
        assert_eq!(r.outputs.len(), 2, "outputs for each input");
    }

    let folder = &outcome.folder;
    assert!(folder.starts_with(std::fs::canonicalize(dir.path().join("results")).unwrap()));
    let (header, rows) = read_csv(&folder.join("summary.csv"));
    assert_eq!(header, summary_columns());
    assert_eq!(rows.len(), 4);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let formats: Vec<&str> = rows.iter().map(|r| r[column("format")].as_str()).collect();
    assert_eq!(formats, ["onnx", "tflite", "onnx", "tflite"]);
    for row in &rows {
        assert_eq!(row[column("status")], "ok");
        assert_eq!(row[column("engine_version")], "0.23.9");
        let median: f64 = row[column("median_ms")].parse().unwrap();
        let low: f64 = row[column("median_low_ms")].parse().unwrap();
        let high: f64 = row[column("median_high_ms")].parse().unwrap();
        assert!(median > 0.0 && low <= median && median <= high, "{row:?}");
    }
    assert_eq!(rows[1][column("input_adaptation")], "nchw_to_nhwc");
    // Each measurement has its window, and the windows follow one another without overlapping (ISO 8601 UTC
    // times of one length compare as text).
    for (row, next) in rows.iter().zip(rows.iter().skip(1)) {
        let (started, ended) = (&row[column("started_utc")], &row[column("ended_utc")]);
        assert_eq!(started.len(), "2026-12-02T13:16:14.123Z".len(), "{started}");
        assert!(started <= ended, "{started} after {ended}");
        assert!(
            ended <= &next[column("started_utc")],
            "{ended} overlaps the next row"
        );
    }
    // Measured in worker processes: peak memory from the OS, and tract's pool visible in the thread count.
    for format in [ModelFormat::Onnx, ModelFormat::Tflite] {
        let threads_at = |n: usize| {
            let r = outcome
                .records
                .iter()
                .find(|r| r.plan.format == format && r.plan.threads == n)
                .unwrap();
            assert!(
                r.peak_rss_kb.is_some_and(|kb| kb > 10_000),
                "{:?}",
                r.peak_rss_kb
            );
            r.observed_threads.unwrap()
        };
        assert!(
            threads_at(2) > threads_at(1),
            "{format}: {} vs {}",
            threads_at(2),
            threads_at(1)
        );
    }
    assert_eq!(rows[0][column("input_adaptation")], "none");

    let (header, samples) = read_csv(&folder.join("samples.csv"));
    assert_eq!(header, sample_columns());
    let total: usize = outcome.records.iter().map(|r| r.samples_ns.len()).sum();
    assert_eq!(samples.len(), total);

    let environment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("environment.json")).unwrap())
            .unwrap();
    for key in [
        "device",
        "cpu_model",
        "logical_cores",
        "kernel",
        "os",
        "rustc",
        "harness_version",
        "git_commit",
    ] {
        assert!(
            environment.get(key).is_some(),
            "environment.json lacks {key}"
        );
    }
    let engines = environment["engines"].as_array().unwrap();
    let tract = engines.iter().find(|e| e["name"] == "tract").unwrap();
    assert_eq!(tract["engine_version"], "0.23.9");
    assert_eq!(
        std::fs::read_to_string(folder.join("scenario.toml")).unwrap(),
        scenario.source
    );

    // The harness's outputs equal a direct tract run on the same input.
    let logical = scenario
        .inputs
        .prepare(&scenario.models[0].inputs, None)
        .unwrap()
        .sets;
    for record in outcome.records.iter().filter(|r| r.plan.threads == 1) {
        for (i, input) in logical.iter().map(|set| &set[0]).enumerate() {
            let TensorData::F32(values) = &input.data else {
                panic!("f32 input")
            };
            let array =
                tract_ndarray::ArrayD::from_shape_vec(input.shape.clone(), values.clone()).unwrap();
            let array = match record.plan.format {
                ModelFormat::Onnx => array,
                ModelFormat::Tflite => array
                    .permuted_axes(vec![0, 2, 3, 1])
                    .as_standard_layout()
                    .to_owned(),
            };
            let expected = direct_tract_logits(
                &record.plan.model_path,
                record.plan.format,
                array.into_tensor(),
            );
            let TensorData::F32(got) = &record.outputs[i][0].data else {
                panic!("f32 output")
            };
            assert_eq!(got, &expected, "{} input {i}", record.plan.format);
        }
    }
}

#[test]
fn the_cli_runs_a_scenario_and_a_rejected_model_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_scenario(dir.path());
    // A second model whose file is not a model: tract refuses it, the good model is still measured.
    std::fs::write(dir.path().join("broken.onnx"), b"this is not protobuf").unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[inputs]",
        "[[models]]\nname = \"broken\"\nonnx = \"broken.onnx\"\n\n[models.input]\nshape = [1, 3, 224, 224]\nlayout = \"NCHW\"\n\n[inputs]",
    );
    std::fs::write(&path, text).unwrap();
    let markdown = dir.path().join("answer.md");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            "--threads",
            "1",
            "--backends",
            "tract",
            "--export-markdown",
        ])
        .arg(&markdown)
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let answer = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        answer.contains("| engine · format | 1 thread | parity |")
            && answer.contains(" | **")
            && answer.contains("| tract · onnx | load_failed |"),
        "{answer}"
    );
    assert!(
        stderr.contains("load_failed: tract could not load"),
        "{stderr}"
    );
    assert!(stderr.contains("broken.onnx"), "{stderr}");
    assert!(
        stderr.contains("engine · format   1 thread   parity")
            && stderr
                .contains("! load_failed: broken tract · onnx (threads 1): tract could not load"),
        "the short answer is shown, with the failure once: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let folder = PathBuf::from(stdout.trim());
    let (header, rows) = read_csv(&folder.join("summary.csv"));
    let status = header.iter().position(|h| h == "status").unwrap();
    let statuses: Vec<&str> = rows.iter().map(|r| r[status].as_str()).collect();
    assert_eq!(statuses, ["ok", "ok", "load_failed"]);

    // results.json: the same rows, typed, read back by the type that wrote it and by Python.
    let document = harness::export::results_json::ResultsDocument::read(&folder).unwrap();
    let typed: Vec<&str> = document.rows.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(typed, statuses);
    assert_eq!(document.run.measurements_done, 3);
    assert!(
        document
            .warnings
            .iter()
            .any(|w| w.starts_with("! load_failed: broken tract · onnx")),
        "{:?}",
        document.warnings
    );
    let python = Command::new("python3")
        .args([
            "-c",
            "import json, sys; d = json.load(open(sys.argv[1])); \
             print(len(d['rows']), d['rows'][0]['median_ms'] > 0, d['environment']['device'] != '')",
        ])
        .arg(folder.join("results.json"))
        .output()
        .expect("python3 (set-up installs it)");
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        "3 True True",
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
}

#[test]
fn nothing_measured_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.onnx"), b"junk").unwrap();
    let text = r#"name = "nothing"
threads = [1]
output = "results"
[[models]]
name = "broken"
onnx = "broken.onnx"
[models.input]
shape = [1, 4]
[inputs]
random = { count = 1, seed = 1 }
[backends.tract]
"#;
    let path = dir.path().join("nothing.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing could be measured"));
}

#[test]
fn end_to_end_timing_is_a_separate_labelled_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_default_scenario(
        dir.path(),
        Some("[backends.tract]"),
        "",
        "end_to_end = true\n",
    );
    let compiled = harness::backends::compiled_in();
    let outcome = run_scenario(&path, &compiled, &worker_processes());
    let timings: Vec<&str> = outcome
        .records
        .iter()
        .map(|r| r.plan.timing.as_str())
        .collect();
    assert_eq!(timings, ["inference", "end_to_end"]);
    for record in &outcome.records {
        assert_eq!(record.status, Status::Ok, "{:?}", record.error);
        assert!(record.samples_ns.len() >= 2);
    }
    // Timing the whole path leaves the answers as they were.
    assert_eq!(outcome.records[0].outputs, outcome.records[1].outputs);
    let (header, rows) = read_csv(&outcome.folder.join("summary.csv"));
    let timing = header.iter().position(|h| h == "timing").unwrap();
    assert_eq!(rows[1][timing], "end_to_end");
    let table = harness::export::table::render(&outcome.records);
    assert!(table.contains("onnx end-to-end"), "{table}");

    // Random tensors have no file to start from.
    let text = std::fs::read_to_string(&path).unwrap();
    let random = text.replace("images = ", "random = { count = 2, seed = 1 }\n# ");
    std::fs::write(&path, random).unwrap();
    let err = scenario::load(&path, &harness::backends::infos(&compiled)).unwrap_err();
    assert_eq!(err.field, "measure.end_to_end");
    assert!(err.message.contains("starts from image files"), "{err}");
}

#[test]
fn inputs_that_do_not_fit_the_model_and_an_unusable_results_folder_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_scenario(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();

    // The scenario's input shape is not the model's: a row says which input wants what, the run goes on.
    let wrong_shape = text
        .replace("shape = [1, 3, 224, 224]", "shape = [1, 3, 200, 200]")
        .replace("formats = [\"onnx\", \"tflite\"]", "formats = [\"onnx\"]");
    std::fs::write(&path, wrong_shape).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--threads", "1"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "model input `input` is declared [1, 3, 224, 224]; the scenario's shape [1, 3, 200, 200] \
             does not fit it"
        ),
        "{stderr}"
    );

    // A results folder that cannot be made is named, before anything is measured.
    std::fs::write(dir.path().join("occupied"), b"a file, not a folder").unwrap();
    std::fs::write(
        &path,
        text.replace("output = \"results\"", "output = \"occupied/results\""),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot create the results folder") && stderr.contains("occupied/results"),
        "{stderr}"
    );
}

#[test]
fn a_full_disk_keeps_the_rows_already_written_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_scenario(dir.path());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("formats = [\"onnx\", \"tflite\"]", "formats = [\"tflite\"]")
        .replace("min_runs = 3", "min_runs = 200");
    std::fs::write(&path, text).unwrap();
    // A 16 KB file-size limit stands in for a full disk: the first measurement's 200 samples fit in
    // samples.csv, the second's do not. The harness ignores SIGXFSZ itself (no `trap '' XFSZ` here), so the
    // write past the limit fails with EFBIG instead of killing it.
    let script = format!(
        "ulimit -f 16; exec {} run --threads 1,2 {}",
        env!("CARGO_BIN_EXE_harness"),
        path.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("samples.csv: File too large"), "{stderr}");
    assert!(
        stderr.contains("the rows written before are kept intact"),
        "{stderr}"
    );

    let folder = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (header, samples) = read_csv(&folder.join("samples.csv"));
    assert_eq!(header, sample_columns());
    assert_eq!(
        samples.len(),
        200,
        "exactly the first measurement's samples, each row complete"
    );
    assert!(samples
        .iter()
        .all(|row| row.len() == sample_columns().len() && row[5] == "1"));
    let (_, summary) = read_csv(&folder.join("summary.csv"));
    assert_eq!(
        summary[0][summary_columns()
            .iter()
            .position(|c| *c == "status")
            .unwrap()],
        "ok"
    );
    // The second measurement is in no file (its summary row is cut back with its samples), and run.json says
    // why the run ended: the folder is a results folder for `report` and `--resume`.
    assert_eq!(summary.len(), 1);
    assert!(
        stderr.contains("the run stopped after 1 of 2 measurements"),
        "{stderr}"
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "write_failed");
    assert_eq!(run["measurements_done"], 1);
    let folder_arg = folder.to_str().unwrap();
    let report = common::harness_in(&["report", folder_arg], dir.path());
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let resumed = common::harness_in(
        &[
            "run",
            "--threads",
            "1,2",
            "--resume",
            folder_arg,
            path.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let again = PathBuf::from(String::from_utf8_lossy(&resumed.stdout).trim());
    let (_, rows) = read_csv(&again.join("summary.csv"));
    assert_eq!(rows.len(), 1, "only the measurement the limit cut off");
    let threads = summary_columns()
        .iter()
        .position(|c| *c == "threads")
        .unwrap();
    assert_eq!(rows[0][threads], "2");
}

#[test]
fn truncated_models_and_unsupported_operators_are_rows_and_earlier_rows_survive() {
    use harness_onnx_graph::pb;
    let dir = tempfile::tempdir().unwrap();
    let path = small_scenario(dir.path());
    let onnx = common::root().join("models/mobilenet_v2/mobilenet_v2.onnx");
    // The first megabyte of the real file, and the real file with one Clip renamed to an operator no
    // engine knows.
    let bytes = std::fs::read(&onnx).unwrap();
    std::fs::write(dir.path().join("truncated.onnx"), &bytes[..1 << 20]).unwrap();
    let mut model = harness_onnx_graph::decode(&bytes).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let node: &mut pb::NodeProto = graph.node.iter_mut().find(|n| n.op_type == "Clip").unwrap();
    node.op_type = "Sparkle".into();
    std::fs::write(
        dir.path().join("sparkle.onnx"),
        harness_onnx_graph::encode(&model),
    )
    .unwrap();
    let extra = |name: &str| {
        format!("[[models]]\nname = \"{name}\"\nonnx = \"{name}.onnx\"\n\n[models.input]\nshape = [1, 3, 224, 224]\nlayout = \"NCHW\"\n\n")
    };
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("formats = [\"onnx\", \"tflite\"]", "formats = [\"onnx\"]")
        .replace(
            "[inputs]",
            &format!("{}{}[inputs]", extra("truncated"), extra("sparkle")),
        );
    std::fs::write(&path, text).unwrap();

    let outcome = run_scenario(
        &path,
        &harness::backends::compiled_in(),
        &worker_processes(),
    );
    let row = |model: &str| {
        outcome
            .records
            .iter()
            .find(|r| r.plan.model == model)
            .unwrap()
    };
    assert_eq!(
        row("mobilenet_v2").status,
        Status::Ok,
        "{:?}",
        row("mobilenet_v2").error
    );
    for (model, words) in [("truncated", "truncated.onnx"), ("sparkle", "Sparkle")] {
        let r = row(model);
        assert_eq!(r.status, Status::LoadFailed, "{model}: {:?}", r.error);
        let error = r.error.as_deref().unwrap();
        assert!(
            error.starts_with("tract could not load") && error.contains(words),
            "{model}: {error}"
        );
    }
    let (_, summary) = read_csv(&outcome.folder.join("summary.csv"));
    assert_eq!(
        summary.len(),
        6,
        "two thread counts × three models, the good rows among them"
    );
}

#[test]
fn one_engine_under_two_names_gives_rows_of_each_with_their_own_settings() {
    let dir = tempfile::tempdir().unwrap();
    let tables = "[backends.ort]\n\n[backends.ort-unoptimised]\nengine = \"ort\"\noptions = { optimization = \"disable\" }\n";
    let path = quick_default_scenario(dir.path(), Some(tables), "", "");
    let outcome = run_scenario(
        &path,
        &harness::backends::compiled_in(),
        &worker_processes(),
    );
    let rows: Vec<(&str, Option<&str>)> = outcome
        .records
        .iter()
        .map(|r| (r.plan.backend.as_str(), r.setting("optimization")))
        .collect();
    assert_eq!(
        rows,
        [("ort", Some("all")), ("ort-unoptimised", Some("disable"))]
    );
    for record in &outcome.records {
        assert_eq!(record.status, Status::Ok, "{:?}", record.error);
        assert_eq!(record.plan.engine, "ort");
    }
}

#[test]
fn a_resumed_run_measures_only_what_the_earlier_folder_lacks_and_reports_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = tract_scenario(dir.path(), "resume", 2);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["run", "--threads", "1"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let complete = PathBuf::from(String::from_utf8_lossy(&first.stdout).trim());
    // An unfinished copy: its last measurement never got written.
    let unfinished = dir.path().join("unfinished");
    std::fs::create_dir(&unfinished).unwrap();
    for file in ["scenario.toml", "environment.json", "samples.csv"] {
        std::fs::copy(complete.join(file), unfinished.join(file)).unwrap();
    }
    let summary = std::fs::read_to_string(complete.join("summary.csv")).unwrap();
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows");
    // Its last measurement was cut short by Ctrl-C: a row, but not one to keep.
    let cut_short = lines[2].replacen(",ok,", ",interrupted,", 1);
    let earlier_summary = [lines[0], lines[1], &cut_short].join("\n") + "\n";
    std::fs::write(unfinished.join("summary.csv"), &earlier_summary).unwrap();
    std::fs::write(
        unfinished.join("run.json"),
        r#"{"status": "interrupted", "measurements_planned": 2, "measurements_done": 1, "resumes": null}"#,
    )
    .unwrap();

    let resumed = run(&["--resume", unfinished.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    let folder = PathBuf::from(String::from_utf8_lossy(&resumed.stdout).trim());
    let (header, rows) = read_csv(&folder.join("summary.csv"));
    assert_eq!(rows.len(), 1, "only the missing measurement");
    let format = header.iter().position(|h| h == "format").unwrap();
    assert_eq!(rows[0][format], "tflite");
    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["resumes"], unfinished.display().to_string());
    // The earlier folder is untouched, and the new report covers both: the re-measured row replaces the one
    // cut short, and the run, finished now, is no longer said to be interrupted.
    assert_eq!(
        std::fs::read_to_string(unfinished.join("summary.csv")).unwrap(),
        earlier_summary
    );
    let report = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(
        report.contains("tract · onnx") && report.contains("tract · tflite"),
        "{report}"
    );
    assert!(!report.contains("interrupted"), "{report}");

    // Profiling adds passes and changes no measurement: a profiled run is the same scenario.
    let nothing_left = run(&["--resume", complete.to_str().unwrap(), "--profile"]);
    assert!(!nothing_left.status.success());
    assert!(String::from_utf8_lossy(&nothing_left.stderr).contains("nothing to resume"));

    // Another device's folder, or another scenario's, is not this run's to resume.
    let other_device = run(&[
        "--device",
        "board-b",
        "--resume",
        complete.to_str().unwrap(),
    ]);
    assert!(!other_device.status.success());
    let stderr = String::from_utf8_lossy(&other_device.stderr);
    assert!(
        stderr.contains("and this run is `board-b`: resume a folder of the same device"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("min_runs = 2", "min_runs = 3")).unwrap();
    let other_scenario = run(&["--resume", complete.to_str().unwrap()]);
    assert!(!other_scenario.status.success());
    let stderr = String::from_utf8_lossy(&other_scenario.stderr);
    assert!(
        stderr.contains("was measured with another scenario than"),
        "{stderr}"
    );
}

#[test]
fn each_row_says_what_stopped_its_runs_and_how_precise_its_median_is() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = small_scenario(dir.path());
    let targeted = dir.path().join("targeted.toml");
    std::fs::write(
        &targeted,
        std::fs::read_to_string(&fixed).unwrap().replace(
            "max_seconds = 20",
            "max_seconds = 20\ntarget_interval_fraction = 0.05",
        ),
    )
    .unwrap();
    for (scenario, stopped) in [
        (&fixed, &["minimums"][..]),
        (&targeted, &["precision", "time_cap"][..]),
    ] {
        let out = common::harness_in(
            &["run", scenario.to_str().unwrap(), "--threads", "1"],
            dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let folder = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        for row in common::summary_rows(&folder) {
            assert!(stopped.contains(&row["stopped_by"].as_str()), "{row:?}");
            let precision: f64 = row["median_precision_pct"].parse().unwrap();
            assert!(precision >= 0.0, "{row:?}");
            // A few dozen runs support no p99: its cell is blank and says how many it needs.
            let runs: u64 = row["runs"].parse().unwrap();
            if runs < 662 {
                assert_eq!(
                    (row["p99_ms"].as_str(), row["p99_runs_needed"].as_str()),
                    ("", "662"),
                    "{row:?}"
                );
            }
            if row["stopped_by"] == "precision" {
                assert!(precision <= 5.0, "met the ±5% target: {row:?}");
                assert!(
                    row["runs"].parse::<u64>().unwrap() >= 3,
                    "never before min_runs"
                );
            }
        }
    }
}
