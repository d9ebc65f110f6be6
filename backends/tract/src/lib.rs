//! tract: Sonos's pure-Rust inference engine, reading ONNX (tract-onnx) and TFLite (tract-tflite).
//!
//! The model is parsed, typed, optimised and turned into an execution plan once, in [`Backend::load`];
//! a run feeds the prepared tract tensors to a reused plan state.

use harness_backend_api::{
    BackendError, Element, ElementType, Engine, EngineSession, LoadRequest, ModelFormat, Opened,
    Profile, Profiling, Setting, Tensor, TensorData, TensorInfo,
};
use std::time::Instant;
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{DimLike, SimplePlan, SimpleState};
use tract_onnx::tract_hir::infer::Factoid;

const NAME: &str = "tract";
/// The pinned version of the tract crates (checked against Cargo.lock by a test).
pub const TRACT_VERSION: &str = "0.23.9";

pub struct TractBackend;

impl Engine for TractBackend {
    const NAME: &'static str = NAME;
    const THREADS_NOTE: &'static str = "N > 1 gives tract a private pool of N threads (tract-linalg's \
multithread-mm executor) that parallelises matrix products, depthwise convolutions, max-pooling and reductions; \
every other operator runs on the calling thread.";
    /// The plan's own evaluation loop, with each node's evaluation timed (as `tract --profile` does).
    const PROFILING: Profiling = Profiling::Supported;
    type Session = TractSession;

    fn version(&self) -> String {
        TRACT_VERSION.to_string()
    }

    fn runtime(&self) -> Result<String, String> {
        Ok("built in (pure Rust)".to_string())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<TractSession>, BackendError> {
        let load_error = |e: TractError| request.error(failure(&e));
        let model = request.model;
        let typed = match request.format {
            ModelFormat::Onnx => {
                let mut inference = tract_onnx::onnx()
                    .model_for_path(model)
                    .map_err(load_error)?;
                bind_inputs(request, &mut inference)?;
                inference.into_typed()
            }
            // A TFLite file states every shape; tract reads them as they are, and the check below holds
            // the scenario to them.
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
        let inputs = request.bound_inputs(&inputs)?;
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
                profile: Profile::default(),
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
    profile: Profile,
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

    fn run_profiled(&mut self, inputs: &mut TVec<TValue>) -> Result<(), BackendError> {
        let profile = &mut self.profile;
        self.last = self
            .state
            .run_plan_with_eval(inputs.clone(), |context, state, node, values| {
                let started = Instant::now();
                let outputs = tract_onnx::tract_core::plan::eval(context, state, node, values);
                profile.add(&node.name, &node.op().name(), started.elapsed());
                outputs
            })
            .map_err(|e| BackendError::run(NAME, format!("{e:#}")))?;
        Ok(())
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(std::mem::take(&mut self.profile))
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

/// Gives tract the scenario's shape for every input the scenario binds, before it types the model: free
/// dimensions (`?`, `batch`) are then known to every operator's shape inference.
fn bind_inputs(request: &LoadRequest<'_>, model: &mut InferenceModel) -> Result<(), BackendError> {
    let load_error = |e: TractError| request.error(failure(&e));
    let outlets = model.input_outlets().map_err(load_error)?.to_vec();
    let (mut declared, mut datum_types) = (Vec::new(), Vec::new());
    for (index, outlet) in outlets.iter().enumerate() {
        let fact = model.input_fact(index).map_err(load_error)?;
        let Some(datum_type) = fact.datum_type.concretize() else {
            return Err(request.error(format!(
                "input `{}` has no declared element type",
                model.node(outlet.node).name
            )));
        };
        declared.push(TensorInfo {
            name: model.node(outlet.node).name.clone(),
            shape: fact
                .shape
                .dims()
                .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
                .collect(),
            element_type: element_type(datum_type)?,
        });
        datum_types.push(datum_type);
    }
    for (index, shape) in request.bound_shapes(&declared)?.into_iter().enumerate() {
        if let Some(shape) = shape {
            model
                .set_input_fact(index, InferenceFact::dt_shape(datum_types[index], shape))
                .map_err(load_error)?;
        }
    }
    Ok(())
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
    Ok(match datum {
        DatumType::F32 => ElementType::F32,
        DatumType::F16 => ElementType::F16,
        DatumType::F64 => ElementType::F64,
        DatumType::I64 => ElementType::I64,
        DatumType::I32 => ElementType::I32,
        DatumType::I8 => ElementType::I8,
        DatumType::U8 => ElementType::U8,
        DatumType::Bool => ElementType::Bool,
        other => {
            return Err(BackendError::unsupported(
                NAME,
                format!("model tensors of type {other:?}: the harness does not exchange them"),
            ))
        }
    })
}

fn to_values(inputs: Vec<Tensor>) -> Result<TVec<TValue>, BackendError> {
    inputs
        .into_iter()
        .map(|t| to_tract(t).map(TValue::from))
        .collect()
}

fn to_tract(tensor: Tensor) -> Result<tract_onnx::prelude::Tensor, BackendError> {
    fn array<D: Datum>(
        shape: Vec<usize>,
        values: Vec<D>,
    ) -> TractResult<tract_onnx::prelude::Tensor> {
        Ok(tract_ndarray::ArrayD::from_shape_vec(shape, values)?.into_tensor())
    }
    let shape = tensor.shape;
    match tensor.data {
        TensorData::F32(v) => array(shape, v),
        TensorData::F16(v) => array(shape, v),
        TensorData::F64(v) => array(shape, v),
        TensorData::I64(v) => array(shape, v),
        TensorData::I32(v) => array(shape, v),
        TensorData::I8(v) => array(shape, v),
        TensorData::U8(v) => array(shape, v),
        TensorData::Bool(v) => array(shape, v),
    }
    .map_err(|e| BackendError::input(NAME, format!("{e:#}")))
}

fn from_tract(value: &TValue) -> Result<Tensor, BackendError> {
    fn values<D: Datum + Element>(value: &TValue) -> TractResult<TensorData> {
        Ok(D::wrap(
            value.to_plain_array_view::<D>()?.iter().copied().collect(),
        ))
    }
    let data = match element_type(value.datum_type())? {
        ElementType::F32 => values::<f32>(value),
        ElementType::F16 => values::<f16>(value),
        ElementType::F64 => values::<f64>(value),
        ElementType::I64 => values::<i64>(value),
        ElementType::I32 => values::<i32>(value),
        ElementType::I8 => values::<i8>(value),
        ElementType::U8 => values::<u8>(value),
        ElementType::Bool => values::<bool>(value),
    }
    .map_err(|e| BackendError::run(NAME, format!("{e:#}")))?;
    Ok(Tensor {
        shape: value.shape().to_vec(),
        data,
    })
}

/// tract chains context on context, and its TFLite reader prints the whole operator it failed on (options, and
/// weights where there are some) in the middle: the first line then says which operator and why, and the whole
/// chain follows it, for the row's `error` column.
fn failure(e: &TractError) -> String {
    let chain = format!("{e:#}");
    if !chain.contains('\n') {
        return chain;
    }
    let root = e.root_cause().to_string();
    let why = root.lines().next().unwrap_or_default();
    let operator = chain.lines().find_map(|line| {
        let value = line.trim_start().strip_prefix("builtin_code: ")?;
        Some(value.trim_end_matches(','))
    });
    match operator {
        Some(operator) => format!("TFLite operator {operator}: {why}\n{chain}"),
        None => format!("{why}\n{chain}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::{Backend, LoadOptions};
    use std::path::Path;

    #[test]
    fn an_error_that_dumps_an_operator_names_it_and_the_cause_on_its_first_line() {
        // The shape of tract 0.23's message for an int8 ADD it cannot type (its own operator dump, cut short).
        let error = TractError::msg("No super type")
            .context(
                "Opcode is OperatorCode {\n    deprecated_builtin_code: 0,\n    version: 2,\n    \
                 builtin_code: ADD,\n}",
            )
            .context("Translating proto-op from Tflite into tract op: Operator {\n    opcode_index: 3,\n}");
        let message = failure(&error);
        let mut lines = message.lines();
        assert_eq!(lines.next(), Some("TFLite operator ADD: No super type"));
        assert!(lines.next().unwrap().starts_with("Translating proto-op"));
        let plain = TractError::msg("no such file").context("Reading model");
        assert_eq!(failure(&plain), "Reading model: no such file");
    }

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
