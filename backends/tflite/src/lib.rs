//! TensorFlow Lite, now called LiteRT: the real runtime (`libLiteRt.so` from the pinned `ai-edge-litert`
//! wheel) through its C API, compiled for the CPU accelerator, which runs the model with XNNPACK.
//!
//! Loading creates the model and the compiled model once; `prepare` fills one set of input buffers per input
//! (outside timing); a run hands prepared buffers to `LiteRtRunCompiledModel`. Every handle is released when
//! the session is dropped.

mod ffi;

use ffi::Api;
use harness_backend_api::runtime::LazyRuntime;
use harness_backend_api::{
    BackendError, ElementType, Engine, EngineSession, LoadRequest, Opened, Profiling, Setting,
    Tensor, TensorData, TensorInfo,
};
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};

const NAME: &str = "tflite";
/// The LiteRT release provisioned by scripts/runtimes.toml; the library exports no version function.
pub const LITERT_VERSION: &str = "2.3.0";
const LIBRARY: &str = "libLiteRt.so";
/// An explicit path to `libLiteRt.so`, overriding the project's runtime folder.
pub const LIBRARY_VARIABLE: &str = "HARNESS_TFLITE_LIBRARY";

struct Runtime {
    api: Api,
    path: PathBuf,
    environment: ffi::Environment,
}

// SAFETY: the environment handle is created once and only passed to LiteRT calls, which are thread-safe for
// distinct models; the harness drives one session at a time.
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

static RUNTIME: LazyRuntime<Runtime> = LazyRuntime::new(LIBRARY_VARIABLE, "litert", LIBRARY);

/// Loads the library and creates the process's LiteRT environment, once. The environment lives as long as
/// the process: LiteRT registers its accelerators in it.
fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME.get(|path| {
        let api = Api::load(&path)?;
        let mut environment = std::ptr::null_mut();
        // SAFETY: no options; the out-pointer is valid.
        check(unsafe { (api.LiteRtCreateEnvironment)(0, std::ptr::null(), &mut environment) })
            .map_err(|e| format!("LiteRtCreateEnvironment: {e}"))?;
        Ok(Runtime {
            api,
            path,
            environment,
        })
    })
}

fn check(status: ffi::Status) -> Result<(), String> {
    if status == ffi::STATUS_OK {
        Ok(())
    } else {
        Err(format!("{} (status {status})", ffi::status_text(status)))
    }
}

pub struct TfliteBackend;

impl Engine for TfliteBackend {
    const NAME: &'static str = NAME;
    const THREADS_NOTE: &'static str = "XNNPACK's thread pool gets N threads (the `xnnpack` compilation \
option `num_threads = N`); operators XNNPACK does not take run on LiteRT's built-in kernels on the calling thread.";
    /// The library exports a profiler (`LiteRtCompiledModelGetProfiler`, `LiteRtGetProfilerEvents`), but the
    /// layout of the events it fills is a C++ struct with no stable C header for this release: reading it by
    /// guesswork could misreport every time.
    const PROFILING: Profiling = Profiling::Unsupported(
        "LiteRT's profiler events have no stable C layout in this release, so the harness does not read them",
    );
    type Session = TfliteSession;

    fn version(&self) -> String {
        let overridden = std::env::var_os(LIBRARY_VARIABLE).is_some_and(|v| !v.is_empty());
        if overridden {
            format!("LiteRT (library from {LIBRARY_VARIABLE}, version not reported)")
        } else {
            format!("LiteRT {LITERT_VERSION}")
        }
    }

    fn runtime(&self) -> Result<String, String> {
        RUNTIME.status(|r| format!("{} (loaded)", r.path.display()))
    }

