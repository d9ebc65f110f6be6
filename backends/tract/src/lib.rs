//! tract: Sonos's pure-Rust inference engine, reading ONNX (tract-onnx) and TFLite (tract-tflite).
//!
//! The model is parsed, typed, optimised and turned into an execution plan once, in [`Backend::load`];
//! a run feeds the prepared tract tensors to a reused plan state.

use harness_backend_api::{
    BackendError, ElementType, Engine, EngineSession, LoadRequest, ModelFormat, Opened, Setting,
    Tensor, TensorData, TensorInfo,
};
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{DimLike, SimplePlan, SimpleState};

const NAME: &str = "tract";
/// The pinned version of the tract crates (checked against Cargo.lock by a test).
pub const TRACT_VERSION: &str = "0.23.9";

pub struct TractBackend;

impl Engine for TractBackend {
    const NAME: &'static str = NAME;
    const THREADS_NOTE: &'static str = "N > 1 gives tract a private pool of N threads (tract-linalg's \
multithread-mm executor) that parallelises matrix products, depthwise convolutions, max-pooling and reductions; \
every other operator runs on the calling thread.";
    type Session = TractSession;

    fn version(&self) -> String {
        TRACT_VERSION.to_string()
    }

    fn runtime(&self) -> Result<String, String> {
        Ok("built in (pure Rust)".to_string())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<TractSession>, BackendError> {
        let load_error = |e: TractError| request.error(format!("{e:#}"));
        let model = request.model;
        let typed = match request.format {
            ModelFormat::Onnx => tract_onnx::onnx()
                .model_for_path(model)
                .and_then(|m| m.into_typed()),
            ModelFormat::Tflite => tract_tflite::tflite().model_for_path(model),
        }
        .map_err(load_error)?;
        // Names come from the model as written: optimisation may rename the nodes that carry outputs.
        let input_names = names(&typed, typed.input_outlets().map_err(load_error)?);
        let output_names = names(&typed, typed.output_outlets().map_err(load_error)?);
        let optimized = typed.into_optimized().map_err(load_error)?;
        let inputs = describe(
            request,
            &optimized,
            optimized.input_outlets().map_err(load_error)?,
            input_names,
        )?;
        let outputs = describe(
            request,
            &optimized,
            optimized.output_outlets().map_err(load_error)?,
            output_names,
        )?;
        let threads = request.threads;
        let run_options = RunOptions {
            executor: (threads > 1).then(|| Executor::multithread(threads)),
            ..RunOptions::default()
        };
        let plan = SimplePlan::new_with_options(optimized, &run_options).map_err(load_error)?;
        let state = SimpleState::new(&plan).map_err(load_error)?;
        Ok(Opened {
            session: TractSession {
                state,
                threads,
                last: TVec::new(),
            },
            inputs,
            outputs,
        })
    }
}

pub struct TractSession {
    state: TypedSimpleState,
    threads: usize,
    last: TVec<TValue>,
}

impl EngineSession for TractSession {
    type Inputs = TVec<TValue>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<TVec<TValue>, BackendError> {
        to_values(inputs)
    }

    fn run(&mut self, inputs: &mut TVec<TValue>) -> Result<(), BackendError> {
        self.last = self
            .state
            .run(inputs.clone())
            .map_err(|e| BackendError::run(NAME, format!("{e:#}")))?;
        Ok(())
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.last.iter().map(from_tract).collect()
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new("threads", self.threads),
            Setting::new(
                "executor",
                if self.threads > 1 {
                    "multithread-mm"
                } else {
                    "single-thread"
                },
            ),
            Setting::new("plan", "optimized"),
        ]
    }
}

type TypedSimpleState = SimpleState<TypedFact, Box<dyn TypedOp>>;

fn names(model: &TypedModel, outlets: &[OutletId]) -> Vec<String> {
    outlets
        .iter()
        .map(|&outlet| {
            model
                .outlet_label(outlet)
                .unwrap_or(&model.node(outlet.node).name)
                .to_string()
        })
        .collect()
}

fn describe(
    request: &LoadRequest<'_>,
    model: &TypedModel,
    outlets: &[OutletId],
    names: Vec<String>,
) -> Result<Vec<TensorInfo>, BackendError> {
    outlets
        .iter()
        .zip(names)
        .map(|(&outlet, name)| {
            let fact = model
                .outlet_fact(outlet)
                .map_err(|e| request.error(format!("{e:#}")))?;
            let shape = fact
                .shape
                .iter()
                .map(|d| d.to_usize().ok())
                .collect::<Vec<_>>();
            Ok(TensorInfo {
                name,
                shape,
                element_type: element_type(fact.datum_type)?,
            })
        })
        .collect()
}

fn element_type(datum: DatumType) -> Result<ElementType, BackendError> {
    match datum {
        DatumType::F32 => Ok(ElementType::F32),
        DatumType::U8 => Ok(ElementType::U8),
        DatumType::I8 => Ok(ElementType::I8),
        other => Err(BackendError::unsupported(
            NAME,
            format!("model tensors of type {other:?} in the harness (f32, u8 and i8 only)"),
        )),
    }
}

fn to_values(inputs: Vec<Tensor>) -> Result<TVec<TValue>, BackendError> {
    inputs
        .into_iter()
        .map(|t| to_tract(t).map(TValue::from))
        .collect()
}

fn to_tract(tensor: Tensor) -> Result<tract_onnx::prelude::Tensor, BackendError> {
    let shape = tensor.shape;
    let built = match tensor.data {
        TensorData::F32(v) => {
            tract_ndarray::ArrayD::from_shape_vec(shape, v).map(|a| a.into_tensor())
        }
        TensorData::U8(v) => {
            tract_ndarray::ArrayD::from_shape_vec(shape, v).map(|a| a.into_tensor())
        }
        TensorData::I8(v) => {
            tract_ndarray::ArrayD::from_shape_vec(shape, v).map(|a| a.into_tensor())
        }
    };
    built.map_err(|e| BackendError::input(NAME, e))
}

fn from_tract(value: &TValue) -> Result<Tensor, BackendError> {
    let shape = value.shape().to_vec();
    let run_error = |e: TractError| BackendError::run(NAME, format!("{e:#}"));
    fn values<D: Datum + Copy>(value: &TValue) -> TractResult<Vec<D>> {
        Ok(value.to_plain_array_view::<D>()?.iter().copied().collect())
    }
    let data = match element_type(value.datum_type())? {
        ElementType::F32 => TensorData::F32(values(value).map_err(run_error)?),
        ElementType::U8 => TensorData::U8(values(value).map_err(run_error)?),
        ElementType::I8 => TensorData::I8(values(value).map_err(run_error)?),
    };
    Ok(Tensor { shape, data })
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
        let entry = format!("name = \"tract-onnx\"\nversion = \"{TRACT_VERSION}\"");
        assert!(
            lock.contains(&entry),
            "Cargo.lock does not lock tract-onnx {TRACT_VERSION}"
        );
    }

    #[test]
    fn unknown_engine_options_are_refused_before_parsing_the_model() {
        let mut options = LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        };
        options.engine.0.insert("turbo".into(), "true".into());
        let err = TractBackend
            .load(Path::new("/nonexistent.onnx"), ModelFormat::Onnx, &options)
            .err()
            .expect("an error");
        assert!(err.to_string().contains("unknown option `turbo`"), "{err}");
    }

    #[test]
    fn a_missing_model_names_the_path() {
        let options = LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        };
        let err = TractBackend
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
