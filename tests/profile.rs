#![cfg(all(
    feature = "candle",
    feature = "mnn",
    feature = "ncnn",
    feature = "opencv",
    feature = "openvino",
    feature = "ort",
    feature = "tract"
))]
//! Operator profiles: a small graph with one convolution of each kind, an activation, a pooling and a matrix
//! product, profiled by `harness run --profile` on every engine that reads ONNX. Each engine that profiles
//! must report its nodes in the shared classes with call counts that fit the profiled runs; one that cannot
//! must say why.

mod common;

use common::{csv_rows, run_harness, summary_rows, ONNX_ENGINES};
use harness_onnx_graph::build::{floats, int, ints, model, node};
use std::collections::HashMap;

/// x [1, 8, 32, 32] → 3×3 convolution to 16 channels → Relu → 3×3 depthwise convolution → 1×1 convolution to
/// 32 channels → global average pool → flatten → Gemm to 10 classes.
fn network() -> harness_onnx_graph::pb::ModelProto {
    let weights = |name: &str, dims: &[usize]| {
        let count = dims.iter().product();
        let values: Vec<f32> = (0..count).map(|i| ((i % 7) as f32 - 3.0) * 0.05).collect();
        floats(name, dims, &values)
    };
    let named = |name: &str, mut n: harness_onnx_graph::pb::NodeProto| {
        n.name = name.into();
        n
    };
    model(
        vec![
            named(
                "full_conv",
                node(
                    "Conv",
                    &["x", "w1"],
                    "a",
                    vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
                ),
            ),
            named("relu", node("Relu", &["a"], "b", vec![])),
            named(
                "depthwise",
                node(
                    "Conv",
                    &["b", "w2"],
                    "c",
                    vec![
                        int("group", 16),
                        ints("kernel_shape", &[3, 3]),
                        ints("pads", &[1, 1, 1, 1]),
                    ],
                ),
            ),
            named(
                "pointwise",
                node(
                    "Conv",
                    &["c", "w3"],
                    "d",
                    vec![ints("kernel_shape", &[1, 1])],
                ),
            ),
            named("pool", node("GlobalAveragePool", &["d"], "e", vec![])),
            named("flatten", node("Flatten", &["e"], "f", vec![])),
            named(
                "classifier",
                node("Gemm", &["f", "w4", "b4"], "y", vec![int("transB", 1)]),
            ),
        ],
        vec![
            weights("w1", &[16, 8, 3, 3]),
            weights("w2", &[16, 1, 3, 3]),
            weights("w3", &[32, 16, 1, 1]),
            weights("w4", &[10, 32]),
            weights("b4", &[10]),
        ],
        &[1, 8, 32, 32],
        &[1, 10],
        13,
    )
}

