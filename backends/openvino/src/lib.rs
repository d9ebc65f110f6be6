//! OpenVINO: Intel's inference runtime, through its C API (the `openvino` crate with runtime linking), loaded
//! from the libraries the set-up step unpacks from the PyPI wheel. Reads ONNX and TFLite files directly.
//!
//! Latency-oriented configuration on the CPU device: one stream, `INFERENCE_NUM_THREADS` = the scenario's
//! thread count, and f32 inference precision unless the scenario asks for `precision = "bf16"` (OpenVINO's own
//! default on CPUs that have bf16, which changes the answers). The precision and device actually used are read
//! back from the compiled model. Load time covers reading and compiling the model.

use harness_backend_api::runtime::LazyRuntime;
use harness_backend_api::{
    BackendError, ElementType, Engine, EngineSession, LoadRequest, Opened, Profile, Profiling,
    Setting, Tensor, TensorData, TensorInfo,
};
use openvino::{Core, DeviceType, PropertyKey, RwPropertyKey};
use std::path::PathBuf;

const NAME: &str = "openvino";
/// The OpenVINO release this backend is provisioned for (scripts/runtimes.toml).
const OPENVINO_VERSION: &str = "2026.4.1";
const LIBRARY: &str = "libopenvino_c.so.2641";
const LIBRARY_VARIABLE: &str = "HARNESS_OPENVINO_LIBRARY";

struct Runtime {
    path: PathBuf,
    version: String,
}

static RUNTIME: LazyRuntime<Runtime> = LazyRuntime::new(LIBRARY_VARIABLE, "openvino", LIBRARY);

/// Loads the C API library once per process.
fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME.get(|path| {
        openvino_sys::library::load_from(&path)
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        // "2026.4.1-22982-…": the release is what precedes the build number.
        let build = openvino::version().build_number;
        let version = build.split('-').next().unwrap_or(&build).to_string();
        Ok(Runtime { path, version })
    })
}

pub struct OpenvinoBackend;

impl Engine for OpenvinoBackend {
    const NAME: &'static str = NAME;
    const OPTIONS: &'static [&'static str] = &["precision"];
    const THREADS_NOTE: &'static str = "INFERENCE_NUM_THREADS = N on the CPU device with NUM_STREAMS = 1 \
(one inference at a time, latency-oriented); OpenVINO's own TBB pool runs each layer on those threads.";
    /// The CPU device's performance counters (`PERF_COUNT = YES` at compile time), read after each run.
    const PROFILING: Profiling = Profiling::Supported;
    type Session = OpenvinoSession;

    fn version(&self) -> String {
        match RUNTIME.loaded() {
            Some(Ok(r)) => r.version.clone(),
            _ => OPENVINO_VERSION.to_string(),
        }
    }

    fn runtime(&self) -> Result<String, String> {
        RUNTIME.status(|r| format!("{} (loaded, reports {})", r.path.display(), r.version))
    }

    fn load_runtime(&self) -> Result<(), String> {
        runtime().map(|_| ())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<OpenvinoSession>, BackendError> {
        let precision = match request.options.get_str("precision").unwrap_or("f32") {
            p @ ("f32" | "bf16" | "f16") => p,
            other => {
                return Err(request.option_error(format!(
                    "option `precision` must be f32, bf16 or f16, not `{other}`"
                )))
            }
        };
        let threads = request.threads;
        let load_error = |reason: String| request.error(reason);
        runtime().map_err(load_error)?;
        let path = request
            .model
            .to_str()
            .ok_or_else(|| load_error("the path is not UTF-8".into()))?;
        let ov = |e: openvino::InferenceError| load_error(e.to_string());
        let mut core = Core::new().map_err(|e| load_error(e.to_string()))?;
        for (key, value) in [
            (RwPropertyKey::NumStreams, "1".to_string()),
            (RwPropertyKey::InferenceNumThreads, threads.to_string()),
            (RwPropertyKey::HintInferencePrecision, precision.to_string()),
            (RwPropertyKey::EnableProfiling, yes_no(request.profile)),
        ] {
            core.set_property(&DeviceType::CPU, &key, &value)
                .map_err(ov)?;
        }
        let mut network = core.read_model_from_file(path, "").map_err(ov)?;
        let declared = (0..network.get_inputs_len().map_err(ov)?)
            .map(|i| describe(network.get_input_by_index(i).map_err(ov)?))
            .collect::<Result<Vec<_>, _>>()?;
        // Inputs with free dimensions are reshaped before compiling, so that the CPU plugin compiles for the
        // measured shapes; fixed ones (scalars among them) are left as the file has them.
        let bound: Vec<(usize, openvino::PartialShape)> = request
            .bound_shapes(&declared)?
            .into_iter()
            .enumerate()
            .filter(|(index, _)| declared[*index].shape.contains(&None))
            .filter_map(|(index, shape)| Some((index, shape?)))
            .map(|(index, shape)| {
                let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                openvino::PartialShape::new_static(dims.len() as i64, &dims)
                    .map(|shape| (index, shape))
                    .map_err(ov)
            })
            .collect::<Result<_, _>>()?;
        if !bound.is_empty() {
            let by_index: Vec<(usize, &openvino::PartialShape)> =
                bound.iter().map(|(index, shape)| (*index, shape)).collect();
            network.reshape_by_port_indexes(&by_index).map_err(ov)?;
        }
        let mut compiled = core.compile_model(&network, DeviceType::CPU).map_err(ov)?;
        let read_back = |key: RwPropertyKey| {
            compiled
                .get_property(&PropertyKey::Rw(key))
                .map(|v| v.into_owned())
                .map_err(ov)
        };
        let applied_precision = read_back(RwPropertyKey::HintInferencePrecision)?.to_lowercase();
        let applied_threads = read_back(RwPropertyKey::InferenceNumThreads)?;
        let applied_streams = read_back(RwPropertyKey::NumStreams)?;
        let inputs = (0..compiled.get_input_size().map_err(ov)?)
            .map(|i| describe(compiled.get_input_by_index(i).map_err(ov)?))
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = request.bound_inputs(&inputs)?;
        let outputs = (0..compiled.get_output_size().map_err(ov)?)
            .map(|i| describe(compiled.get_output_by_index(i).map_err(ov)?))
            .collect::<Result<Vec<_>, _>>()?;
        let request = compiled.create_infer_request().map_err(ov)?;
        let mut settings = vec![
            Setting::new("threads", applied_threads),
            Setting::new("streams", applied_streams),
            Setting::new("device", "CPU"),
            Setting::new("precision", &applied_precision),
        ];
        // A CPU without bf16 or f16 arithmetic compiles f32 instead: the row says what was asked as well.
        if applied_precision != precision {
            settings.push(Setting::new("requested_precision", precision));
        }
        Ok(Opened {
            session: OpenvinoSession {
                request,
                _compiled: compiled,
                _core: core,
                input_names: inputs.iter().map(|i| i.name.clone()).collect(),
                output_count: outputs.len(),
                settings,
                runs: 0,
                profile_start: None,
            },
            inputs,
            outputs,
        })
    }
}