    fn load_runtime(&self) -> Result<(), String> {
        runtime().map(|_| ())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<TfliteSession>, BackendError> {
        let runtime = runtime().map_err(|e| request.error(e))?;
        let session = TfliteSession::open(runtime, request.model, request.threads)
            .map_err(|e| request.error(e))?;
        // The compiled-model API plans for the file's own shapes: the scenario's must fit them.
        Ok(Opened {
            inputs: request.bound_inputs(&session.inputs)?,
            outputs: session.outputs.clone(),
            session,
        })
    }
}

pub struct TfliteSession {
    runtime: &'static Runtime,
    model: ffi::Model,
    compiled: ffi::CompiledModel,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    input_types: Vec<ffi::RankedTensorType>,
    output_buffers: Vec<ffi::TensorBuffer>,
    threads: usize,
    signature_key: String,
}

/// One set of input buffers of a compiled model, released on drop (before the session that made them).
pub struct InputBuffers {
    api: &'static Api,
    buffers: Vec<ffi::TensorBuffer>,
}

impl Drop for InputBuffers {
    fn drop(&mut self) {
        release_buffers(self.api, &self.buffers);
    }
}

/// The signature every model is run through: the first one.
const SIGNATURE: ffi::ParamIndex = 0;

impl TfliteSession {
    fn open(
        runtime: &'static Runtime,
        path: &Path,
        threads: usize,
    ) -> Result<TfliteSession, String> {
        let api = &runtime.api;
        let file = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        let mut session = TfliteSession {
            runtime,
            model: std::ptr::null_mut(),
            compiled: std::ptr::null_mut(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            input_types: Vec::new(),
            output_buffers: Vec::new(),
            threads,
            signature_key: String::new(),
        };
        // From here on, `session`'s Drop releases whatever was created, also on an early return.
        // SAFETY: every pointer passed is valid for the call; handles come from the same library.
        unsafe {
            check((api.LiteRtCreateModelFromFile)(
                runtime.environment,
                file.as_ptr(),
                &mut session.model,
            ))
            .map_err(|e| format!("LiteRtCreateModelFromFile: {e}"))?;
            let mut signatures = 0;
            check((api.LiteRtGetNumModelSignatures)(
                session.model,
                &mut signatures,
            ))?;
            if signatures == 0 {
                return Err(
                    "the model has no signature, which LiteRT's compiled-model API needs".into(),
                );
            }
            let mut signature = std::ptr::null_mut();
            check((api.LiteRtGetModelSignature)(
                session.model,
                SIGNATURE,
                &mut signature,
            ))?;
            let mut key: *const c_char = std::ptr::null();
            check((api.LiteRtGetSignatureKey)(signature, &mut key))?;
            if !key.is_null() {
                session.signature_key = CStr::from_ptr(key).to_string_lossy().into_owned();
            }
            let (mut input_count, mut output_count) = (0, 0);
            check((api.LiteRtGetNumSignatureInputs)(
                signature,
                &mut input_count,
            ))?;
            check((api.LiteRtGetNumSignatureOutputs)(
                signature,
                &mut output_count,
            ))?;
            for index in 0..input_count {
                let mut tensor = std::ptr::null_mut();
                check((api.LiteRtGetSignatureInputTensorByIndex)(
                    signature,
                    index,
                    &mut tensor,
                ))?;
                let (info, ty) = describe(api, tensor)?;
                session.inputs.push(info);
                session.input_types.push(ty);
            }
            let mut output_types = Vec::new();
            for index in 0..output_count {
                let mut tensor = std::ptr::null_mut();
                check((api.LiteRtGetSignatureOutputTensorByIndex)(
                    signature,
                    index,
                    &mut tensor,
                ))?;
                let (info, ty) = describe(api, tensor)?;
                session.outputs.push(info);
                output_types.push(ty);
            }

            session.compiled = compile(runtime, session.model, threads)?;
            for (index, ty) in output_types.iter().enumerate() {
                let mut requirements = std::ptr::null_mut();
                check((api.LiteRtGetCompiledModelOutputBufferRequirements)(
                    session.compiled,
                    SIGNATURE,
                    index,
                    &mut requirements,
                ))?;
                let buffer = create_buffer(runtime, ty, requirements)?;
                session.output_buffers.push(buffer);
            }
        }
        Ok(session)
    }
}

/// Compiles `model` for the CPU accelerator (XNNPACK) with `threads` threads.
///
/// # Safety
/// `model` must be a live model of `runtime`'s library.
unsafe fn compile(
    runtime: &Runtime,
    model: ffi::Model,
    threads: usize,
) -> Result<ffi::CompiledModel, String> {
    let api = &runtime.api;
    let mut options = std::ptr::null_mut();
    check((api.LiteRtCreateOptions)(&mut options))?;
    let result = (|| {
        check((api.LiteRtSetOptionsHardwareAccelerators)(
            options,
            ffi::HW_ACCELERATOR_CPU,
        ))?;
        // The CPU-options helpers are not exported; the XNNPACK settings travel as a text payload.
        let payload =
            CString::new(format!("num_threads = {threads}\n")).expect("no NUL in the payload");
        let payload = payload.into_raw();
        let mut opaque = std::ptr::null_mut();
        let created = check((api.LiteRtCreateOpaqueOptions)(
            c"xnnpack".as_ptr(),
            payload.cast(),
            Some(free_payload),
            &mut opaque,
        ));
        if let Err(e) = created {
            drop(CString::from_raw(payload));
            return Err(format!("LiteRtCreateOpaqueOptions: {e}"));
        }
        if let Err(e) = check((api.LiteRtAddOpaqueOptions)(options, opaque)) {
            (api.LiteRtDestroyOpaqueOptions)(opaque);
            return Err(format!("LiteRtAddOpaqueOptions: {e}"));
        }
        let mut compiled = std::ptr::null_mut();
        check((api.LiteRtCreateCompiledModel)(
            runtime.environment,
            model,
            options,
            &mut compiled,
        ))
        .map_err(|e| format!("LiteRtCreateCompiledModel: {e}"))?;
        Ok(compiled)
    })();
    // The compilation options stay the caller's (ours) after compiling.
    (api.LiteRtDestroyOptions)(options);
    result
}

unsafe extern "C" fn free_payload(payload: *mut c_void) {
    // SAFETY: the payload is the CString handed over in `compile`, freed exactly once by LiteRT.
    unsafe { drop(CString::from_raw(payload.cast::<c_char>())) }
}

/// # Safety
/// `requirements` must belong to a live compiled model of `runtime`'s library.
unsafe fn create_buffer(
    runtime: &Runtime,
    ty: &ffi::RankedTensorType,
    requirements: ffi::TensorBufferRequirements,
) -> Result<ffi::TensorBuffer, String> {
    let mut buffer = std::ptr::null_mut();
    check((runtime
        .api
        .LiteRtCreateManagedTensorBufferFromRequirements)(
        runtime.environment,
        ty,
        requirements,
        &mut buffer,
    ))
    .map_err(|e| format!("LiteRtCreateManagedTensorBufferFromRequirements: {e}"))?;
    Ok(buffer)
}

/// # Safety
/// `tensor` must be a live tensor of `api`'s library.
unsafe fn describe(
    api: &Api,
    tensor: ffi::Tensor,
) -> Result<(TensorInfo, ffi::RankedTensorType), String> {
    let mut name: *const c_char = std::ptr::null();
    check((api.LiteRtGetTensorName)(tensor, &mut name))?;
    let name = if name.is_null() {
        String::new()
    } else {
        CStr::from_ptr(name).to_string_lossy().into_owned()
    };
    let mut ty: ffi::RankedTensorType = std::mem::zeroed();
    check((api.LiteRtGetRankedTensorType)(tensor, &mut ty))
        .map_err(|e| format!("tensor `{name}`: {e}"))?;
    let element_type = ffi::ELEMENT_TYPES
        .iter()
        .find(|(code, _)| *code == ty.element_type)
        .map(|&(_, element_type)| element_type)
        .ok_or_else(|| {
            format!(
                "tensor `{name}` has LiteRT element type {}, which the harness does not exchange",
                ty.element_type
            )
        })?;
    let shape = ty.layout.dimensions[..ty.layout.rank()]
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect();
    Ok((
        TensorInfo {
            name,
            shape,
            element_type,
        },
        ty,
    ))
}

impl TfliteSession {
    fn error(&self, reason: String) -> BackendError {
        BackendError::run(NAME, reason)
    }