#[test]
fn every_engine_that_profiles_reports_its_nodes_in_the_shared_classes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("small.onnx"),
        harness_onnx_graph::encode(&network()),
    )
    .unwrap();
    let backends: String = ONNX_ENGINES
        .iter()
        .map(|e| format!("[backends.{e}]\n"))
        .collect();
    let scenario = dir.path().join("small.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"small\"\nthreads = [1]\noutput = \"results\"\n\n[[models]]\nname = \"small\"\n\
             onnx = \"small.onnx\"\n\n[models.input]\nshape = [1, 8, 32, 32]\nlayout = \"NCHW\"\n\n\
             [inputs]\nrandom = {{ count = 1, seed = 5 }}\n\n{backends}\n[measure]\nwarmup_runs = 1\n\
             warmup_seconds = 0\nmin_runs = 4\nmin_seconds = 0\n"
        ),
    )
    .unwrap();
    let (_, folder) = run_harness(&["--profile"], &scenario, &dir.path().join("cache"));
    let summary = summary_rows(&folder);
    let profile = csv_rows(&folder.join("profile.csv"));
    if std::env::var_os("SHOW_PROFILE").is_some() {
        for r in &profile {
            let cells = [
                "backend",
                "status",
                "node",
                "op_type",
                "class",
                "calls",
                "per_run_us",
                "note",
            ];
            eprintln!("{}", cells.map(|c| r[c].as_str()).join(" | "));
        }
    }

    // The timed rows come first and are complete: profiling adds rows of its own.
    for engine in ONNX_ENGINES {
        let row = summary.iter().find(|r| r["backend"] == engine).unwrap();
        assert_eq!(row["status"], "ok", "{engine}: {}", row["error"]);
    }
    let of = |engine: &str| -> Vec<&HashMap<String, String>> {
        profile.iter().filter(|r| r["backend"] == engine).collect()
    };

    // ncnn's C API has no per-layer timing: one row says so.
    let ncnn = of("ncnn");
    assert_eq!(ncnn.len(), 1);
    assert_eq!(ncnn[0]["status"], "unsupported");
    assert!(
        ncnn[0]["error"].contains("no per-layer timing"),
        "{}",
        ncnn[0]["error"]
    );

    for engine in ["candle", "mnn", "opencv", "openvino", "ort", "tract"] {
        let nodes = of(engine);
        assert!(!nodes.is_empty(), "{engine}: no profile rows");
        assert_eq!(nodes[0]["status"], "ok", "{engine}: {}", nodes[0]["error"]);
        let runs: u64 = nodes[0]["profiled_runs"].parse().unwrap();
        assert_eq!(
            runs, 4,
            "{engine}: the profiled runs are the rules' min_runs"
        );
        let number = |row: &HashMap<String, String>, column: &str| -> f64 {
            row[column]
                .parse()
                .unwrap_or_else(|_| panic!("{engine}: {column} = {}", row[column]))
        };
        // Each node runs once per profiled run (or never, when the engine optimised it out).
        for node in &nodes {
            let calls: u64 = node["calls"].parse().unwrap();
            assert!(
                calls == 0 || calls == runs,
                "{engine}: node {} ran {calls} times in {runs} runs",
                node["node"]
            );
        }
        let calls_of = |class: &str| -> u64 {
            nodes
                .iter()
                .filter(|n| n["class"] == class)
                .map(|n| n["calls"].parse::<u64>().unwrap())
                .max()
                .unwrap_or(0)
        };
        // The file's one depthwise and one pointwise convolution stay apart, and the full one too.
        for class in ["conv", "depthwise conv", "pointwise conv"] {
            assert_eq!(
                calls_of(class),
                runs,
                "{engine}: class {class} in {nodes:#?}"
            );
        }
        // Shares add up to the whole, and the nodes' time fits in the profiled runs' wall time.
        let shares: f64 = nodes.iter().map(|n| number(n, "share")).sum();
        assert!(
            (shares - 1.0).abs() < 1e-3,
            "{engine}: shares add up to {shares}"
        );
        let node_ms: f64 = nodes.iter().map(|n| number(n, "per_run_us")).sum::<f64>() / 1e3;
        let profiled_ms = number(nodes[0], "profiled_run_ms");
        assert!(
            node_ms > 0.0 && node_ms <= profiled_ms * 1.05,
            "{engine}: nodes {node_ms} ms in a {profiled_ms} ms run"
        );
        let overhead = number(nodes[0], "profiling_overhead");
        let median = number(nodes[0], "unprofiled_median_ms");
        assert!(
            (overhead - profiled_ms / median).abs() < 1e-3 * overhead,
            "{engine}"
        );
    }

    // Where an engine fused the convolution and its ReLU, the rows say so.
    let note = |engine: &str, node: &str| {
        of(engine)
            .into_iter()
            .find(|r| r["node"] == node)
            .unwrap_or_else(|| panic!("{engine}: no node {node}"))["note"]
            .clone()
    };
    assert_eq!(
        note("ort", "b_nchwc"),
        "fused: the conv and the activation after it"
    );
    assert!(note("opencv", "onnx_node!relu").starts_with("no time of its own"));
    assert!(note("openvino", "relu").starts_with("not run"));

    // The report shows the chart and each engine's slowest nodes.
    let report = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(report.contains("## Where the time goes"), "{report}");
    assert!(report.contains("charts/profile-small.png"), "{report}");
    assert!(
        report.contains("tract · onnx · 1 thread: the ten slowest nodes"),
        "{report}"
    );

    // `harness profile` compares two of them by class.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["profile", "ort", "tract", "--results"])
        .arg(&folder)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("A: small/ort:onnx@1"), "{text}");
    for class in ["depthwise conv", "pointwise conv", "all nodes"] {
        assert!(
            text.lines().any(|l| l.starts_with(class)),
            "{class} in {text}"
        );
    }
}
