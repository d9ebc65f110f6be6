//! `harness check` on broken scenarios: each error names the file, line, column and field, and exits 2.

use std::path::Path;
use std::process::Command;

const VALID: &str = r#"name = "t"
threads = [1]

[[models]]
name = "m"
onnx = "m.onnx"

[models.input]
shape = [1, 3, 8, 8]

[inputs]
random = { count = 2, seed = 1 }

[backends.tract]

[measure]
min_runs = 3
"#;

/// A model file that fits VALID: one Relu over [1, 3, 8, 8].
fn model_bytes() -> Vec<u8> {
    use harness_onnx_graph::build::{model, node};
    let relu = model(
        vec![node("Relu", &["x"], "y", vec![])],
        vec![],
        &[1, 3, 8, 8],
        &[1, 3, 8, 8],
        13,
    );
    harness_onnx_graph::encode(&relu)
}

/// Runs `harness check` on `text` written beside a model file that fits it; returns exit code and stderr.
fn check(text: &str) -> (i32, String, String) {
    check_with_model(text, &model_bytes())
}

/// Runs `harness check` on `text` written beside `m.onnx` holding `model`.
fn check_with_model(text: &str, model: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.onnx"), model).unwrap();
    check_in(dir.path(), text)
}

/// Runs `harness check` on `text` written as `broken.toml` in `dir`; returns exit code, stderr and the file.
fn check_in(dir: &Path, text: &str) -> (i32, String, String) {
    let file = dir.join("broken.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (
        out.status.code().unwrap(),
        stderr,
        file.display().to_string(),
    )
}

fn assert_refused(text: &str, position: &str, field: &str, reason: &str) {
    let (code, stderr, file) = check(text);
    assert_eq!(code, 2, "{stderr}");
    let expected = format!("{file}:{position}: field `{field}`: ");
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in: {stderr}"
    );
    assert!(stderr.contains(reason), "expected `{reason}` in: {stderr}");
}

#[test]
fn a_valid_scenario_passes() {
    let (code, stderr, _) = check(VALID);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn invalid_toml() {
    // An array left open is reported where it opens, with where the parser gave up.
    let text = VALID.replace("threads = [1]", "threads = [1");
    assert_refused(
        &text,
        "2:1",
        "threads",
        "this array is never closed (the parser stopped at 4:1: missing comma between array elements",
    );
    // With a trailing comma the parser reads on into [[models]] and stops at a later key.
    let text = VALID.replace("threads = [1]", "threads = [1,");
    let (_, stderr, _) = check(&text);
    assert_refused(&text, "2:1", "threads", "this array is never closed");
    assert!(!stderr.contains("field `models"), "{stderr}");
    // An error inside a value that closes is where the parser says.
    let text = VALID.replace("threads = [1]", "threads = [\n  1\n  2\n]");
    assert_refused(
        &text,
        "4:3",
        "threads",
        "missing comma between array elements",
    );
}

#[test]
fn unknown_key() {
    let text = VALID.replace("min_runs = 3", "min_runs = 3\nspeed = 9");
    assert_refused(&text, "18:1", "measure.speed", "unknown field `speed`");
    let text = VALID.replace("shape = [1, 3, 8, 8]", "shape = [1, 3, 8, 8]\ncolour = 1");
    assert_refused(
        &text,
        "10:1",
        "models[0].input.colour",
        "unknown field `colour`",
    );
}

#[test]
fn wrong_type() {
    let text = VALID.replace("min_runs = 3", "min_runs = \"many\"");
    assert_refused(
        &text,
        "17:12",
        "measure.min_runs",
        "invalid type: string \"many\"",
    );
}

#[test]
fn missing_model_file() {
    let text = VALID.replace("m.onnx", "absent.onnx");
    let (_, stderr, _) = check(&text);
    assert_refused(&text, "6:8", "models[0].onnx", "cannot read the model file");
    assert!(stderr.contains("absent.onnx: No such file"), "{stderr}");
}

#[test]
fn empty_backend_list() {
    let text = VALID.replace("[backends.tract]", "[backends]");
    assert_refused(&text, "14:1", "backends", "lists no backend");
}

#[test]
fn backend_not_compiled_in() {
    let text = VALID.replace("[backends.tract]", "[backends.tensorrt]");
    assert_refused(
        &text,
        "14:1",
        "backends.tensorrt",
        "no backend `tensorrt` is compiled into this build",
    );
}

#[test]
fn format_the_backend_cannot_read_any_model_in() {
    let text = VALID.replace(
        "[backends.tract]",
        "[backends.tract]\nformats = [\"tflite\"]",
    );
    assert_refused(
        &text,
        "15:11",
        "backends.tract.formats",
        "no model in this scenario has a tflite file",
    );
}

#[test]
fn impossible_measurement_rules() {
    let text = VALID.replace("min_runs = 3", "min_seconds = 5\nmax_seconds = 1");
    assert_refused(&text, "18:1", "measure.max_seconds", "at least min_seconds");
}

#[test]
fn empty_thread_list() {
    let text = VALID.replace("threads = [1]", "threads = []");
    assert_refused(&text, "2:11", "threads", "one or more thread counts");
}

#[test]
fn a_thread_count_listed_twice() {
    let text = VALID.replace("threads = [1]", "threads = [1, 2, 1]");
    assert_refused(&text, "2:11", "threads", "1 is listed more than once");
}

/// `harness run ARGS` on the valid scenario (beside an empty model file); returns its standard error.
fn run_refused(args: &[&str]) -> String {
    run_refused_with(VALID, args)
}

/// `harness run ARGS` on the scenario `text`, which it must refuse before measuring anything.
fn run_refused_with(text: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.onnx"), b"").unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .args(args)
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !dir.path().join("results").exists(),
        "refused before any folder is made"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_thread_count_given_twice_on_the_command_line() {
    let stderr = run_refused(&["--threads", "1,1"]);
    assert!(
        stderr.contains("--threads must list each thread count once (1 is listed more than once)"),
        "{stderr}"
    );
}

#[test]
fn model_files_check_reads_without_an_engine() {
    let good = model_bytes();
    let tflite = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/mobilenet_v2/mobilenet_v2.tflite"),
    )
    .unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty", Vec::new(), "cannot read the inputs of"),
        (
            "random bytes",
            (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "cannot read the inputs of",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "cannot read the inputs of",
        ),
        (
            "of the other format",
            tflite,
            "is a TFLite file (its header holds the identifier TFL3), not ONNX: give it as `tflite = ...`",
        ),
    ];
    for (what, bytes, expected) in cases {
        let (code, stderr, _) = check_with_model(VALID, &bytes);
        assert_ne!(code, 0, "{what}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains("m.onnx"),
            "{what}: {stderr}"
        );
    }
    let other_shape = VALID.replace("shape = [1, 3, 8, 8]", "shape = [1, 3, 16, 16]");
    let (code, stderr, _) = check(&other_shape);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("model input `x` is declared [1, 3, 8, 8]; the scenario's shape [1, 3, 16, 16] does not fit it"),
        "{stderr}"
    );
}

