//! ONNX Runtime through the `ort` crate, with the shared library loaded at run time (`load-dynamic`) from the
//! file the set-up step unpacks from the pinned PyPI wheel.
//!
//! Session options: graph optimisation ALL, intra-op threads = the scenario's thread count, inter-op 1,
//! sequential execution. Options: `optimization = "all" | "extended" | "basic" | "disable"`, `spin = true|false`.

use harness_backend_api::runtime::LazyRuntime;
use harness_backend_api::{
    f16, BackendError, Element, ElementType, Engine, EngineSession, LoadRequest, Opened, Profile,
    Profiling, Setting, Tensor, TensorData, TensorInfo,
};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::SessionInputValue;
use ort::value::{DynValue, PrimitiveTensorElementType, TensorElementType, ValueType};
use serde::Deserialize;
use std::path::{Path, PathBuf};

const NAME: &str = "ort";
/// The ONNX Runtime release this backend is built and provisioned for (scripts/runtimes.toml).
pub const ORT_VERSION: &str = "1.31.1";
const LIBRARY: &str = "libonnxruntime.so.1.31.1";
/// An explicit path to the library, overriding the project's runtime folder.
pub const LIBRARY_VARIABLE: &str = "HARNESS_ORT_LIBRARY";

struct Runtime {
    path: PathBuf,
    /// The release the loaded library reports (`OrtGetApiBase()->GetVersionString()`).
    version: String,
    environment: ort::environment::Environment,
}

/// ONNX Runtime's own switch for its telemetry.
const TELEMETRY_VARIABLE: &str = "ORT_DISABLE_TELEMETRY";

static RUNTIME: LazyRuntime<Runtime> = LazyRuntime::new(LIBRARY_VARIABLE, "onnxruntime", LIBRARY);

/// Loads the library and creates the process's one ONNX Runtime environment, once.
fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME.get(|path| {
        // The Linux wheel's telemetry (1DS) keeps an event database with a device id under the user's cache
        // folder unless this is set when the library starts; the user's own setting stands.
        if std::env::var_os(TELEMETRY_VARIABLE).is_none() {
            std::env::set_var(TELEMETRY_VARIABLE, "1");
        }
        let environment = ort::init_from(&path)
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?
            .with_name("harness")
            // A benchmark reports nothing about the user's models to anyone (see docs/methodology.md).
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
        let version = loaded_version(&path)?;
        Ok(Runtime {
            path,
            version,
            environment,
        })
    })
}

/// The process's ONNX Runtime environment (there can be only one), for code that drives `ort` directly
/// beside the backend, such as the benchmark that compares the two.
pub fn environment() -> Result<&'static ort::environment::Environment, String> {
    runtime().map(|r| &r.environment)
}

pub struct OrtBackend;

impl Engine for OrtBackend {
    const NAME: &'static str = NAME;
    const OPTIONS: &'static [&'static str] = &["optimization", "spin"];
    const THREADS_NOTE: &'static str = "intra-op threads = N (ONNX Runtime's own pool), inter-op threads = \
