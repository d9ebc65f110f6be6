//! Is the candle backend's per-run cost candle's compute? MobileNetV2, 1 thread: the harness's median against
//! a plain loop that executes the same plan directly (built by the backend's planner, run in a rayon pool of
//! the same size). Goal: within 2%. Run with `cargo bench --bench candle_direct`.
//!
//! One thread count per process: candle's matrix products also use rayon's global pool, which takes its size
//! from RAYON_NUM_THREADS once, when first used (the harness measures each row in a new worker process).

mod common;

use harness_backend_api::TensorData;
use harness_backend_candle::{ops, plan, CandleBackend};

fn main() {
    let bytes = std::fs::read(common::mobilenet_onnx()).unwrap();
    let model = harness_onnx_graph::decode(&bytes).unwrap();
    let direct_plan = plan::build(&model).unwrap();
    let threads = 1;
    let (measurement, inputs) = common::mobilenet_plan("candle", threads, 60);
    let tensors: Vec<candle_core::Tensor> = inputs
        .sets
        .iter()
        .map(|set| &set[0])
        .map(|t| {
            let TensorData::F32(data) = &t.data else {
                unreachable!()
            };
            ops::tensor(data.clone(), &t.shape).unwrap()
        })
        .collect();
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    common::harness_against_direct(
        "candle, MobileNetV2, 1 thread",
        &CandleBackend,
        &measurement,
        &inputs,
        3,
        |i| {
            let input = std::slice::from_ref(&tensors[i % tensors.len()]);
            drop(pool.install(|| direct_plan.run(input)).unwrap());
        },
    );
}