#[test]
fn an_engine_option_the_engine_does_not_have() {
    let text = VALID.replace(
        "[backends.tract]",
        "[backends.tract]\noptions = { turbo = true }",
    );
    let (code, stderr, _) = check(&text);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("field `backends.tract.options.turbo`: tract has no option `turbo`"),
        "{stderr}"
    );
}

#[test]
fn a_name_too_long_for_a_folder() {
    let text = VALID.replace("name = \"t\"", &format!("name = \"{}\"", "n".repeat(300)));
    assert_refused(&text, "1:8", "name", "must be 1 to 200 characters");
}

#[test]
fn cpus_check_names_the_missing_ones() {
    let text = VALID.replace("min_runs = 3", "min_runs = 3\ncpus = [0, 999]");
    let (code, stderr, _) = check(&text);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("cpus names 999, which this machine does not have"),
        "{stderr}"
    );
}

#[test]
fn cpus_the_machine_does_not_have() {
    let stderr = run_refused(&["--cpus", "0,4096"]);
    assert!(
        stderr.contains("cpus names 4096, which this machine does not have"),
        "{stderr}"
    );
}

#[test]
fn a_memory_limit_too_small_for_a_worker_to_start() {
    let text = VALID.replace("min_runs = 3", "min_runs = 3\nmemory_limit_mb = 1");
    let stderr = run_refused_with(&text, &[]);
    assert!(
        stderr.contains("memory_limit_mb = 1 is too small for a worker to start here"),
        "{stderr}"
    );
}

#[test]
fn a_thread_count_far_above_the_machines_cores() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let stderr = run_refused(&["--threads", &format!("1,{}", 4 * cores + 1)]);
    let expected = format!(
        "{} threads is more than 4 times this machine's {cores} logical cores; measure at most {}",
        4 * cores + 1,
        4 * cores
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_unreadable_scenario_names_its_path() {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["check", "/nonexistent/scenario.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/scenario.toml: cannot read the scenario file"),
        "{stderr}"
    );
    assert!(!Path::new("/nonexistent").exists());
}

#[test]
fn a_baseline_must_be_another_model_that_is_no_variant() {
    let variant = |baseline: &str| {
        VALID.replace(
            "[inputs]",
            &format!(
                "[[models]]\nname = \"v\"\nbaseline = \"{baseline}\"\nonnx = \"m.onnx\"\n\n[models.input]\nshape = [1, 3, 8, 8]\n\n[inputs]"
            ),
        )
    };
    assert_refused(
        &variant("nowhere"),
        "13:12",
        "models[1].baseline",
        "`nowhere`, which is not a model",
    );
    assert_refused(
        &variant("v"),
        "13:12",
        "models[1].baseline",
        "names the model itself",
    );
    let (code, stderr, _) = check(&variant("m"));
    assert_eq!(code, 0, "{stderr}");
    // A variant of a variant: name the baseline itself.
    let chained = variant("m").replace(
        "[inputs]",
        "[[models]]\nname = \"w\"\nbaseline = \"v\"\nonnx = \"m.onnx\"\n\n[models.input]\nshape = [1, 3, 8, 8]\n\n[inputs]",
    );
    assert_refused(
        &chained,
        "21:12",
        "models[2].baseline",
        "itself a variant of `m`",
    );
}