1, sequential execution. Worker threads spin while waiting (ONNX Runtime's default, option spin = false turns it \
off); the harness drops each session before the next measurement, so the spinning never competes with another \
engine.";
    /// ONNX Runtime's own profiler (`SessionOptions::EnableProfiling`): a JSON trace with every kernel's time.
    const PROFILING: Profiling = Profiling::Supported;
    type Session = OrtSession;

    fn version(&self) -> String {
        match RUNTIME.loaded() {
            Some(Ok(r)) => r.version.clone(),
            _ => ORT_VERSION.to_string(),
        }
    }

    fn runtime(&self) -> Result<String, String> {
        RUNTIME.status(|r| format!("{} (loaded, reports {})", r.path.display(), r.version))
    }

    fn load_runtime(&self) -> Result<(), String> {
        runtime().map(|_| ())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<OrtSession>, BackendError> {
        let options = request.options;
        let (level, level_name) = match options.get_str("optimization").unwrap_or("all") {
            "all" => (GraphOptimizationLevel::All, "all"),
            "extended" => (GraphOptimizationLevel::Level2, "extended"),
            "basic" => (GraphOptimizationLevel::Level1, "basic"),
            "disable" => (GraphOptimizationLevel::Disable, "disable"),
            other => {
                return Err(request.option_error(format!(
                    "option `optimization` must be all, extended, basic or disable, not `{other}`"
                )))
            }
        };
        let spin = options.get_bool(NAME, "spin")?.unwrap_or(true);
        let threads = request.threads;
        let runtime = runtime().map_err(|e| request.error(e))?;
        let trace = request.profile.then(|| {
            std::env::temp_dir().join(format!("harness-ort-profile-{}", std::process::id()))
        });
        let settings = SessionSettings {
            level,
            threads,
            spin,
            trace: trace.as_deref(),
        };
        let session = open_session(&runtime.environment, request.model, &settings)
            .map_err(|e| request.error(e))?;
        // ONNX Runtime takes its shapes from each run's tensors; binding here checks the scenario's shapes.
        let inputs = request.bound_inputs(
            &session
                .inputs()
                .iter()
                .map(describe)
                .collect::<Result<Vec<_>, _>>()?,
        )?;
        let outputs = session
            .outputs()
            .iter()
            .map(describe)
            .collect::<Result<Vec<_>, _>>()?;
        let names = inputs.iter().map(|i| i.name.clone()).collect();
        Ok(Opened {
            session: OrtSession {
                session,
                names,
                settings: vec![
                    Setting::new("threads", threads),
                    Setting::new("inter_op_threads", 1),
                    Setting::new("execution", "sequential"),
                    Setting::new("optimization", level_name),
                    Setting::new("spin", spin),
                ],
                last: Vec::new(),
                profiled_runs: 0,
            },
            inputs,
            outputs,
        })
    }
}

/// What a session is opened with.
struct SessionSettings<'a> {
    level: GraphOptimizationLevel,
    threads: usize,
    spin: bool,
    /// Where the profiler writes its trace (ONNX Runtime adds a time stamp), for a profiled session.
    trace: Option<&'a Path>,
}

/// A session with the latency-oriented options this backend documents.
fn open_session(
    environment: &ort::environment::Environment,
    model: &Path,
    settings: &SessionSettings<'_>,
) -> Result<ort::session::Session, String> {
    let text = |e: ort::Error<_>| e.to_string();
    let mut builder = ort::session::Session::builder(environment)
        .map_err(|e| e.to_string())?
        .with_optimization_level(settings.level)
        .map_err(text)?
        .with_intra_threads(settings.threads)
        .map_err(text)?
        .with_inter_threads(1)
        .map_err(text)?
        .with_parallel_execution(false)
        .map_err(text)?
        .with_intra_op_spinning(settings.spin)
        .map_err(text)?;
    if let Some(trace) = settings.trace {
        builder = builder.with_profiling(trace).map_err(text)?;
    }
    builder.commit_from_file(model).map_err(|e| e.to_string())
}

/// Asks the library at `path` (already loaded by `ort`, so this only takes another reference) for its release.
fn loaded_version(path: &Path) -> Result<String, String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: the library is ONNX Runtime, already loaded and initialised by `ort::init_from`; OrtGetApiBase has
    // this signature in every release, and GetVersionString returns a static, NUL-terminated string.
    unsafe {
        let library = libloading::Library::new(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let get_api_base: libloading::Symbol<GetApiBase> = library
            .get(b"OrtGetApiBase\0")
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let base = get_api_base();
        if base.is_null() {
            return Err(format!(
                "{}: OrtGetApiBase returned nothing",
                path.display()
            ));
        }
        let version = std::ffi::CStr::from_ptr(((*base).GetVersionString)());
        Ok(version.to_string_lossy().into_owned())
    }
}

