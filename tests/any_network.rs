#![cfg(all(
    feature = "candle",
    feature = "mnn",
    feature = "ncnn",
    feature = "opencv",
    feature = "openvino",
    feature = "ort",
    feature = "tract"
))]
//! Networks that are not single-input image classifiers, as users bring them: several inputs of integer
//! types, free dimensions bound by the scenario, several outputs declared in an order of their own. Each is a
//! small ONNX graph built here, measured by the harness binary on every engine that reads ONNX: an engine
//! that can run the graph must run it and agree with the reference, one that cannot must say why in one line.

mod common;

use common::{run_harness, summary_rows, ONNX_ENGINES};
use harness_backend_api::ElementType::{F32, I64};
use harness_onnx_graph::build::{floats, graph, int, ints, node, tensor};
use harness_onnx_graph::pb;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `model` and a scenario measuring it on every ONNX engine at 1 thread, with `inputs` (the scenario's
/// input tables); runs the harness and returns the rows by engine.
fn measure(
    dir: &Path,
    name: &str,
    model: &pb::ModelProto,
    inputs: &str,
) -> HashMap<String, HashMap<String, String>> {
    let file = dir.join(format!("{name}.onnx"));
    std::fs::write(&file, harness_onnx_graph::encode(model)).unwrap();
    let backends: String = ONNX_ENGINES
        .iter()
        .map(|e| format!("[backends.{e}]\n"))
        .collect();
    let text = format!(
        "name = \"{name}\"\nthreads = [1]\noutput = \"results\"\n\n[[models]]\nname = \"{name}\"\n\
         onnx = \"{name}.onnx\"\n\n{inputs}\n[inputs]\nrandom = {{ count = 2, seed = 5 }}\n\n{backends}\n\
         [measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n"
    );
    let scenario = dir.join(format!("{name}.toml"));
    std::fs::write(&scenario, text).unwrap();
    let (_, folder) = run_harness(&[], &scenario, &dir.join("cache"));
    summary_rows(&folder)
        .into_iter()
        .map(|row| (row["backend"].clone(), row))
        .collect()
}

/// The engine measured the model and agrees with the reference.
fn assert_runs_with_parity(rows: &HashMap<String, HashMap<String, String>>, engine: &str) {
    let row = &rows[engine];
    assert_eq!(row["status"], "ok", "{engine}: {}", row["error"]);
    assert!(
        matches!(row["parity"].as_str(), "pass" | "reference"),
        "{engine}: parity {} ({})",
        row["parity"],
        row["parity_reasons"]
    );
}

/// The engine cannot run the model and says why, in one line that names what it lacks.
fn assert_refuses(rows: &HashMap<String, HashMap<String, String>>, engine: &str, naming: &str) {
    let row = &rows[engine];
    assert_eq!(row["status"], "unsupported", "{engine}: {}", row["error"]);
    let error = &row["error"];
    assert!(error.starts_with(engine), "{engine}: {error}");
    assert!(error.contains(naming), "{engine}: {error}");
    assert!(!error.contains('\n'), "{engine}: one line: {error}");
}

/// A transformer's interface: int64 `input_ids` and `attention_mask` over a free sequence length, a float
/// output (a softmax over the masked ids) and an int64 one (their sum).
fn transformer() -> pb::ModelProto {
    let cast = |input: &str, output: &str| node("Cast", &[input], output, vec![int("to", 1)]);
    let mut sum = node(
        "ReduceSum",
        &["masked_ids"],
        "total",
        vec![int("keepdims", 1)],
    );
    sum.name = "sum".into();
    let mut scale = node("Mul", &["masked", "scale"], "scaled", vec![]);
    scale.name = "scale_it".into();
    graph(
        vec![
            tensor("input_ids", I64, &["1", "sequence"]),
            tensor("attention_mask", I64, &["1", "sequence"]),
        ],
        vec![
            node(
                "Mul",
                &["input_ids", "attention_mask"],
                "masked_ids",
                vec![],
            ),
            cast("masked_ids", "masked"),
            scale,
            node(
                "Softmax",
                &["scaled"],
                "probabilities",
                vec![int("axis", -1)],
            ),
            sum,
        ],
        vec![floats("scale", &[1], &[0.05])],
        vec![
            tensor("probabilities", F32, &["1", "sequence"]),
            tensor("total", I64, &["1", "1"]),
        ],
        13,
    )
}

#[test]
fn a_transformer_with_int64_token_ids_and_a_free_sequence_runs_where_engines_take_int64() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = "[models.inputs.input_ids]\nshape = [1, 128]\nelement_type = \"i64\"\n\
                  range = [0, 100]\n\n[models.inputs.attention_mask]\nshape = [1, 128]\n\
                  element_type = \"i64\"\nvalue = 1\n";
    let rows = measure(dir.path(), "transformer", &transformer(), inputs);
    for engine in ["mnn", "ort", "tract", "openvino"] {
        assert_runs_with_parity(&rows, engine);
    }
    for engine in ["candle", "ncnn", "opencv"] {
        assert_refuses(&rows, engine, "`input_ids` of type i64");
    }
}

