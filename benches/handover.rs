//! What handing large inputs to a worker process costs: 1×3×960×960 inputs (a text detector's), six of them,
//! ONNX Runtime at one thread, one warm-up and three timed runs, run in a worker process and in the harness's
//! own process, alternately. Two networks: a text detector's shape of work (three 3×3 convolutions at full
//! resolution, 2.6 GMAC, a 960×960 probability map out), and a single Relu, where the hand-over is all there is
//! (the worst case: nothing to set it against). Prints each run's wall time, the medians, their ratio and the
//! rows' `handover_ms`. Run with `cargo bench --bench handover`. Goal: the detector's worker within 1.2× of in
//! process.

mod common;

use harness::run::isolation::{Isolation, Workers};
use harness_onnx_graph::build::{floats, ints, model, node};
use harness_onnx_graph::pb;
use std::path::Path;
use std::time::Instant;

const SHAPE: [usize; 4] = [1, 3, 960, 960];

/// Three 3×3 convolutions (3→16→16→1 channels) at full resolution, each padded to keep the size, and a
/// sigmoid: a probability map the size of the image, as text detectors give.
fn detector() -> pb::ModelProto {
    let layers = [(3, 16), (16, 16), (16, 1)];
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    for (index, &(inputs, outputs)) in layers.iter().enumerate() {
        let count = outputs * inputs * 9;
        let weights: Vec<f32> = (0..count)
            .map(|i| ((i * 7919) % 13) as f32 * 0.02 - 0.12)
            .collect();
        let (weight, bias) = (format!("w{index}"), format!("b{index}"));
        initializers.push(floats(&weight, &[outputs, inputs, 3, 3], &weights));
        initializers.push(floats(&bias, &[outputs], &vec![0.01; outputs]));
        let source = if index == 0 {
            "x".to_string()
        } else {
            format!("relu{}", index - 1)
        };
        let mut conv = node(
            "Conv",
            &[&source, &weight, &bias],
            &format!("conv{index}"),
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
        );
        conv.name = format!("conv{index}");
        nodes.push(conv);
        let (activation, output) = if index + 1 < layers.len() {
            ("Relu", format!("relu{index}"))
        } else {
            ("Sigmoid", "y".to_string())
        };
        let mut activate = node(activation, &[&format!("conv{index}")], &output, vec![]);
        activate.name = output.clone();
        nodes.push(activate);
    }
    model(nodes, initializers, &SHAPE, &[1, 1, 960, 960], 13)
}

fn relu() -> pb::ModelProto {
    model(
        vec![node("Relu", &["x"], "y", vec![])],
        vec![],
        &SHAPE,
        &SHAPE,
        13,
    )
}

fn scenario(dir: &Path, name: &str, network: &pb::ModelProto) -> harness::scenario::Scenario {
    std::fs::write(
        dir.join(format!("{name}.onnx")),
        harness_onnx_graph::encode(network),
    )
    .unwrap();
    let text = format!(
        "name = \"handover-{name}\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"{name}\"\n\
         onnx = \"{name}.onnx\"\n[models.input]\nshape = {SHAPE:?}\n[inputs]\nrandom = {{ count = 6, seed = 1 }}\n\
         [backends.ort]\n[measure]\nwarmup_runs = 1\nwarmup_seconds = 0\nmin_runs = 3\nmin_seconds = 0\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    let infos = harness::backends::infos(&harness::backends::compiled_in());
    harness::scenario::load(&path, &infos).unwrap()
}

/// Runs `scenario` three times each way, alternately; returns the medians (worker, in process).
fn compare(scenario: &harness::scenario::Scenario) -> (f64, f64) {
    let backends = harness::backends::compiled_in();
    let workers =
        || Isolation::Subprocess(Workers::new(env!("CARGO_BIN_EXE_harness").into(), None));
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for (index, (way, isolation)) in
            [("worker", workers()), ("in process", Isolation::InProcess)]
                .into_iter()
                .enumerate()
        {
            let started = Instant::now();
            let outcome =
                harness::run::run(scenario, &backends, &isolation, &mut std::io::sink()).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let record = &outcome.records[0];
            assert!(record.error.is_none(), "{:?}", record.error);
            println!(
                "{}, round {round}: {way:>10}: {seconds:.2} s, hand-over {}, load {:.0} ms, first run {:.0} ms, \
                 median run {:.0} ms",
                scenario.name,
                record.handover_ms.map_or("none".to_string(), |ms| format!("{ms:.0} ms")),
                record.load_ms.unwrap_or_default(),
                record.first_run_ms.unwrap_or_default(),
                common::median(record.samples_ns.iter().map(|&ns| ns as f64 / 1e6).collect()),
            );
            times[index].push(seconds);
        }
    }
    let [worker, in_process] = times;
    (common::median(worker), common::median(in_process))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    for (name, network) in [("detector", detector()), ("relu", relu())] {
        let (worker, in_process) = compare(&scenario(dir.path(), name, &network));
        println!(
            "{name}: median worker {worker:.2} s, in process {in_process:.2} s, ratio {:.2}",
            worker / in_process
        );
    }
}
