//! candle: Hugging Face's Rust ML framework. candle has no ONNX runtime of its own (`candle_onnx::simple_eval`
//! decodes every weight from protobuf on every call), so this backend reads the ONNX graph once, turns it into
//! an execution plan of candle operations with the weights as candle tensors ([`plan`]), and a run executes
//! only those operations: what is timed is candle's compute.

pub mod ops;
pub mod plan;

use candle_core::Tensor as CandleTensor;
use harness_backend_api::{
    BackendError, Engine, EngineSession, LoadRequest, ModelFormat, Opened, Profile, Profiling,
    Setting, Tensor, TensorData,
};
use std::time::Instant;

const NAME: &str = "candle";
/// The pinned version of candle-core (checked against Cargo.lock by a test).
pub const CANDLE_VERSION: &str = "0.11.1";

pub struct CandleBackend;

impl Engine for CandleBackend {
    const NAME: &'static str = NAME;
    const THREADS_NOTE: &'static str = "every inference runs inside a rayon pool of N threads, and \
RAYON_NUM_THREADS is set to N in the measuring process before candle first runs: candle reads it on each matrix \
product to size its gemm parallelism, and rayon's global pool, which candle's kernels also use, takes its size \
from it once; element-wise operations run on the calling thread.";
    /// The backend's own plan, each step timed: candle's CPU operations finish before they return.
    const PROFILING: Profiling = Profiling::Supported;
    type Session = CandleSession;

    fn unread_format_hint(&self, format: ModelFormat) -> Option<String> {
        Some(format!(
            "candle has no {format} reader; give it the ONNX file"
        ))
    }

    fn version(&self) -> String {
        CANDLE_VERSION.to_string()
    }

    fn runtime(&self) -> Result<String, String> {
        Ok("built in (pure Rust, CPU)".to_string())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<CandleSession>, BackendError> {
        let harness_onnx_graph::FloatModel {
            proto,
            inputs,
            outputs,
        } = harness_onnx_graph::read_float_model(request, "the candle plan computes in f32")?;
        let plan = plan::build(&proto).map_err(|e| request.error(e))?;
        let threads = request.threads;
        // candle sizes each gemm's parallelism from this variable, read on every matrix product. The harness
        // measures one session per worker process, so the setting belongs to this measurement alone.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("candle-{i}"))
            .build()
            .map_err(|e| request.error(format!("cannot start {threads} threads: {e}")))?;
        Ok(Opened {
            session: CandleSession {
                plan,
                pool,
                threads,
                last: Vec::new(),
                profile: Profile::default(),
            },
            inputs,
            outputs,
        })
    }
}

pub struct CandleSession {
    plan: plan::Plan,
    pool: rayon::ThreadPool,
    threads: usize,
    last: Vec<CandleTensor>,
    profile: Profile,
}

fn input_error(e: candle_core::Error) -> BackendError {
    BackendError::input(NAME, e)
}

fn to_candle(inputs: Vec<Tensor>) -> Result<Vec<CandleTensor>, BackendError> {
    inputs
        .into_iter()
        .map(|t| match t.data {
            TensorData::F32(values) => ops::tensor(values, &t.shape).map_err(input_error),
            other => Err(BackendError::unsupported(
                NAME,
                format!(
                    "{} inputs (the candle plan computes in f32)",
                    other.element_type()
                ),
            )),
        })
        .collect()
}

impl EngineSession for CandleSession {
    type Inputs = Vec<CandleTensor>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Vec<CandleTensor>, BackendError> {
        to_candle(inputs)
    }

    fn run(&mut self, inputs: &mut Vec<CandleTensor>) -> Result<(), BackendError> {
        let plan = &self.plan;
        self.last = self
            .pool
            .install(|| plan.run(inputs))
            .map_err(|reason| BackendError::run(NAME, reason))?;
        Ok(())
    }

    fn run_profiled(&mut self, inputs: &mut Vec<CandleTensor>) -> Result<(), BackendError> {
        let (plan, profile) = (&self.plan, &mut self.profile);
        self.last = self
            .pool
            .install(|| {
                plan.run_with(inputs, |step, evaluate| {
                    let started = Instant::now();
                    let value = evaluate();
                    profile.add(&step.node, &step.op_type, started.elapsed());
                    value
                })
            })
            .map_err(|reason| BackendError::run(NAME, reason))?;
        Ok(())
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(std::mem::take(&mut self.profile))
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.last
            .iter()
            .map(|t| {
                Ok(Tensor {
                    shape: t.dims().to_vec(),
                    data: TensorData::F32(ops::values(t).map_err(|e| BackendError::run(NAME, e))?),
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
    use harness_backend_api::{Backend, LoadOptions};
    use std::path::Path;

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