/// A detector's interface: an image of free batch, height and width, and a probability map of the same size.
fn detector() -> pb::ModelProto {
    let weights: Vec<f32> = (0..4 * 3 * 3 * 3)
        .map(|i| (i % 7) as f32 * 0.05 - 0.15)
        .collect();
    graph(
        vec![tensor("images", F32, &["batch", "3", "height", "width"])],
        vec![
            node(
                "Conv",
                &["images", "weights", "bias"],
                "logits",
                vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
            ),
            node("Sigmoid", &["logits"], "probability_map", vec![]),
        ],
        vec![
            floats("weights", &[4, 3, 3, 3], &weights),
            floats("bias", &[4], &[0.1, -0.2, 0.0, 0.3]),
        ],
        vec![tensor(
            "probability_map",
            F32,
            &["batch", "4", "height", "width"],
        )],
        13,
    )
}

#[test]
fn a_detector_with_free_dimensions_is_bound_to_the_scenarios_shape_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = "[models.input]\nshape = [1, 3, 640, 640]\nlayout = \"NCHW\"\n";
    let rows = measure(dir.path(), "detector", &detector(), inputs);
    for engine in ONNX_ENGINES {
        assert_runs_with_parity(&rows, engine);
    }
}

/// Two outputs declared in the opposite order of the nodes that make them (and of their names).
fn two_outputs() -> pb::ModelProto {
    graph(
        vec![tensor("x", F32, &["1", "8"])],
        vec![
            node("Sigmoid", &["x"], "a_sigmoid", vec![]),
            node("Relu", &["x"], "z_relu", vec![]),
        ],
        vec![],
        vec![
            tensor("z_relu", F32, &["1", "8"]),
            tensor("a_sigmoid", F32, &["1", "8"]),
        ],
        13,
    )
}

#[test]
fn outputs_come_back_in_the_files_declared_order_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let rows = measure(
        dir.path(),
        "two_outputs",
        &two_outputs(),
        "[models.input]\nshape = [1, 8]\n",
    );
    for engine in ONNX_ENGINES {
        assert_runs_with_parity(&rows, engine);
    }
}

