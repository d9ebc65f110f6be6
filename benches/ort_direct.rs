//! Does the harness report what ONNX Runtime really delivers? MobileNetV2, 1 thread: the harness's median
//! against a plain loop that calls an identically configured session directly. Goal: within 2%.
//! Run with `cargo bench --bench ort_direct` (after scripts/setup.sh).

mod common;

use harness_backend_api::TensorData;
use harness_backend_ort::OrtBackend;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

fn main() {
    let (plan, inputs) = common::mobilenet_plan("ort", 1, 400);
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
        .commit_from_file(common::mobilenet_onnx())
        .unwrap();
    let values: Vec<ort::value::Tensor<f32>> = inputs
        .sets
        .iter()
        .map(|set| &set[0])
        .map(|t| {
            let TensorData::F32(data) = &t.data else {
                unreachable!()
            };
            ort::value::Tensor::from_array((t.shape.clone(), data.clone())).unwrap()
        })
        .collect();
    common::harness_against_direct(
        "ONNX Runtime, MobileNetV2, 1 thread",
        &OrtBackend,
        &plan,
        &inputs,
        5,
        |i| {
            let value = &values[i % values.len()];
            drop(direct.run(ort::inputs!["input" => value]).unwrap());
        },
    );
}