pub struct OrtSession {
    session: ort::session::Session,
    /// The model's input names, in order: runs name each value.
    names: Vec<String>,
    settings: Vec<Setting>,
    last: Vec<DynValue>,
    /// Runs since the session opened that the profiler's trace should be read for.
    profiled_runs: usize,
}

impl EngineSession for OrtSession {
    type Inputs = Vec<DynValue>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Vec<DynValue>, BackendError> {
        to_values(inputs)
    }

    fn run(&mut self, inputs: &mut Vec<DynValue>) -> Result<(), BackendError> {
        let values: Vec<(&str, SessionInputValue<'_>)> = self
            .names
            .iter()
            .map(String::as_str)
            .zip(inputs.iter().map(SessionInputValue::from))
            .collect();
        let outputs = self
            .session
            .run(values)
            .map_err(|e| BackendError::run(NAME, e))?;
        self.last = outputs.into_iter().map(|(_, value)| value).collect();
        Ok(())
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.last.iter().map(from_value).collect()
    }

    fn run_profiled(&mut self, inputs: &mut Vec<DynValue>) -> Result<(), BackendError> {
        self.run(inputs)?;
        self.profiled_runs += 1;
        Ok(())
    }

    /// Ends the profiler, which writes its trace: a session profiles once.
    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        let trace = self
            .session
            .end_profiling()
            .map_err(|e| BackendError::run(NAME, format!("ending the profiler: {e}")))?;
        let text = std::fs::read_to_string(&trace);
        let _ = std::fs::remove_file(&trace);
        let text = text.map_err(|e| BackendError::run(NAME, format!("reading {trace}: {e}")))?;
        kernel_times(&text, std::mem::take(&mut self.profiled_runs))
            .map_err(|e| BackendError::run(NAME, format!("{trace}: {e}")))
    }

    fn settings(&self) -> Vec<Setting> {
        self.settings.clone()
    }
}

/// One event of ONNX Runtime's trace (Chrome's trace event format): a run (`model_run`) or a kernel
/// (`<node>_kernel_time`, with its operator in `args.op_name`).
#[derive(Deserialize)]
struct TraceEvent {
    #[serde(default)]
    cat: String,
    name: String,
    #[serde(default)]
    ts: u64,
    #[serde(default)]
    dur: u64,
    #[serde(default)]
    args: TraceArgs,
}

#[derive(Default, Deserialize)]
struct TraceArgs {
    #[serde(default)]
    op_name: String,
}

/// Each kernel's time over the trace's last `runs` runs: the trace holds every run since the session opened,
/// warm-up runs included.
fn kernel_times(trace: &str, runs: usize) -> Result<Profile, String> {
    let events: Vec<TraceEvent> =
        serde_json::from_str(trace).map_err(|e| format!("not a profiler trace: {e}"))?;
    let mut windows: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| e.cat == "Session" && e.name == "model_run")
        .map(|e| (e.ts, e.ts + e.dur))
        .collect();
    if windows.len() < runs {
        return Err(format!(
            "the trace holds {} runs, {runs} were profiled",
            windows.len()
        ));
    }
    windows.sort_unstable();
    let first = windows[windows.len() - runs].0;
    let mut profile = Profile::default();
    for event in &events {
        let Some(node) = event.name.strip_suffix("_kernel_time") else {
            continue;
        };
        if event.cat == "Node" && event.ts >= first {
            profile.add_micros(node, &event.args.op_name, 1, event.dur as f64);
        }
    }
    Ok(profile)
}

fn describe(outlet: &ort::value::Outlet) -> Result<TensorInfo, BackendError> {
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => Ok(TensorInfo {
            name: outlet.name().to_string(),
            shape: shape.iter().map(|&d| usize::try_from(d).ok()).collect(),
            element_type: element_type(*ty)?,
        }),
        other => Err(unsupported(format!(
            "model inputs and outputs of type {other:?}"
        ))),
    }
}