#[test]
fn a_named_backend_entry_needs_a_compiled_in_engine() {
    let text = VALID.replace(
        "[backends.tract]\n",
        "[backends.tract]\n\n[backends.fast]\nengine = \"warp\"\n",
    );
    assert_refused(
        &text,
        "17:10",
        "backends.fast.engine",
        "no backend `warp` is compiled into this build",
    );
    let (code, stderr, _) = check(&VALID.replace(
        "[backends.tract]\n",
        "[backends.tract]\n\n[backends.again]\nengine = \"tract\"\n",
    ));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_target_defined_in_the_scenario_is_checked_with_the_rest() {
    let text = format!("{VALID}\n[targets.pi]\nkind = \"ssh\"\nuser = \"pi\"\n");
    assert_refused(&text, "19:10", "targets.pi.host", "an ssh target needs it");
    let text = format!("{VALID}\n[targets.pi]\nkind = \"ssh\"\nhots = \"pi.local\"\n");
    assert_refused(&text, "21:1", "targets.pi.hots", "unknown field `hots`");
}

#[test]
fn a_fleet_defined_in_the_scenario_is_checked_with_the_rest() {
    let text = format!("{VALID}\n[fleets.shop]\ntargets = []\n");
    assert_refused(
        &text,
        "19:9",
        "fleets.shop.targets",
        "a fleet names at least one target",
    );
    let text = format!("{VALID}\n[fleets.shop]\ntargets = [\"pi\", \"local\", \"pi\"]\n");
    assert_refused(&text, "19:9", "fleets.shop.targets", "`pi` is named twice");
    let (code, stderr, _) = check(&format!(
        "{VALID}\n[fleets.shop]\ntargets = [\"pi\", \"local\"]\n"
    ));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn named_inputs_are_checked_each_under_its_own_name() {
    let named = VALID.replace(
        "[models.input]\nshape = [1, 3, 8, 8]",
        "[models.inputs.input_ids]\nshape = [1, 16]\nelement_type = \"i64\"\nuniform = [0, 1]",
    );
    assert_refused(
        &named,
        "8:1",
        "models[0].inputs.input_ids",
        "`uniform` is for float inputs; a i64 input takes `range = [low, high]`",
    );
    let too_wide = named.replace(
        "element_type = \"i64\"\nuniform = [0, 1]",
        "element_type = \"u8\"\nrange = [0, 300]",
    );
    assert_refused(
        &too_wide,
        "8:1",
        "models[0].inputs.input_ids",
        "`range = [0, 300]` does not fit u8 (0 to 255)",
    );
    let both = named.replace("[inputs]", "[models.input]\nshape = [1]\n\n[inputs]");
    assert_refused(
        &both,
        "4:1",
        "models[0].inputs",
        "give either `[models.input]` (a model with one input) or `[models.inputs.NAME]` tables",
    );
}

#[test]
fn a_model_path_that_is_a_folder_or_a_file_of_the_other_format_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder.onnx")).unwrap();
    std::fs::write(dir.path().join("m.onnx"), model_bytes()).unwrap();
    let cases = [
        (
            VALID.replace("\"m.onnx\"", "\"folder.onnx\""),
            "6:8: field `models[0].onnx`",
            "folder.onnx is a folder, not a model file",
        ),
        (
            VALID.replace("onnx = \"m.onnx\"", "tflite = \"m.onnx\""),
            "6:10: field `models[0].tflite`",
            "m.onnx is not a TFLite file (no TFL3 identifier at byte 4) and starts as an ONNX file does: give it \
             as `onnx = ...`",
        ),
    ];
    for (text, place, words) in cases {
        let (code, stderr, file) = check_in(dir.path(), &text);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{file}:{place}: ")) && stderr.contains(words),
            "`{place}` and `{words}` in: {stderr}"
        );
    }
}

#[test]
fn a_missing_npy_file_is_named_by_its_field() {
    let text = VALID.replace(
        "shape = [1, 3, 8, 8]",
        "shape = [1, 3, 8, 8]\nnpy = \"data/absent\"",
    );
    let (code, stderr, file) = check(&text);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{file}: field `models[0].input.npy`: cannot read {}",
            Path::new(&file)
                .parent()
                .unwrap()
                .join("data/absent")
                .display()
        )),
        "{stderr}"
    );
}
