//! The contract between the harness and the engines it measures.
//!
//! A [`Backend`] loads a model file into a [`Session`]; loading (parse, optimise, compile) is kept apart
//! from running so that load time, first-run time and steady-state time can be measured separately.
//! Inputs are converted to the engine's own form once, by [`Session::prepare`], outside the timed region;
//! [`Session::run`] is the only call that is timed.

mod binding;
pub mod cache;
pub mod conversion;
mod engine;
mod error;
mod layout;
mod options;
mod profile;
pub mod runtime;
mod tensor;

pub use binding::{bind_shapes, bound_inputs, InputShape};
pub use engine::{
    declared_formats, Adapted, Engine, EngineSession, LoadRequest, Opened, KNOWN_ENGINES,
};
pub use error::BackendError;
pub use layout::{adapt_input, Adaptation, Layout};
pub use options::EngineOptions;
pub use profile::{NodeTime, Profile, Profiling};
pub use tensor::{
    f16, Element, ElementKind, ElementType, Tensor, TensorData, TensorInfo, ToF64, Transform,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// A model file format an engine can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    Onnx,
    Tflite,
}

impl ModelFormat {
    pub const ALL: [ModelFormat; 2] = [ModelFormat::Onnx, ModelFormat::Tflite];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "onnx",
            ModelFormat::Tflite => "tflite",
        }
    }
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a session is asked to do when it is created.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// The thread budget for one inference; every backend gets the same one.
    pub threads: usize,
    /// Engine-specific settings passed through from the scenario.
    pub engine: EngineOptions,
    /// The scenario's shape for each input it gives: free dimensions of the file are bound to them.
    #[serde(default)]
    pub inputs: Vec<InputShape>,
    /// The session is for a profiled pass: the engine turns its profiler on (see [`Session::profile`]).
    #[serde(default)]
    pub profile: bool,
}

/// One engine setting as it was really applied, recorded beside the measurement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

impl Setting {
    pub fn new(key: impl Into<String>, value: impl fmt::Display) -> Setting {
        Setting {
            key: key.into(),
            value: value.to_string(),
        }
    }
}

/// What `harness backends` shows about one compiled-in engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub name: String,
    pub engine_version: String,
    pub formats: Vec<ModelFormat>,
    /// Where the engine's code comes from (e.g. "statically linked" or a library path), or why it cannot be loaded.
    pub runtime: Result<String, String>,
    /// What the thread option really does in this engine.
    pub threads_note: String,
    /// The engine options a scenario may set; None when unknown here (an engine left out of this build).
    #[serde(default)]
    pub options: Option<Vec<String>>,
}

/// An inference engine the harness can measure.
pub trait Backend: Send + Sync {
    /// The short name used in scenarios, on the command line and in results.
    fn name(&self) -> &'static str;

    /// What the engine is; never loads a runtime library (see `runtime::LazyRuntime`), so it is safe to ask
    /// in the harness's main process.
    fn info(&self) -> BackendInfo;

    /// Loads the engine's runtime library now: for `harness backends`, and before a measurement starts its load
    /// timer. Sessions load it themselves when it is not loaded yet.
    fn load_runtime(&self) -> Result<(), String> {
        Ok(())
    }

    fn reads(&self, format: ModelFormat) -> bool {
        self.info().formats.contains(&format)
    }

    /// Parses, optimises and compiles `model`; everything that may be done once is done here.
    fn load(
        &self,
        model: &Path,
        format: ModelFormat,
        options: &LoadOptions,
    ) -> Result<Box<dyn Session>, BackendError>;
}

/// A handle to inputs already converted by [`Session::prepare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreparedInput(pub usize);

/// A model loaded by one engine, ready to run many times.
pub trait Session {
    fn inputs(&self) -> &[TensorInfo];

    fn outputs(&self) -> &[TensorInfo];

    /// Converts one set of inputs (one tensor per model input, in order, already in the layout the model
    /// wants) into the engine's own form and keeps it for [`Session::run`]. Not timed.
    fn prepare(&mut self, inputs: Vec<Tensor>) -> Result<PreparedInput, BackendError>;

    /// Replaces what a prepared input holds with new tensors of the same shapes. End-to-end timing calls it
    /// inside the timed region, so that each run prepares its own input as an application would.
    fn refill(&mut self, input: PreparedInput, inputs: Vec<Tensor>) -> Result<(), BackendError>;

    /// Runs one inference on prepared inputs. This call alone is timed.
    fn run(&mut self, input: PreparedInput) -> Result<(), BackendError>;

    /// The outputs of the last run, in the order of [`Session::outputs`]. Not timed.
    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError>;

    /// The engine settings this session really applied (threads, optimisation level, ...).
    fn settings(&self) -> Vec<Setting>;

    /// Time `load` spent converting the model into the engine's own format (none when it reads the file as
    /// it is, or found the conversion cached). Reported apart from, and subtracted from, the load time.
    fn conversion_time(&self) -> Option<std::time::Duration> {
        None
    }

    /// One inference on a prepared input under the engine's profiler, in a session loaded with
    /// [`LoadOptions::profile`]; never part of a timed measurement. An engine that cannot profile answers
    /// [`BackendError::Unsupported`] with its reason (engines' sessions give theirs through [`Adapted`]).
    fn run_profiled(&mut self, _input: PreparedInput) -> Result<(), BackendError> {
        Err(BackendError::unsupported(
            "this session",
            "operator profiles",
        ))
    }

    /// Each node's time over the profiled runs since the last call.
    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(Profile::default())
    }
}
