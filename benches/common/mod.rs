//! What the benchmarks that hold a backend against its engine called directly share: the MobileNetV2
//! measurement plan, and alternating rounds of "through the harness" and "plain loop".
#![allow(dead_code)] // Each benchmark uses its own subset.

use harness::inputs::{InputDescription, InputSource, ModelInputs, RandomInputs};
use harness::measure::{MeasureRules, MonotonicClock};
use harness::plan::{MeasurementPlan, Timing};
use harness::run::execute::execute;
use harness_backend_api::{Backend, ElementType, Layout, ModelFormat};
use std::path::PathBuf;
use std::time::Instant;

pub const WARMUP: u64 = 20;

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub fn mobilenet_onnx() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2/mobilenet_v2.onnx")
}

/// The harness's plan for `runs` timed runs of MobileNetV2 (ONNX) on `backend`, and six random inputs.
pub fn mobilenet_plan(backend: &str, threads: usize, runs: u64) -> (MeasurementPlan, ModelInputs) {
    let input = InputDescription {
        shape: vec![1, 3, 224, 224],
        layout: Some(Layout::Nchw),
        element_type: ElementType::F32,
        ..InputDescription::default()
    };
    let source = InputSource {
        random: Some(RandomInputs { count: 6, seed: 1 }),
        images: None,
        pin: None,
    };
    let inputs = source
        .prepare(std::slice::from_ref(&input), None)
        .expect("random inputs");
    let plan = MeasurementPlan {
        model: "mobilenet_v2".into(),
        baseline: None,
        quantized: false,
        model_path: mobilenet_onnx(),
        format: ModelFormat::Onnx,
        backend: backend.into(),
        engine: backend.into(),
        threads,
        timing: Timing::Inference,
        round: 0,
        options: Default::default(),
        inputs: vec![input],
        pin: None,
        rules: MeasureRules {
            warmup_runs: WARMUP,
            warmup_seconds: 0.0,
            min_runs: runs,
            min_seconds: 0.0,
            max_seconds: 300.0,
            ..MeasureRules::default()
        },
    };
    (plan, inputs)
}

/// Alternates `rounds` measurements through the harness with `rounds` plain loops of `runs` calls to
/// `direct(i)` (after the same warm-up), so that drift hits both alike; prints each round and the medians.
pub fn harness_against_direct(
    what: &str,
    backend: &dyn Backend,
    plan: &MeasurementPlan,
    inputs: &ModelInputs,
    rounds: usize,
    mut direct: impl FnMut(usize),
) {
    let clock = MonotonicClock::new();
    let runs = plan.rules.min_runs;
    let (mut through_harness, mut plain) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let record = execute(plan, backend, inputs, "bench", &clock);
        let harness_median = record.summary.expect("measured").median_ms;
        through_harness.push(harness_median);

        let mut latencies = Vec::with_capacity(runs as usize);
        for i in 0..(WARMUP + runs) as usize {
            let started = Instant::now();
            direct(i);
            let elapsed = started.elapsed();
            if i as u64 >= WARMUP {
                latencies.push(elapsed.as_secs_f64() * 1e3);
            }
        }
        let plain_median = median(latencies);
        plain.push(plain_median);
        println!("round {round}: harness {harness_median:.4} ms, plain loop {plain_median:.4} ms");
    }
    let (h, p) = (median(through_harness), median(plain));
    println!(
        "{what}, median of {rounds} rounds of {runs} runs: harness {h:.4} ms, plain loop {p:.4} ms, \
         difference {:+.2}%",
        (h - p) / p * 100.0
    );
}
