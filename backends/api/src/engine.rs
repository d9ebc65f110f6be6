//! What an engine crate writes, and the glue every engine shares.
//!
//! An engine implements [`Engine`] (what it is, and how it opens a model) and [`EngineSession`] (how it
//! converts inputs, runs, and reads outputs back, in its own types). Everything else a [`Backend`] and a
//! [`Session`] do the same way for every engine lives here: the format and option checks before a load, the
//! thread budget's floor, the error that names the engine and the file, the slots of prepared inputs, and the
//! descriptions of inputs and outputs.

use crate::{
    bind_shapes, bound_inputs, Backend, BackendError, BackendInfo, EngineOptions, InputShape,
    LoadOptions, ModelFormat, PreparedInput, Profile, Profiling, Session, Setting, Tensor,
    TensorInfo,
};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Every engine the harness knows, with the formats it reads: stated once, here, and used by the engine
/// crates ([`Engine::formats`]) and by builds that leave an engine out (their stand-ins still check scenarios).
pub const KNOWN_ENGINES: &[(&str, &[ModelFormat])] = &[
    ("candle", &[ModelFormat::Onnx]),
    ("mnn", &[ModelFormat::Onnx, ModelFormat::Tflite]),
    ("ncnn", &[ModelFormat::Onnx]),
    ("opencv", &[ModelFormat::Onnx]),
    ("openvino", &[ModelFormat::Onnx, ModelFormat::Tflite]),
    ("ort", &[ModelFormat::Onnx]),
    ("tflite", &[ModelFormat::Tflite]),
    ("tract", &[ModelFormat::Onnx, ModelFormat::Tflite]),
];

/// The formats [`KNOWN_ENGINES`] lists for `engine` (none for an engine it does not list).
pub fn declared_formats(engine: &str) -> Vec<ModelFormat> {
    KNOWN_ENGINES
        .iter()
        .find(|(name, _)| *name == engine)
        .map(|(_, formats)| formats.to_vec())
        .unwrap_or_default()
}

/// One inference engine, as its crate describes it. [`Backend`] follows for every `Engine`.
pub trait Engine: Send + Sync {
    /// The short name used in scenarios, on the command line and in results.
    const NAME: &'static str;
    /// The engine options a scenario may set; any other key is refused by name before [`Engine::open`].
    const OPTIONS: &'static [&'static str] = &[];
    /// What the thread budget really does in this engine.
    const THREADS_NOTE: &'static str;
    /// Whether [`EngineSession::profile`] works, or why not.
    const PROFILING: Profiling =
        Profiling::Unsupported("the harness does not read this engine's profiler");
    type Session: EngineSession + 'static;

    /// The formats this build reads: [`KNOWN_ENGINES`]'s entry unless the engine knows better at run time.
    fn formats(&self) -> Vec<ModelFormat> {
        declared_formats(Self::NAME)
    }

    /// What to add to "does not support {format} models" when the engine does not read `format`.
    fn unread_format_hint(&self, _format: ModelFormat) -> Option<String> {
        None
    }

    /// The engine's version, without loading a runtime library.
    fn version(&self) -> String;

    /// Where the engine's code comes from, or why it cannot be loaded; never loads a runtime library.
    fn runtime(&self) -> Result<String, String>;

    /// Loads the engine's runtime library now (for `harness backends`, and before a measurement's load timer);
    /// sessions load it themselves when it is not loaded yet.
    fn load_runtime(&self) -> Result<(), String> {
        Ok(())
    }

    /// Parses, optimises and compiles the model; the format and the option keys are already checked.
    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<Self::Session>, BackendError>;
}

/// A model to load, as [`Engine::open`] receives it.
#[derive(Clone, Copy, Debug)]
pub struct LoadRequest<'a> {
    pub engine: &'static str,
    pub model: &'a Path,
    pub format: ModelFormat,
    /// The thread budget, at least 1.
    pub threads: usize,
    pub options: &'a EngineOptions,
    /// The session is for a profiled pass: turn the engine's profiler on.
    pub profile: bool,
    /// The scenario's input shapes, to bind the file's free dimensions before compiling (see [`bound_inputs`]).
    pub inputs: &'a [InputShape],
}

