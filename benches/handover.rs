//! What handing large inputs to a worker process costs: a 1×3×960×960 input (a text detector's), six of them,
//! ONNX Runtime, one warm-up and three timed runs, run in a worker process and in the harness's own process,
//! alternately. Prints each run's wall time, the medians, their ratio and the rows' `handover_ms`.
//! Run with `cargo bench --bench handover`. Goal: the worker within 1.2× of in process.

use harness::run::isolation::{Isolation, Workers};
use harness_onnx_graph::build::{model, node};
use std::path::Path;
use std::time::Instant;

const SHAPE: [usize; 4] = [1, 3, 960, 960];

fn scenario(dir: &Path) -> harness::scenario::Scenario {
    let relu = model(
        vec![node("Relu", &["x"], "y", vec![])],
        vec![],
        &SHAPE,
        &SHAPE,
        13,
    );
    std::fs::write(dir.join("relu.onnx"), harness_onnx_graph::encode(&relu)).unwrap();
    let text = format!(
        "name = \"handover\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"relu\"\nonnx = \"relu.onnx\"\n\
         [models.input]\nshape = {SHAPE:?}\n[inputs]\nrandom = {{ count = 6, seed = 1 }}\n[backends.ort]\n\
         [measure]\nwarmup_runs = 1\nwarmup_seconds = 0\nmin_runs = 3\nmin_seconds = 0\n"
    );
    let path = dir.join("handover.toml");
    std::fs::write(&path, text).unwrap();
    let infos = harness::backends::infos(&harness::backends::compiled_in());
    harness::scenario::load(&path, &infos).unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path());
    let backends = harness::backends::compiled_in();
    let workers =
        || Isolation::Subprocess(Workers::new(env!("CARGO_BIN_EXE_harness").into(), None));
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for (index, (name, isolation)) in
            [("worker", workers()), ("in process", Isolation::InProcess)]
                .into_iter()
                .enumerate()
        {
            let started = Instant::now();
            let outcome =
                harness::run::run(&scenario, &backends, &isolation, &mut std::io::sink()).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let record = &outcome.records[0];
            assert!(record.error.is_none(), "{:?}", record.error);
            println!(
                "round {round}: {name:>10}: {seconds:.2} s, hand-over {}, load {:.0} ms, first run {:.0} ms",
                record
                    .handover_ms
                    .map_or("none".to_string(), |ms| format!("{ms:.0} ms")),
                record.load_ms.unwrap_or_default(),
                record.first_run_ms.unwrap_or_default(),
            );
            times[index].push(seconds);
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (worker, in_process) = (median(&mut times[0]), median(&mut times[1]));
    println!(
        "median: worker {worker:.2} s, in process {in_process:.2} s, ratio {:.2}",
        worker / in_process
    );
}