/// `harness run MODEL.onnx` in `dir`, with `args` after the model; returns the exit status's success, stdout
/// and stderr.
fn run_model(dir: &Path, model: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(model)
        .args(args)
        .current_dir(dir)
        .env("HARNESS_CACHE", dir.join("cache"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_model_file_alone_is_measured_once_its_free_dimensions_have_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bert.onnx");
    std::fs::write(&model, harness_onnx_graph::encode(&transformer())).unwrap();
    let quick = ["--backends", "ort,tract", "--threads", "1", "--quick"];

    // `inspect` names the free dimensions and says how to bind them.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("inspect")
        .arg(&model)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("input_ids i64 [1, sequence]"), "{shown}");
    assert!(shown.contains("--shape input_ids=1xN"), "{shown}");

    let (ok, _, stderr) = run_model(dir.path(), &model, &quick);
    assert!(!ok);
    assert!(
        stderr.contains(
            "`input_ids` is declared [1, sequence], `attention_mask` is declared [1, sequence]"
        ) && stderr.contains("--shape input_ids=1xN --shape attention_mask=1xN"),
        "{stderr}"
    );

    let mut args = vec![
        "--shape",
        "input_ids=1x16",
        "--shape",
        "attention_mask=1x16",
        "--input",
        "input_ids=0..1000",
        "--input",
        "attention_mask=1",
    ];
    args.extend(quick);
    let (ok, stdout, stderr) = run_model(dir.path(), &model, &args);
    assert!(ok, "{stderr}");
    let folder = PathBuf::from(stdout.trim());
    assert!(folder.starts_with(dir.path().join("results")), "{folder:?}");
    let written = std::fs::read_to_string(folder.join("scenario.toml")).unwrap();
    assert!(written.contains("range = [0, 1000]"), "{written}");
    let rows: HashMap<_, _> = summary_rows(&folder)
        .into_iter()
        .map(|row| (row["backend"].clone(), row))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_runs_with_parity(&rows, "ort");
    assert_runs_with_parity(&rows, "tract");

    // `init` prints the same scenario; it names the engines users compare, never a test double.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("init")
        .arg(&model)
        .args([
            "--shape",
            "input_ids=1x16",
            "--shape",
            "attention_mask=1x16",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for engine in ONNX_ENGINES {
        assert!(text.contains(&format!("[backends.{engine}]")), "{text}");
    }
    assert!(!text.contains("[backends.fault"), "{text}");
    assert!(
        text.contains("[models.inputs.\"input_ids\"]\nshape = [1, 16]\nelement_type = \"i64\""),
        "{text}"
    );
    assert!(
        text.contains("range = [0, 10]"),
        "the default range is written out: {text}"
    );
}

/// A speech model's interface: f32 samples over a free batch and length, an f32 recurrent state, and an
/// int64 scalar sample rate; two outputs.
fn speech() -> pb::ModelProto {
    graph(
        vec![
            tensor("input", F32, &["batch", "samples"]),
            tensor("state", F32, &["2", "batch", "128"]),
            tensor("sr", I64, &[]),
        ],
        vec![
            node("Cast", &["sr"], "rate", vec![int("to", 1)]),
            node("Mul", &["rate", "per_hertz"], "gain", vec![]),
            {
                let mut scale = node("Mul", &["input", "gain"], "scaled", vec![]);
                scale.name = "scale_samples".into();
                scale
            },
            node("Sigmoid", &["scaled"], "output", vec![]),
            node("Tanh", &["state"], "state_next", vec![]),
        ],
        vec![floats("per_hertz", &[], &[1e-4])],
        vec![
            tensor("output", F32, &["batch", "samples"]),
            tensor("state_next", F32, &["2", "batch", "128"]),
        ],
        13,
    )
}

/// A NumPy version 1.0 file of little-endian f32 values.
fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

#[test]
fn a_speech_model_takes_real_samples_from_npy_files_a_zero_state_and_a_constant_rate() {
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples");
    std::fs::create_dir(&samples).unwrap();
    for (i, name) in ["a.npy", "b.npy"].iter().enumerate() {
        let wave: Vec<f32> = (0..512)
            .map(|t| ((t * (i + 1)) as f32 * 0.05).sin())
            .collect();
        std::fs::write(samples.join(name), npy_f32(&[1, 512], &wave)).unwrap();
    }
    let inputs = "[models.inputs.input]\nshape = [1, 512]\nnpy = \"samples\"\n\n\
                  [models.inputs.state]\nshape = [2, 1, 128]\nvalue = 0\n\n\
                  [models.inputs.sr]\nshape = []\nelement_type = \"i64\"\nvalue = 16000\n";
    let rows = measure(dir.path(), "speech", &speech(), inputs);
    for engine in ["mnn", "ort", "tract", "openvino"] {
        assert_runs_with_parity(&rows, engine);
    }
    for engine in ["candle", "ncnn", "opencv"] {
        assert_refuses(&rows, engine, "`sr` of type i64");
    }
}