impl LoadRequest<'_> {
    /// The engine rejected this model: the error names the engine and the file.
    pub fn error(&self, reason: impl fmt::Display) -> BackendError {
        BackendError::Load {
            engine: self.engine.to_string(),
            path: self.model.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// `declared` (the model's inputs as the engine reads them from the file) with the scenario's shapes
    /// bound: what an engine that compiles for fixed shapes compiles for.
    pub fn bound_inputs(&self, declared: &[TensorInfo]) -> Result<Vec<TensorInfo>, BackendError> {
        bound_inputs(self.inputs, declared).map_err(|why| BackendError::input(self.engine, why))
    }

    /// The shape each of `declared` is bound to, `None` where the scenario leaves it as the file has it.
    pub fn bound_shapes(
        &self,
        declared: &[TensorInfo],
    ) -> Result<Vec<Option<Vec<usize>>>, BackendError> {
        bind_shapes(self.inputs, declared).map_err(|why| BackendError::input(self.engine, why))
    }

    /// An option value the engine cannot use.
    pub fn option_error(&self, reason: impl fmt::Display) -> BackendError {
        BackendError::Option {
            engine: self.engine.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A loaded model with its inputs and outputs as the engine sees them.
pub struct Opened<S> {
    pub session: S,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

/// A model loaded by one engine, in the engine's own types. [`Session`] follows through [`Adapted`].
pub trait EngineSession {
    /// One set of inputs (one per model input) in the engine's own form.
    type Inputs;

    /// Converts tensors already in the layout the model wants into the engine's form. Not timed.
    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Self::Inputs, BackendError>;

    /// Puts new tensors of the same shapes into `slot`; timed in end-to-end runs. By default a new conversion.
    fn refill(&mut self, slot: &mut Self::Inputs, inputs: Vec<Tensor>) -> Result<(), BackendError> {
        *slot = self.convert(inputs)?;
        Ok(())
    }

    /// One inference. This call alone is timed.
    fn run(&mut self, inputs: &mut Self::Inputs) -> Result<(), BackendError>;

    /// The outputs of the last run, in the order of the model's outputs. Not timed.
    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError>;

    /// The settings this session really applied.
    fn settings(&self) -> Vec<Setting>;

    /// Time the load spent converting the model into the engine's own format (see [`Session::conversion_time`]).
    fn conversion_time(&self) -> Option<Duration> {
        None
    }

    /// One inference under the engine's profiler (the session was opened with [`LoadRequest::profile`]); the
    /// session keeps each node's time until [`EngineSession::take_profile`]. Called only where
    /// [`Engine::PROFILING`] says it works.
    fn run_profiled(&mut self, inputs: &mut Self::Inputs) -> Result<(), BackendError> {
        self.run(inputs)
    }

    /// Each node's time over the profiled runs since the last call.
    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(Profile::default())
    }
}

impl<E: Engine> Backend for E {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: E::NAME.to_string(),
            engine_version: self.version(),
            formats: self.formats(),
            runtime: self.runtime(),
            threads_note: E::THREADS_NOTE.to_string(),
            options: Some(E::OPTIONS.iter().map(|o| o.to_string()).collect()),
        }
    }

    fn load_runtime(&self) -> Result<(), String> {
        Engine::load_runtime(self)
    }

    fn reads(&self, format: ModelFormat) -> bool {
        self.formats().contains(&format)
    }

    fn load(
        &self,
        model: &Path,
        format: ModelFormat,
        options: &LoadOptions,
    ) -> Result<Box<dyn Session>, BackendError> {
        options.engine.ensure_known(E::NAME, E::OPTIONS)?;
        if !self.reads(format) {
            let hint = self
                .unread_format_hint(format)
                .map_or_else(String::new, |hint| format!(" ({hint})"));
            return Err(BackendError::Unsupported {
                engine: E::NAME.to_string(),
                what: format!("{format} models{hint}"),
            });
        }
        let request = LoadRequest {
            engine: E::NAME,
            model,
            format,
            threads: options.threads.max(1),
            options: &options.engine,
            inputs: &options.inputs,
            profile: options.profile,
        };
        let opened = self.open(&request)?;
        Ok(Box::new(Adapted {
            prepared: Vec::new(),
            session: opened.session,
            inputs: opened.inputs,
            outputs: opened.outputs,
            engine: E::NAME,
            profiling: E::PROFILING,
        }))
    }
}

/// An engine's session with the bookkeeping every engine shares.
pub struct Adapted<S: EngineSession> {
    // Prepared inputs are dropped before the session: some hold memory of the engine's that the session frees.
    prepared: Vec<S::Inputs>,
    session: S,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    engine: &'static str,
    profiling: Profiling,
}

impl<S: EngineSession> Adapted<S> {
    /// The engine's reason when it cannot profile.
    fn profiling(&self) -> Result<(), BackendError> {
        match self.profiling {
            Profiling::Supported => Ok(()),
            Profiling::Unsupported(why) => Err(BackendError::unsupported(
                self.engine,
                format!("operator profiles: {why}"),
            )),
        }
    }

    fn check_count(&self, inputs: &[Tensor]) -> Result<(), BackendError> {
        if inputs.len() == self.inputs.len() {
            return Ok(());
        }
        Err(BackendError::Input {
            engine: self.engine.to_string(),
            reason: format!(
                "{} inputs given, the model has {}",
                inputs.len(),
                self.inputs.len()
            ),
        })
    }
}

impl<S: EngineSession> Session for Adapted<S> {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn prepare(&mut self, inputs: Vec<Tensor>) -> Result<PreparedInput, BackendError> {
        self.check_count(&inputs)?;
        let converted = self.session.convert(inputs)?;
        self.prepared.push(converted);
        Ok(PreparedInput(self.prepared.len() - 1))
    }

    fn refill(&mut self, input: PreparedInput, inputs: Vec<Tensor>) -> Result<(), BackendError> {
        self.check_count(&inputs)?;
        self.session.refill(&mut self.prepared[input.0], inputs)
    }

    fn run(&mut self, input: PreparedInput) -> Result<(), BackendError> {
        self.session.run(&mut self.prepared[input.0])
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.session.last_outputs()
    }

    fn settings(&self) -> Vec<Setting> {
        self.session.settings()
    }

    fn conversion_time(&self) -> Option<Duration> {
        self.session.conversion_time()
    }

    fn run_profiled(&mut self, input: PreparedInput) -> Result<(), BackendError> {
        self.profiling()?;
        self.session.run_profiled(&mut self.prepared[input.0])
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        self.profiling()?;
        self.session.take_profile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, TensorData};

    /// An engine that reads ONNX, knows one option, and adds 1 to its one input.
    struct Plus;

    struct PlusSession {
        last: Vec<Tensor>,
        refills: usize,
    }

    impl Engine for Plus {
        const NAME: &'static str = "plus";
        const OPTIONS: &'static [&'static str] = &["known"];
        const THREADS_NOTE: &'static str = "none";
        type Session = PlusSession;

        fn formats(&self) -> Vec<ModelFormat> {
            vec![ModelFormat::Onnx]
        }

        fn unread_format_hint(&self, format: ModelFormat) -> Option<String> {
            Some(format!("give it the ONNX file, not {format}"))
        }

        fn version(&self) -> String {
            "1.0".into()
        }

        fn runtime(&self) -> Result<String, String> {
            Ok("built in".into())
        }

        fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<PlusSession>, BackendError> {
            if request.model.ends_with("bad.onnx") {
                return Err(request.error("not a model"));
            }
            let info = TensorInfo {
                name: "x".into(),
                shape: vec![Some(1)],
                element_type: ElementType::F32,
            };
            Ok(Opened {
                session: PlusSession {
                    last: Vec::new(),
                    refills: 0,
                },
                inputs: vec![info.clone()],
                outputs: vec![info],
            })
        }
    }

    impl EngineSession for PlusSession {
        type Inputs = f32;

        fn convert(&mut self, inputs: Vec<Tensor>) -> Result<f32, BackendError> {
            Ok(inputs[0].data.to_f32()[0])
        }

        fn refill(&mut self, slot: &mut f32, inputs: Vec<Tensor>) -> Result<(), BackendError> {
            self.refills += 1;
            *slot = self.convert(inputs)?;
            Ok(())
        }

        fn run(&mut self, input: &mut f32) -> Result<(), BackendError> {
            self.last = vec![Tensor::new(vec![1], TensorData::F32(vec![*input + 1.0])).unwrap()];
            Ok(())
        }

        fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
            Ok(self.last.clone())
        }

        fn settings(&self) -> Vec<Setting> {
            vec![Setting::new("refills", self.refills)]
        }
    }

    fn options(pairs: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            threads: 0,
            engine: EngineOptions(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            inputs: Vec::new(),
            profile: false,
        }
    }

    fn one(value: f32) -> Vec<Tensor> {
        vec![Tensor::new(vec![1], TensorData::F32(vec![value])).unwrap()]
    }

    #[test]
    fn the_backend_checks_format_and_options_before_the_engine_opens_anything() {
        let model = Path::new("m.onnx");
        let err = Plus
            .load(model, ModelFormat::Tflite, &options(&[]))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "plus does not support tflite models (give it the ONNX file, not tflite)"
        );
        let err = Plus
            .load(model, ModelFormat::Onnx, &options(&[("unknown", "1")]))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "plus: unknown option `unknown` (known: known)"
        );
        let err = Plus
            .load(Path::new("/m/bad.onnx"), ModelFormat::Onnx, &options(&[]))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "plus could not load /m/bad.onnx: not a model"
        );
        let info = Plus.info();
        assert_eq!(
            (
                info.name.as_str(),
                info.formats,
                info.engine_version.as_str()
            ),
            ("plus", vec![ModelFormat::Onnx], "1.0")
        );
    }

    #[test]
    fn prepared_slots_run_and_refill_independently() {
        let mut session = Plus
            .load(Path::new("m.onnx"), ModelFormat::Onnx, &options(&[]))
            .unwrap();
        let a = session.prepare(one(1.0)).unwrap();
        let b = session.prepare(one(10.0)).unwrap();
        session.run(b).unwrap();
        assert_eq!(session.last_outputs().unwrap(), one(11.0));
        session.refill(a, one(5.0)).unwrap();
        session.run(a).unwrap();
        assert_eq!(session.last_outputs().unwrap(), one(6.0));
        assert_eq!(session.settings(), vec![Setting::new("refills", 1)]);
        let err = session.prepare(Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "plus: 0 inputs given, the model has 1");
    }

    #[test]
    fn every_known_engine_states_its_formats() {
        assert_eq!(
            declared_formats("tract"),
            [ModelFormat::Onnx, ModelFormat::Tflite]
        );
        assert!(declared_formats("nothing").is_empty());
    }
}