fn yes_no(on: bool) -> String {
    if on { "YES" } else { "NO" }.to_string()
}

/// What OpenVINO's CPU device can compute here (`OPTIMIZATION_CAPABILITIES`: FP32, BF16, FP16, INT8, ...).
pub fn cpu_capabilities() -> Result<Vec<String>, String> {
    runtime()?;
    let core = Core::new().map_err(|e| e.to_string())?;
    let capabilities = core
        .get_property(&DeviceType::CPU, &PropertyKey::DeviceCapabilities)
        .map_err(|e| e.to_string())?;
    Ok(capabilities
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// A model input or output as the harness describes it; a dimension with a range is free.
fn describe(node: openvino::Node) -> Result<TensorInfo, BackendError> {
    let ov = |e: openvino::InferenceError| BackendError::input(NAME, e);
    let shape = node.get_partial_shape().map_err(ov)?;
    Ok(TensorInfo {
        name: node.get_name().map_err(ov)?,
        shape: shape
            .get_dimensions()
            .iter()
            .map(|d| (d.get_min() == d.get_max()).then(|| d.get_min() as usize))
            .collect(),
        element_type: element_type(node.get_element_type().map_err(ov)?)?,
    })
}

/// The two names of each element type the harness exchanges with OpenVINO.
const ELEMENT_TYPES: [(openvino::ElementType, ElementType); 8] = [
    (openvino::ElementType::F32, ElementType::F32),
    (openvino::ElementType::F16, ElementType::F16),
    (openvino::ElementType::F64, ElementType::F64),
    (openvino::ElementType::I64, ElementType::I64),
    (openvino::ElementType::I32, ElementType::I32),
    (openvino::ElementType::I8, ElementType::I8),
    (openvino::ElementType::U8, ElementType::U8),
    (openvino::ElementType::Boolean, ElementType::Bool),
];

fn element_type(t: openvino::ElementType) -> Result<ElementType, BackendError> {
    ELEMENT_TYPES
        .iter()
        .find(|(ov, _)| *ov == t)
        .map(|&(_, harness)| harness)
        .ok_or_else(|| {
            BackendError::unsupported(
                NAME,
                format!("model tensors of type {t:?}: the harness does not exchange them"),
            )
        })
}

fn openvino_type(t: ElementType) -> openvino::ElementType {
    ELEMENT_TYPES
        .iter()
        .find(|(_, harness)| *harness == t)
        .map(|&(ov, _)| ov)
        .expect("every harness element type has an OpenVINO one")
}

pub struct OpenvinoSession {
    request: openvino::InferRequest,
    // The request needs its compiled model and core alive; dropped after it, in field order.
    _compiled: openvino::CompiledModel,
    _core: Core,
    /// The model's input names, in order: scalars are written into the request's tensor of that name.
    input_names: Vec<String>,
    output_count: usize,
    settings: Vec<Setting>,
    /// Inferences since the model was compiled, which OpenVINO's counters average over.
    runs: u64,
    /// The counters as they stood before the first profiled run, and after how many inferences.
    profile_start: Option<(u64, Vec<Counter>)>,
}

// The `openvino` crate keeps a request's C handle to itself and does not wrap the performance counters; its
// `InferRequest` is that one pointer, which a pinned release and this check make safe to read.
const _: () = assert!(
    std::mem::size_of::<openvino::InferRequest>()
        == std::mem::size_of::<*mut openvino_sys::ov_infer_request_t>()
);

/// One node's performance counter: OpenVINO's CPU device reports each node's mean time over every inference
/// since the model was compiled (in whole microseconds), not the last inference's.
struct Counter {
    node: String,
    op_type: String,
    executed: bool,
    mean_us: f64,
}

/// The performance counters (`PERF_COUNT`) as they stand: each node of the compiled graph, with the nodes
/// OpenVINO fused into others as not executed.
fn read_counters(request: &openvino::InferRequest) -> Result<Vec<Counter>, BackendError> {
    use openvino_sys::{ov_profiling_info_list_t, ov_profiling_info_t_Status, ov_status_e};
    let text = |p: *const std::os::raw::c_char| {
        // SAFETY: OpenVINO's strings in a profiling list are NUL-terminated and live as long as the list.
        (!p.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
    };
    let mut counters = Vec::new();
    // SAFETY: the request is one pointer to the C request (checked above); the list is filled by OpenVINO,
    // read within its size, and freed by OpenVINO.
    unsafe {
        let handle = *(request as *const openvino::InferRequest)
            .cast::<*const openvino_sys::ov_infer_request_t>();
        let mut list = ov_profiling_info_list_t {
            profiling_infos: std::ptr::null_mut(),
            size: 0,
        };
        let status = openvino_sys::ov_infer_request_get_profiling_info(handle, &mut list);
        if status != ov_status_e::OK {
            return Err(BackendError::run(
                NAME,
                format!("reading the performance counters failed ({status:?})"),
            ));
        }
        let infos = if list.profiling_infos.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(list.profiling_infos, list.size)
        };
        for info in infos {
            // The node's operator with the kernel that ran it: `Convolution [brgconv_avx2_1x1_FP32]`.
            let node_type = text(info.node_type).unwrap_or_default();
            let op_type = match text(info.exec_type).filter(|e| !e.is_empty()) {
                Some(kernel) => format!("{node_type} [{kernel}]"),
                None => node_type,
            };
            counters.push(Counter {
                node: text(info.node_name).unwrap_or_default(),
                op_type,
                executed: info.status == ov_profiling_info_t_Status::EXECUTED,
                mean_us: info.real_time.max(0) as f64,
            });
        }
        openvino_sys::ov_profiling_info_list_free(&mut list);
    }
    Ok(counters)
}

/// Each node's time over the inferences between two readings of the counters (`before` after `runs_before`
/// inferences, `after` after `runs_after`): the difference of the means' totals.
fn profile_between(
    (runs_before, before): (u64, &[Counter]),
    (runs_after, after): (u64, &[Counter]),
) -> Profile {
    let mut profile = Profile::default();
    for counter in after {
        let earlier = before
            .iter()
            .find(|c| c.node == counter.node && c.op_type == counter.op_type)
            .map_or(0.0, |c| c.mean_us * runs_before as f64);
        let total = (counter.mean_us * runs_after as f64 - earlier).max(0.0);
        let calls = if counter.executed {
            runs_after - runs_before
        } else {
            0
        };
        profile.add_micros(&counter.node, &counter.op_type, calls, total);
    }
    profile
}

fn input_error(reason: String) -> BackendError {
    BackendError::input(NAME, reason)
}

/// One input, ready for a run: an OpenVINO tensor the request reads in place, or a scalar's bytes (OpenVINO's
/// C API cannot make a tensor of rank 0), copied into the request's own tensor at each run.
pub enum InputValue {
    Tensor(openvino::Tensor),
    Scalar(Vec<u8>),
}

/// Copies harness tensors into OpenVINO tensors of the same type and shape.
fn to_openvino(inputs: Vec<Tensor>) -> Result<Vec<InputValue>, BackendError> {
    inputs
        .into_iter()
        .map(|t| {
            if t.shape.is_empty() {
                return Ok(InputValue::Scalar(t.data.as_bytes().to_vec()));
            }
            let dims: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
            let shape = openvino::Shape::new(&dims).map_err(|e| input_error(e.to_string()))?;
            let mut tensor = openvino::Tensor::new(openvino_type(t.data.element_type()), &shape)
                .map_err(|e| input_error(e.to_string()))?;
            tensor
                .get_raw_data_mut()
                .map_err(|e| input_error(e.to_string()))?
                .copy_from_slice(t.data.as_bytes());
            Ok(InputValue::Tensor(tensor))
        })
        .collect()
}

impl EngineSession for OpenvinoSession {
    type Inputs = Vec<InputValue>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Vec<InputValue>, BackendError> {
        to_openvino(inputs)
    }

    fn run(&mut self, inputs: &mut Vec<InputValue>) -> Result<(), BackendError> {
        let run_error = |e: openvino::InferenceError| BackendError::run(NAME, e);
        for (index, input) in inputs.iter().enumerate() {
            match input {
                // Setting a tensor hands OpenVINO a reference to memory the session keeps: no copy.
                InputValue::Tensor(tensor) => self
                    .request
                    .set_input_tensor_by_index(index, tensor)
                    .map_err(run_error)?,
                InputValue::Scalar(bytes) => self
                    .request
                    .get_tensor(&self.input_names[index])
                    .and_then(|mut own| {
                        own.get_raw_data_mut()?.copy_from_slice(bytes);
                        Ok(())
                    })
                    .map_err(run_error)?,
            }
        }
        self.request.infer().map_err(run_error)?;
        self.runs += 1;
        Ok(())
    }

    fn run_profiled(&mut self, inputs: &mut Vec<InputValue>) -> Result<(), BackendError> {
        if self.profile_start.is_none() {
            let before = if self.runs == 0 {
                Vec::new()
            } else {
                read_counters(&self.request)?
            };
            self.profile_start = Some((self.runs, before));
        }
        self.run(inputs)
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        let Some((runs_before, before)) = self.profile_start.take() else {
            return Ok(Profile::default());
        };
        let after = read_counters(&self.request)?;
        Ok(profile_between((runs_before, &before), (self.runs, &after)))
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        let run_error = |e: openvino::InferenceError| BackendError::run(NAME, e);
        (0..self.output_count)
            .map(|i| {
                let tensor = self
                    .request
                    .get_output_tensor_by_index(i)
                    .map_err(run_error)?;
                let shape: Vec<usize> = tensor
                    .get_shape()
                    .map_err(run_error)?
                    .get_dimensions()
                    .iter()
                    .map(|&d| d as usize)
                    .collect();
                let element_type = element_type(tensor.get_element_type().map_err(run_error)?)?;
                let bytes = tensor.get_raw_data().map_err(run_error)?;
                let data = TensorData::from_bytes(element_type, bytes).ok_or_else(|| {
                    BackendError::run(
                        NAME,
                        format!("output {i} is not a whole {element_type} tensor"),
                    )
                })?;
                Ok(Tensor { shape, data })
            })
            .collect()
    }

    fn settings(&self) -> Vec<Setting> {
        self.settings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::{Backend, LoadOptions, ModelFormat};
    use std::path::Path;

    #[test]
    fn counters_averaged_since_compiling_give_the_profiled_runs_alone() {
        let counter = |node: &str, executed, mean_us| Counter {
            node: node.into(),
            op_type: "Convolution".into(),
            executed,
            mean_us,
        };
        // Two warm-up runs of 30 µs each, then three profiled runs of 10 µs: the mean falls to 18 µs.
        let before = [counter("conv", true, 30.0), counter("fused", false, 0.0)];
        let after = [counter("conv", true, 18.0), counter("fused", false, 0.0)];
        let profile = profile_between((2, &before), (5, &after));
        let rows: Vec<(&str, u64, f64)> = profile
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.calls, n.total_us))
            .collect();
        assert_eq!(rows, [("conv", 3, 30.0), ("fused", 0, 0.0)]);
    }

    #[test]
    fn an_unknown_precision_is_refused() {
        let mut options = LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        };
        options.engine.0.insert("precision".into(), "int4".into());
        let err = OpenvinoBackend
            .load(Path::new("/nonexistent.onnx"), ModelFormat::Onnx, &options)
            .err()
            .expect("an error");
        assert!(
            err.to_string().contains("must be f32, bf16 or f16"),
            "{err}"
        );
    }

    #[test]
    fn the_library_loads_and_reports_the_provisioned_release() {
        let runtime = runtime().expect("OpenVINO must load here: run scripts/setup.sh");
        assert_eq!(runtime.version, OPENVINO_VERSION);
    }
}
