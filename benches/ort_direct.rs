//! Does the harness report what ONNX Runtime really delivers? MobileNetV2, 1 thread: the harness's median
//! against a plain loop that calls an identically configured session directly. Goal: within 2%.
//! Run with `cargo bench --bench ort_direct` (after scripts/setup.sh).

use harness::execute::execute;
use harness::inputs::{InputDescription, RandomInputs};
use harness::measure::{MeasureRules, MonotonicClock};
use harness::plan::{MeasurementPlan, Timing};
use harness_backend_api::{ElementType, Layout, ModelFormat, TensorData};
use harness_backend_ort::OrtBackend;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use std::path::Path;
use std::time::Instant;

const RUNS: u64 = 400;
const WARMUP: u64 = 20;
const ROUNDS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2/mobilenet_v2.onnx");
    let input = InputDescription {
        shape: vec![1, 3, 224, 224],
        layout: Some(Layout::Nchw),
        element_type: ElementType::F32,
        quantization: None,
    };
    let inputs = RandomInputs { count: 6, seed: 1 }.generate(&input);
    let plan = MeasurementPlan {
        model: "mobilenet_v2".into(),
        model_path: model.clone(),
        format: ModelFormat::Onnx,
        backend: "ort".into(),
        threads: 1,
        timing: Timing::Inference,
        round: 0,
        options: Default::default(),
        input,
        pin: None,
        rules: MeasureRules {
            warmup_runs: WARMUP,
            warmup_seconds: 0.0,
            min_runs: RUNS,
            min_seconds: 0.0,
            max_seconds: 120.0,
            ..MeasureRules::default()
        },
    };
    let clock = MonotonicClock::new();

    let environment =
        harness_backend_ort::environment().expect("ONNX Runtime must load: run scripts/setup.sh");
    let mut direct = Session::builder(environment)
        .unwrap()
        .with_optimization_level(GraphOptimizationLevel::All)
        .unwrap()
        .with_intra_threads(1)
        .unwrap()
        .with_inter_threads(1)
        .unwrap()
        .with_parallel_execution(false)
        .unwrap()
        .commit_from_file(&model)
        .unwrap();
    let values: Vec<ort::value::Tensor<f32>> = inputs
        .tensors
        .iter()
        .map(|t| {
            let TensorData::F32(data) = &t.data else {
                unreachable!()
            };
            ort::value::Tensor::from_array((t.shape.clone(), data.clone())).unwrap()
        })
        .collect();

    // Alternate the two so that drift (thermal, other load) hits both alike.
    let (mut through_harness, mut plain) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let record = execute(&plan, &OrtBackend, &inputs, "bench", &clock);
        let harness_median = record.summary.expect("measured").median_ms;
        through_harness.push(harness_median);

        let mut latencies = Vec::with_capacity(RUNS as usize);
        for i in 0..(WARMUP + RUNS) {
            let value = &values[i as usize % values.len()];
            let started = Instant::now();
            let outputs = direct.run(ort::inputs!["input" => value]).unwrap();
            let elapsed = started.elapsed();
            drop(outputs);
            if i >= WARMUP {
                latencies.push(elapsed.as_secs_f64() * 1e3);
            }
        }
        let plain_median = median(latencies);
        plain.push(plain_median);
        println!("round {round}: harness {harness_median:.4} ms, plain loop {plain_median:.4} ms");
    }
    let (h, p) = (median(through_harness), median(plain));
    println!(
        "ONNX Runtime, MobileNetV2, 1 thread, median of {ROUNDS} rounds of {RUNS} runs: harness {h:.4} ms, \
         plain loop {p:.4} ms, difference {:+.2}%",
        (h - p) / p * 100.0
    );
}