fn element_type(ty: TensorElementType) -> Result<ElementType, BackendError> {
    Ok(match ty {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Float16 => ElementType::F16,
        TensorElementType::Float64 => ElementType::F64,
        TensorElementType::Int64 => ElementType::I64,
        TensorElementType::Int32 => ElementType::I32,
        TensorElementType::Int8 => ElementType::I8,
        TensorElementType::Uint8 => ElementType::U8,
        TensorElementType::Bool => ElementType::Bool,
        other => {
            return Err(unsupported(format!(
                "tensors of type {other:?}: the harness does not exchange them with engines"
            )))
        }
    })
}

fn unsupported(what: String) -> BackendError {
    BackendError::unsupported(NAME, what)
}

fn to_values(inputs: Vec<Tensor>) -> Result<Vec<DynValue>, BackendError> {
    inputs.into_iter().map(to_value).collect()
}

fn to_value(tensor: Tensor) -> Result<DynValue, BackendError> {
    fn value<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
        shape: Vec<usize>,
        values: Vec<T>,
    ) -> ort::Result<DynValue> {
        ort::value::Tensor::from_array((shape, values)).map(|t| t.into_dyn())
    }
    let shape = tensor.shape;
    match tensor.data {
        TensorData::F32(v) => value(shape, v),
        TensorData::F16(v) => value(shape, v),
        TensorData::F64(v) => value(shape, v),
        TensorData::I64(v) => value(shape, v),
        TensorData::I32(v) => value(shape, v),
        TensorData::I8(v) => value(shape, v),
        TensorData::U8(v) => value(shape, v),
        TensorData::Bool(v) => value(shape, v),
    }
    .map_err(|e| BackendError::input(NAME, e))
}

