//! candle: Hugging Face's Rust ML framework. candle has no ONNX runtime of its own (`candle_onnx::simple_eval`
//! decodes every weight from protobuf on every call), so this backend reads the ONNX graph once, turns it into
//! an execution plan of candle operations with the weights as candle tensors ([`plan`]), and a run executes
//! only those operations: what is timed is candle's compute.

pub mod ops;
pub mod plan;

use candle_core::Tensor as CandleTensor;
use harness_backend_api::{
    Backend, BackendError, BackendInfo, LoadOptions, ModelFormat, PreparedInput, PreparedInputs,
    Session, Setting, Tensor, TensorData, TensorInfo,
};
use std::path::Path;

const NAME: &str = "candle";
/// The pinned version of candle-core (checked against Cargo.lock by a test).
pub const CANDLE_VERSION: &str = "0.11.1";
const THREADS_NOTE: &str = "every inference runs inside a rayon pool of N threads, and RAYON_NUM_THREADS is set \
to N in the measuring process before candle first runs: candle reads it on each matrix product to size its gemm \
parallelism, and rayon's global pool, which candle's kernels also use, takes its size from it once; element-wise \
operations run on the calling thread.";

pub struct CandleBackend;

impl Backend for CandleBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: NAME.to_string(),
            engine_version: CANDLE_VERSION.to_string(),
            formats: vec![ModelFormat::Onnx],
            runtime: Ok("built in (pure Rust, CPU)".to_string()),
            threads_note: THREADS_NOTE.to_string(),
        }
    }

    fn load(
        &self,
        model: &Path,
        format: ModelFormat,
        options: &LoadOptions,
    ) -> Result<Box<dyn Session>, BackendError> {
        options.engine.ensure_known(NAME, &[])?;
        if format != ModelFormat::Onnx {
            return Err(BackendError::Unsupported {
                engine: NAME.to_string(),
                what: format!(
                    "{format} models (candle has no {format} reader; give it the ONNX file)"
                ),
            });
        }
        let load_error = |reason: String| BackendError::Load {
            engine: NAME.to_string(),
            path: model.display().to_string(),
            reason,
        };
        let harness_onnx_graph::FloatModel {
            proto,
            inputs,
            outputs,
        } = harness_onnx_graph::read_float_model(model, NAME, "the candle plan computes in f32")?;
        let plan = plan::build(&proto).map_err(|e| load_error(e.to_string()))?;
        let threads = options.threads.max(1);
        // candle sizes each gemm's parallelism from this variable, read on every matrix product. The harness
        // measures one session per worker process, so the setting belongs to this measurement alone.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("candle-{i}"))
            .build()
            .map_err(|e| load_error(format!("cannot start {threads} threads: {e}")))?;
        Ok(Box::new(CandleSession {
            plan,
            pool,
            inputs,
            outputs,
            threads,
            prepared: PreparedInputs::default(),
            last: Vec::new(),
        }))
    }
}

struct CandleSession {
    plan: plan::Plan,
    pool: rayon::ThreadPool,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    threads: usize,
    prepared: PreparedInputs<Vec<CandleTensor>>,
    last: Vec<CandleTensor>,
}

fn input_error(e: candle_core::Error) -> BackendError {
    BackendError::Input {
        engine: NAME.to_string(),
        reason: e.to_string(),
    }
}

fn to_candle(inputs: Vec<Tensor>) -> Result<Vec<CandleTensor>, BackendError> {
    inputs
        .into_iter()
        .map(|t| match t.data {
            TensorData::F32(values) => ops::tensor(values, &t.shape).map_err(input_error),
            other => Err(BackendError::Unsupported {
                engine: NAME.to_string(),
                what: format!(
                    "{} inputs (the candle plan computes in f32)",
                    other.element_type()
                ),
            }),
        })
        .collect()
}

impl Session for CandleSession {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn prepare(&mut self, inputs: Vec<Tensor>) -> Result<PreparedInput, BackendError> {
        Ok(self.prepared.add(to_candle(inputs)?))
    }

    fn refill(&mut self, input: PreparedInput, inputs: Vec<Tensor>) -> Result<(), BackendError> {
        self.prepared.replace(input, to_candle(inputs)?);
        Ok(())
    }

    fn run(&mut self, input: PreparedInput) -> Result<(), BackendError> {
        let (plan, inputs) = (&self.plan, self.prepared.get(input));
        self.last = self
            .pool
            .install(|| plan.run(inputs))
            .map_err(|reason| BackendError::Run {
                engine: NAME.to_string(),
                reason,
            })?;
        Ok(())
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.last
            .iter()
            .map(|t| {
                Ok(Tensor {
                    shape: t.dims().to_vec(),
                    data: TensorData::F32(ops::values(t).map_err(|e| BackendError::Run {
                        engine: NAME.to_string(),
                        reason: e.to_string(),
                    })?),
                })
            })
            .collect()
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new("threads", self.threads),
            Setting::new("plan", format!("{} candle steps", self.plan.steps.len())),
            Setting::new(
                "depthwise_conv",
                if self.plan.has_depthwise() {
                    "composed (shifted multiply-adds)"
                } else {
                    "none"
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_version_matches_the_locked_crate() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .expect("Cargo.lock at the workspace root");
        let entry = format!("name = \"candle-core\"\nversion = \"{CANDLE_VERSION}\"");
        assert!(
            lock.contains(&entry),
            "Cargo.lock does not lock candle-core {CANDLE_VERSION}"
        );
    }

    #[test]
    fn tflite_is_reported_unsupported() {
        let options = LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        };
        let err = CandleBackend
            .load(
                Path::new("/nonexistent.tflite"),
                ModelFormat::Tflite,
                &options,
            )
            .err()
            .expect("an error");
        assert!(matches!(err, BackendError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("tflite"), "{err}");
    }

    #[test]
    fn a_missing_model_names_the_path() {
        let options = LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        };
        let err = CandleBackend
            .load(
                Path::new("/nonexistent/m.onnx"),
                ModelFormat::Onnx,
                &options,
            )
            .err()
            .expect("an error");
        assert!(err.to_string().contains("/nonexistent/m.onnx"), "{err}");
    }
}
