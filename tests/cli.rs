//! The command line's own surface: its version, shell completions and manual page.

use std::process::Command;

fn harness(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_version_names_the_commit() {
    let version = harness(&["--version"]);
    assert!(version.starts_with("harness 0."), "{version}");
    assert!(version.contains("(commit "), "{version}");
}

#[test]
fn completions_and_the_manual_cover_every_command() {
    let bash = harness(&["completions", "bash"]);
    let man = harness(&["man"]);
    assert!(man.contains(".TH harness 1"), "{man}");
    for command in [
        "run", "init", "report", "compare", "check", "backends", "inspect",
    ] {
        assert!(
            bash.contains(&format!("harness__{command}")),
            "bash: {command}"
        );
        assert!(
            man.contains(&format!("harness\\-{command}")),
            "man: {command}"
        );
    }
}

#[test]
fn backends_and_check_answer_in_json_for_scripts() {
    let backends: serde_json::Value =
        serde_json::from_str(&harness(&["backends", "--json"])).unwrap();
    let names: Vec<&str> = backends
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"tract"), "{names:?}");
    let tract = backends
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "tract")
        .unwrap();
    assert_eq!(tract["formats"], serde_json::json!(["onnx", "tflite"]));
    assert!(
        tract["runtime"].is_string() && tract["runtime_error"].is_null(),
        "{tract}"
    );

    let root = env!("CARGO_MANIFEST_DIR");
    let valid: serde_json::Value = serde_json::from_str(&harness(&[
        "check",
        "--json",
        &format!("{root}/scenarios/mobilenet.toml"),
    ]))
    .unwrap();
    assert_eq!(valid["valid"], true);
    assert!(valid["measurements"].as_u64().unwrap() > 0, "{valid}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "name = \"b\"\nthreads = [0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["check", "--json"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["line"], 2, "{verdict}");
    assert!(verdict["message"].as_str().unwrap().len() > 5, "{verdict}");
}

#[test]
fn inspect_answers_in_json_too() {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/mobilenet_v2/mobilenet_v2.onnx"
    );
    let text = harness(&["inspect", model]);
    assert!(text.contains("input f32 [1, 3, 224, 224]"), "{text}");
    // With the fault-injection doubles built in, one of them prints on standard output as it loads: the
    // answer must stay whole all the same.
    let json: serde_json::Value =
        serde_json::from_str(&harness(&["inspect", "--json", model])).unwrap();
    assert_eq!(json["format"], "onnx");
    assert!(
        json["analysis"]["Ok"]["macs"].as_u64().unwrap() > 300_000_000,
        "{json}"
    );
    assert_eq!(json["inputs"][0]["info"]["name"], "input");
    let tract = json["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["engine"] == "tract")
        .unwrap();
    assert_eq!(tract["view"]["Ok"][1][0]["name"], "logits", "{tract}");
}