fn from_value(value: &DynValue) -> Result<Tensor, BackendError> {
    fn read<T: PrimitiveTensorElementType + Element>(
        value: &DynValue,
    ) -> Result<Tensor, BackendError> {
        let (shape, values) = value
            .try_extract_tensor::<T>()
            .map_err(|e| BackendError::run(NAME, e))?;
        Ok(Tensor {
            shape: shape.iter().map(|&d| d as usize).collect(),
            data: T::wrap(values.to_vec()),
        })
    }
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(unsupported("non-tensor outputs".to_string()));
    };
    match element_type(*ty)? {
        ElementType::F32 => read::<f32>(value),
        ElementType::F16 => read::<f16>(value),
        ElementType::F64 => read::<f64>(value),
        ElementType::I64 => read::<i64>(value),
        ElementType::I32 => read::<i32>(value),
        ElementType::I8 => read::<i8>(value),
        ElementType::U8 => read::<u8>(value),
        ElementType::Bool => read::<bool>(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::{Backend, EngineOptions, LoadOptions, ModelFormat};

    fn model() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/mobilenet_v2/mobilenet_v2.onnx")
    }

    fn options(pairs: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            threads: 1,
            engine: EngineOptions(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..LoadOptions::default()
        }
    }

    /// In CI a missing or unloadable library must fail here, never be skipped.
    #[test]
    fn the_provisioned_library_loads_and_reports_the_pinned_release() {
        let info = OrtBackend.info();
        let runtime = info
            .runtime
            .expect("ONNX Runtime must load: run scripts/setup.sh");
        assert!(runtime.contains(LIBRARY), "{runtime}");
        assert_eq!(info.engine_version, ORT_VERSION);
    }

    #[test]
    fn a_session_reports_names_shapes_and_the_settings_it_applied() {
        let session = OrtBackend
            .load(
                &model(),
                ModelFormat::Onnx,
                &options(&[("spin", "false"), ("optimization", "disable")]),
            )
            .unwrap();
        assert_eq!(
            session.inputs()[0].to_string(),
            "input f32 [1, 3, 224, 224]"
        );
        assert_eq!(session.outputs()[0].to_string(), "logits f32 [1, 1000]");
        let settings: Vec<String> = session
            .settings()
            .iter()
            .map(|s| format!("{}={}", s.key, s.value))
            .collect();
        assert_eq!(
            settings,
            [
                "threads=1",
                "inter_op_threads=1",
                "execution=sequential",
                "optimization=disable",
                "spin=false"
            ]
        );
    }

    #[test]
    fn tflite_and_unknown_options_are_refused_clearly() {
        let err = OrtBackend
            .load(&model(), ModelFormat::Tflite, &options(&[]))
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "ort does not support tflite models");
        let err = OrtBackend
            .load(
                &model(),
                ModelFormat::Onnx,
                &options(&[("optimisation", "all")]),
            )
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("unknown option `optimisation`"),
            "{err}"
        );
        let err = OrtBackend
            .load(
                &model(),
                ModelFormat::Onnx,
                &options(&[("optimization", "max")]),
            )
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("must be all, extended, basic or disable"),
            "{err}"
        );
    }

    #[test]
    fn a_model_onnx_runtime_rejects_names_the_engine_and_the_file() {
        let dir = std::env::temp_dir().join(format!("harness-ort-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.onnx");
        std::fs::write(&bad, b"not a model").unwrap();
        let err = OrtBackend
            .load(&bad, ModelFormat::Onnx, &options(&[]))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with(&format!("ort could not load {}", bad.display())),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kernel_times_keep_the_last_runs_of_the_trace() {
        let trace = r#"[
            {"cat":"Session","name":"model_loading_uri","ts":1,"dur":5,"args":{}},
            {"cat":"Session","name":"model_run","ts":10,"dur":10,"args":{}},
            {"cat":"Node","name":"conv_fence_before","ts":11,"dur":0,"args":{"op_name":"Conv"}},
            {"cat":"Node","name":"conv_kernel_time","ts":11,"dur":7,"args":{"op_name":"Conv"}},
            {"cat":"Session","name":"model_run","ts":30,"dur":10,"args":{}},
            {"cat":"Node","name":"conv_kernel_time","ts":31,"dur":4,"args":{"op_name":"Conv"}},
            {"cat":"Node","name":"relu_kernel_time","ts":35,"dur":1,"args":{"op_name":"Relu"}},
            {"cat":"Session","name":"model_run","ts":50,"dur":10,"args":{}},
            {"cat":"Node","name":"conv_kernel_time","ts":51,"dur":6,"args":{"op_name":"Conv"}}
        ]"#;
        let profile = kernel_times(trace, 2).unwrap();
        let rows: Vec<(&str, &str, u64, f64)> = profile
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.op_type.as_str(), n.calls, n.total_us))
            .collect();
        assert_eq!(rows, [("conv", "Conv", 2, 10.0), ("relu", "Relu", 1, 1.0)]);
        assert!(kernel_times(trace, 4).unwrap_err().contains("holds 3 runs"));
    }

    #[test]
    fn tensors_of_every_element_type_round_trip_through_values() {
        for tensor in [
            Tensor::new(vec![2, 2], TensorData::U8(vec![0, 1, 254, 255])).unwrap(),
            Tensor::new(vec![1, 3], TensorData::I8(vec![-128, 0, 127])).unwrap(),
            Tensor::new(vec![1], TensorData::F32(vec![0.5])).unwrap(),
            Tensor::new(vec![1], TensorData::F16(vec![f16::from_f32(0.5)])).unwrap(),
            Tensor::new(vec![2], TensorData::F64(vec![1e-300, 2.0])).unwrap(),
            Tensor::new(vec![2], TensorData::I64(vec![i64::MAX, -1])).unwrap(),
            Tensor::new(vec![], TensorData::I32(vec![16000])).unwrap(),
            Tensor::new(vec![1, 2], TensorData::Bool(vec![true, false])).unwrap(),
        ] {
            runtime().unwrap();
            let value = to_value(tensor.clone()).unwrap();
            assert_eq!(from_value(&value).unwrap(), tensor);
        }
    }
}