    /// Copies `bytes` into `buffer` under a write lock.
    fn write(&self, buffer: ffi::TensorBuffer, bytes: &[u8]) -> Result<(), String> {
        let api = &self.runtime.api;
        // SAFETY: the buffer is live; the lock gives host memory of `size` bytes until unlocked.
        unsafe {
            let mut size = 0;
            check((api.LiteRtGetTensorBufferSize)(buffer, &mut size))?;
            if size < bytes.len() {
                return Err(format!(
                    "the input buffer holds {size} bytes, the tensor has {}",
                    bytes.len()
                ));
            }
            let mut host: *mut c_void = std::ptr::null_mut();
            check((api.LiteRtLockTensorBuffer)(
                buffer,
                &mut host,
                ffi::LOCK_WRITE,
            ))?;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), host.cast::<u8>(), bytes.len());
            check((api.LiteRtUnlockTensorBuffer)(buffer))
        }
    }

    /// Reads `count` elements of `element_type` from `buffer` under a read lock.
    fn read(
        &self,
        buffer: ffi::TensorBuffer,
        element_type: ElementType,
        count: usize,
    ) -> Result<TensorData, String> {
        let api = &self.runtime.api;
        // SAFETY: as in `write`; the buffer is checked to hold `count` elements.
        unsafe {
            let mut size = 0;
            check((api.LiteRtGetTensorBufferSize)(buffer, &mut size))?;
            let bytes = count * element_type.size();
            if size < bytes {
                return Err(format!(
                    "the output buffer holds {size} bytes, fewer than its tensor needs"
                ));
            }
            let mut host: *mut c_void = std::ptr::null_mut();
            check((api.LiteRtLockTensorBuffer)(
                buffer,
                &mut host,
                ffi::LOCK_READ,
            ))?;
            let values = TensorData::from_bytes(
                element_type,
                std::slice::from_raw_parts(host.cast(), bytes),
            );
            check((api.LiteRtUnlockTensorBuffer)(buffer))?;
            values.ok_or_else(|| format!("the output buffer does not hold {element_type} values"))
        }
    }
}

impl EngineSession for TfliteSession {
    type Inputs = InputBuffers;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<InputBuffers, BackendError> {
        let mut prepared = InputBuffers {
            api: &self.runtime.api,
            buffers: Vec::new(),
        };
        // On an error, `prepared`'s drop releases the buffers made so far.
        for (index, tensor) in inputs.iter().enumerate() {
            let mut requirements = std::ptr::null_mut();
            // SAFETY: the compiled model is live; the requirements stay owned by it.
            let buffer = unsafe {
                check((self
                    .runtime
                    .api
                    .LiteRtGetCompiledModelInputBufferRequirements)(
                    self.compiled,
                    SIGNATURE,
                    index,
                    &mut requirements,
                ))
                .and_then(|()| create_buffer(self.runtime, &self.input_types[index], requirements))
                .map_err(|e| self.error(e))?
            };
            prepared.buffers.push(buffer);
            self.write(buffer, tensor.data.as_bytes())
                .map_err(|e| self.error(e))?;
        }
        Ok(prepared)
    }

    fn refill(&mut self, slot: &mut InputBuffers, inputs: Vec<Tensor>) -> Result<(), BackendError> {
        // The buffers exist already: only their contents change.
        for (&buffer, tensor) in slot.buffers.iter().zip(&inputs) {
            self.write(buffer, tensor.data.as_bytes())
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn run(&mut self, inputs: &mut InputBuffers) -> Result<(), BackendError> {
        let inputs = &mut inputs.buffers;
        // SAFETY: all handles are live and belong to this compiled model's signature.
        let status = unsafe {
            (self.runtime.api.LiteRtRunCompiledModel)(
                self.compiled,
                SIGNATURE,
                inputs.len(),
                inputs.as_mut_ptr(),
                self.output_buffers.len(),
                self.output_buffers.as_mut_ptr(),
            )
        };
        check(status).map_err(|e| self.error(format!("LiteRtRunCompiledModel: {e}")))
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.outputs
            .iter()
            .zip(&self.output_buffers)
            .map(|(info, &buffer)| {
                let shape: Vec<usize> = info.shape.iter().map(|d| d.unwrap_or(1)).collect();
                let count = shape.iter().product();
                let data = self
                    .read(buffer, info.element_type, count)
                    .map_err(|e| self.error(e))?;
                Ok(Tensor { shape, data })
            })
            .collect()
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new("threads", self.threads),
            Setting::new("accelerator", "cpu"),
            Setting::new("delegate", "xnnpack"),
            Setting::new("signature", &self.signature_key),
        ]
    }
}

fn release_buffers(api: &Api, buffers: &[ffi::TensorBuffer]) {
    for &buffer in buffers {
        // SAFETY: each buffer was created by this library and is destroyed once.
        unsafe { (api.LiteRtDestroyTensorBuffer)(buffer) }
    }
}

impl Drop for TfliteSession {
    fn drop(&mut self) {
        let api = &self.runtime.api;
        release_buffers(api, &self.output_buffers);
        // SAFETY: buffers are gone (prepared inputs are dropped before their session); the compiled model goes before the model it was made from.
        unsafe {
            if !self.compiled.is_null() {
                (api.LiteRtDestroyCompiledModel)(self.compiled);
            }
            if !self.model.is_null() {
                (api.LiteRtDestroyModel)(self.model);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::{Backend, LoadOptions, ModelFormat};

    fn model() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/mobilenet_v2/mobilenet_v2.tflite")
    }

    fn options(threads: usize) -> LoadOptions {
        LoadOptions {
            threads,
            ..LoadOptions::default()
        }
    }

    /// In CI a missing or unloadable library must fail here, never be skipped.
    #[test]
    fn the_provisioned_library_loads() {
        let info = TfliteBackend.info();
        let runtime = info
            .runtime
            .expect("LiteRT must load: run scripts/setup.sh");
        assert!(runtime.contains(LIBRARY), "{runtime}");
        assert_eq!(info.engine_version, "LiteRT 2.3.0");
    }

    #[test]
    fn a_session_reports_its_signature_tensors_and_settings() {
        let session = TfliteBackend
            .load(&model(), ModelFormat::Tflite, &options(2))
            .unwrap();
        assert_eq!(
            session.inputs()[0].to_string(),
            "serving_default_input:0 f32 [1, 224, 224, 3]"
        );
        assert_eq!(
            session.outputs()[0].to_string(),
            "StatefulPartitionedCall_1:0 f32 [1, 1000]"
        );
        let settings: Vec<String> = session
            .settings()
            .iter()
            .map(|s| format!("{}={}", s.key, s.value))
            .collect();
        assert_eq!(
            settings,
            [
                "threads=2",
                "accelerator=cpu",
                "delegate=xnnpack",
                "signature=serving_default"
            ]
        );
    }

    #[test]
    fn a_run_gives_the_same_logits_for_the_same_input() {
        let mut session = TfliteBackend
            .load(&model(), ModelFormat::Tflite, &options(1))
            .unwrap();
        let values: Vec<f32> = (0..224 * 224 * 3)
            .map(|i| ((i % 255) as f32) / 255.0 - 0.5)
            .collect();
        let input = Tensor::new(vec![1, 224, 224, 3], TensorData::F32(values)).unwrap();
        let a = session.prepare(vec![input.clone()]).unwrap();
        let b = session.prepare(vec![input]).unwrap();
        session.run(a).unwrap();
        let first = session.last_outputs().unwrap();
        session.run(b).unwrap();
        let second = session.last_outputs().unwrap();
        assert_eq!(first, second);
        let TensorData::F32(logits) = &first[0].data else {
            panic!("f32 logits")
        };
        assert_eq!(logits.len(), 1000);
        assert!(logits.iter().all(|v| v.is_finite()) && logits.iter().any(|&v| v != 0.0));
    }

    #[test]
    fn other_formats_options_and_broken_files_are_refused_clearly() {
        let err = TfliteBackend
            .load(&model(), ModelFormat::Onnx, &options(1))
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "tflite does not support onnx models");
        let mut with_option = options(1);
        with_option.engine.0.insert("gpu".into(), "true".into());
        let err = TfliteBackend
            .load(&model(), ModelFormat::Tflite, &with_option)
            .err()
            .unwrap();
        assert!(err.to_string().contains("unknown option `gpu`"), "{err}");

        let bad =
            std::env::temp_dir().join(format!("harness-tflite-{}.tflite", std::process::id()));
        std::fs::write(&bad, b"not a flatbuffer").unwrap();
        let err = TfliteBackend
            .load(&bad, ModelFormat::Tflite, &options(1))
            .err()
            .unwrap();
        std::fs::remove_file(&bad).unwrap();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "tflite could not load {}: LiteRtCreateModelFromFile",
                bad.display()
            )),
            "{text}"
        );
    }
}
