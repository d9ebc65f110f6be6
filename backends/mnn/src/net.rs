//! The handful of MNN C API objects a session uses, each released on drop: the interpreter (the model), its
//! session (the compiled network on the CPU backend) and host tensors.

use harness_backend_api::{ElementType, Profile, TensorData};
use mnn_sys as ffi;
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use std::time::Instant;

/// How the session is scheduled: MNN's `ScheduleConfig` and `BackendConfig`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub threads: usize,
    pub precision: ffi::PrecisionMode,
    pub memory: ffi::MemoryMode,
    pub power: ffi::PowerMode,
}

/// An interpreter and the one session created from it.
pub struct Net {
    interpreter: *mut ffi::Interpreter,
    session: *mut ffi::Session,
}

impl Drop for Net {
    fn drop(&mut self) {
        // SAFETY: both were created by `Net::load`; the session belongs to the interpreter and goes first.
        unsafe {
            ffi::Interpreter_releaseSession(self.interpreter, self.session);
            ffi::Interpreter_destroy(self.interpreter);
        }
    }
}

/// One input or output of the session: its name and the session's own tensor (owned by the session).
pub struct Port {
    pub name: String,
    pub tensor: *mut ffi::Tensor,
}

impl Net {
    /// Reads a converted model and creates a CPU session for it.
    pub fn load(model: &Path, schedule: Schedule) -> Result<Net, String> {
        let path = CString::new(model.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{} contains a NUL byte", model.display()))?;
        // SAFETY: the configs are created, used and destroyed here (MNN copies them into the session); a
        // null interpreter or session is checked before use.
        unsafe {
            let interpreter = ffi::Interpreter_createFromFile(path.as_ptr());
            if interpreter.is_null() {
                return Err(format!(
                    "MNN could not read the converted model {}",
                    model.display()
                ));
            }
            let backend = ffi::mnnbc_create();
            ffi::mnnbc_set_precision_mode(backend, schedule.precision);
            ffi::mnnbc_set_memory_mode(backend, schedule.memory);
            ffi::mnnbc_set_power_mode(backend, schedule.power);
            let config = ffi::mnnsc_create();
            ffi::mnnsc_set_type(config, ffi::MNNForwardType::MNN_FORWARD_CPU);
            ffi::mnnsc_set_num_threads(
                config,
                c_int::try_from(schedule.threads).unwrap_or(c_int::MAX),
            );
            ffi::mnnsc_set_backend_config(config, backend);
            let session = ffi::Interpreter_createSession(interpreter, config);
            ffi::mnnsc_destroy(config);
            ffi::mnnbc_destroy(backend);
            if session.is_null() {
                ffi::Interpreter_destroy(interpreter);
                return Err("MNN could not create a CPU session for the model".to_string());
            }
            Ok(Net {
                interpreter,
                session,
            })
        }
    }

    fn ports(&self, all: *const ffi::TensorInfoArray) -> Vec<Port> {
        // SAFETY: `all` is a fresh array of `size` entries, each a name and a tensor owned by the session;
        // the names are copied out before the array is destroyed.
        unsafe {
            let ports = (0..(*all).size)
                .map(|i| {
                    let info = ffi::getTensorInfoArray(all, i);
                    Port {
                        name: CStr::from_ptr((*info).name.data)
                            .to_string_lossy()
                            .into_owned(),
                        tensor: (*info).tensor.cast(),
                    }
                })
                .collect();
            ffi::destroyTensorInfoArray(all.cast_mut());
            ports
        }
    }

    /// The session's inputs, in MNN's order (by name).
    pub fn inputs(&self) -> Vec<Port> {
        // SAFETY: a live interpreter and session.
        self.ports(unsafe { ffi::Interpreter_getSessionInputAll(self.interpreter, self.session) })
    }

    /// The session's outputs, in MNN's order (by name).
    pub fn outputs(&self) -> Vec<Port> {
        // SAFETY: a live interpreter and session.
        self.ports(unsafe { ffi::Interpreter_getSessionOutputAll(self.interpreter, self.session) })
    }

    /// Gives `input` (one of this session's) a new shape; [`Net::resize`] applies it.
    pub fn resize_input(&self, input: &Port, shape: &[usize]) -> Result<(), String> {
        let dims = shape
            .iter()
            .map(|&d| c_int::try_from(d).map_err(|_| format!("dimension {d} is too large")))
            .collect::<Result<Vec<_>, _>>()?;
        // SAFETY: the tensor is one of this session's inputs; MNN copies the dimensions.
        unsafe {
            ffi::Interpreter_resizeTensor(self.interpreter, input.tensor, dims.as_ptr(), dims.len())
        };
        Ok(())
    }

    /// Plans the session for its inputs' shapes (allocating every intermediate tensor).
    pub fn resize(&self) -> Result<(), String> {
        let mut status: c_int = -1;
        // SAFETY: a live session; RESIZE_STATUS writes one int.
        unsafe {
            ffi::Interpreter_resizeSession(self.interpreter, self.session);
            self.info(3, (&mut status as *mut c_int).cast());
        }
        match status {
            0 => Ok(()),
            1 => Err("MNN could not allocate the session's memory".to_string()),
            _ => Err("MNN could not resize the network to these input shapes".to_string()),
        }
    }

    /// `Interpreter::getSessionInfo`: `code` is a `SessionInfoCode`, `value` points at what it writes.
    unsafe fn info(&self, code: c_int, value: *mut c_void) -> bool {
        // SAFETY: the caller passes a pointer of the kind `code` writes.
        unsafe { ffi::Interpreter_getSessionInfo(self.interpreter, self.session, code, value) != 0 }
    }

    /// The memory the session holds, in MB, as MNN counts it.
    pub fn memory_mb(&self) -> Option<f32> {
        let mut value = 0f32;
        // SAFETY: MEMORY writes one float.
        unsafe { self.info(0, (&mut value as *mut f32).cast()) }.then_some(value)
    }

    /// The threads the session's CPU backend really uses.
    pub fn threads(&self) -> Option<i32> {
        let mut value: c_int = 0;
        // SAFETY: THREAD_NUMBER writes one int.
        unsafe { self.info(4, (&mut value as *mut c_int).cast()) }.then_some(value)
    }

    /// Runs the network once on what its input tensors hold.
    pub fn run(&self) -> Result<(), String> {
        // SAFETY: a live, resized session.
        let code = unsafe { ffi::Interpreter_runSession(self.interpreter, self.session) };
        if code == ffi::ErrorCode::ERROR_CODE_NO_ERROR {
            Ok(())
        } else {
            Err(format!("MNN's runSession failed ({code:?})"))
        }
    }
}

impl Net {
    /// Runs the network once with each operator timed (MNN's `runSessionWithCallBackInfo`: a call before and
    /// one after each operator, which has finished its work by then).
    pub fn run_profiled(&self, profile: &mut Profile) -> Result<(), String> {
        let started = Cell::new(Instant::now());
        let mut before = |_: *const c_void| {
            started.set(Instant::now());
            true
        };
        let mut after = |op: *const c_void| {
            let elapsed = started.get().elapsed();
            // SAFETY: MNN hands a live OperatorInfo whose strings outlive the callback.
            let (name, op_type) = unsafe {
                (
                    text(ffi::OperatorInfo_name(op)),
                    text(ffi::OperatorInfo_type(op)),
                )
            };
            profile.add(&name, &op_type, elapsed);
            true
        };
        let mut before: &mut dyn FnMut(*const c_void) -> bool = &mut before;
        let mut after: &mut dyn FnMut(*const c_void) -> bool = &mut after;
        // SAFETY: a live, resized session; both closures outlive the synchronous run that calls them through
        // `rust_closure_callback_runner_op`.
        let code = unsafe {
            ffi::Interpreter_runSessionWithCallBackInfo(
                self.interpreter,
                self.session,
                (&mut before as *mut &mut dyn FnMut(*const c_void) -> bool).cast(),
                (&mut after as *mut &mut dyn FnMut(*const c_void) -> bool).cast(),
                1,
            )
        };
        if code == ffi::ErrorCode::ERROR_CODE_NO_ERROR {
            Ok(())
        } else {
            Err(format!(
                "MNN's runSessionWithCallBackInfo failed ({code:?})"
            ))
        }
    }
}

/// The entry mnn-sys's C wrapper calls for each callback of `runSessionWithCallBackInfo` (the `mnn` crate,
/// not used here, would define it otherwise): `closure` is one of [`Net::run_profiled`]'s closures.
#[no_mangle]
extern "C" fn rust_closure_callback_runner_op(
    closure: *mut c_void,
    _tensors: *const *mut ffi::Tensor,
    _count: usize,
    op: *const c_void,
) -> c_int {
    // SAFETY: `run_profiled` passes a pointer to a live `&mut dyn FnMut` for the run's duration.
    let callback = unsafe { &mut *closure.cast::<&mut dyn FnMut(*const c_void) -> bool>() };
    c_int::from(callback(op))
}

/// A C string of MNN's, or nothing.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// A tensor in host memory, in a plain layout (NCHW or NHWC, never MNN's packed NC4HW4), released on drop.
pub struct HostTensor(*mut ffi::Tensor);

impl Drop for HostTensor {
    fn drop(&mut self) {
        // SAFETY: created by `HostTensor::like` and released once.
        unsafe { ffi::Tensor_destroy(self.0) };
    }
}

impl HostTensor {
    /// A host tensor with `device`'s shape, type and dimension order (NCHW where the session packs NC4HW4).
    pub fn like(device: *const ffi::Tensor) -> Result<HostTensor, String> {
        // SAFETY: `device` is a live session tensor; Tensor_createWith with no data allocates host memory.
        unsafe {
            let order = match ffi::Tensor_getDimensionType(device) {
                ffi::DimensionType::CAFFE_C4 => ffi::DimensionType::CAFFE,
                other => other,
            };
            let shape = raw_shape(device);
            let tensor = ffi::Tensor_createWith(
                shape.as_ptr(),
                shape.len(),
                ffi::Tensor_getType(device),
                std::ptr::null_mut(),
                order,
            );
            if tensor.is_null() {
                return Err("MNN could not allocate a host tensor".to_string());
            }
            Ok(HostTensor(tensor))
        }
    }

    pub fn shape(&self) -> Vec<usize> {
        shape_of(self.0)
    }

    pub fn element_type(&self) -> Option<ElementType> {
        element_type_of(self.0)
    }

    /// The tensor's memory.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: host memory of `usize` bytes, owned by this tensor.
        unsafe {
            std::slice::from_raw_parts_mut(
                ffi::Tensor_host_mut(self.0).cast::<u8>(),
                ffi::Tensor_usize(self.0),
            )
        }
    }

    /// The tensor's values.
    pub fn data(&self) -> Result<TensorData, String> {
        let element_type = self
            .element_type()
            .ok_or("an output of a type the harness does not exchange")?;
        // SAFETY: host memory of `usize` bytes, owned by this tensor.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                ffi::Tensor_host(self.0).cast::<u8>(),
                ffi::Tensor_usize(self.0),
            )
        };
        TensorData::from_bytes(element_type, bytes).ok_or_else(|| {
            format!(
                "an output whose {} bytes are not {element_type} values",
                bytes.len()
            )
        })
    }

    /// Copies this tensor into a session's input (converting its layout to MNN's).
    pub fn copy_to(&self, device: *mut ffi::Tensor) -> Result<(), String> {
        // SAFETY: both tensors are live and of the same shape and type.
        match unsafe { ffi::Tensor_copyFromHostTensor(device, self.0) } {
            0 => Err("MNN could not copy an input into the session".to_string()),
            _ => Ok(()),
        }
    }

    /// Copies a session's output into this tensor (converting MNN's layout to this one's).
    pub fn copy_from(&mut self, device: *const ffi::Tensor) -> Result<(), String> {
        // SAFETY: both tensors are live and of the same shape and type.
        match unsafe { ffi::Tensor_copyToHostTensor(device, self.0) } {
            0 => Err("MNN could not copy an output out of the session".to_string()),
            _ => Ok(()),
        }
    }
}

/// A tensor's dimensions as MNN holds them. Read one by one: mnn-sys's `Tensor_shape` has room for four.
fn raw_shape(tensor: *const ffi::Tensor) -> Vec<c_int> {
    // SAFETY: a live tensor; indices below its dimension count.
    unsafe {
        (0..ffi::Tensor_dimensions(tensor))
            .map(|i| ffi::Tensor_length(tensor, i))
            .collect()
    }
}

/// A session tensor's shape; MNN marks a dimension it does not know yet with a value below 1.
pub fn declared_shape(tensor: *const ffi::Tensor) -> Vec<Option<usize>> {
    raw_shape(tensor)
        .into_iter()
        .map(|d| usize::try_from(d).ok().filter(|&d| d > 0))
        .collect()
}

fn shape_of(tensor: *const ffi::Tensor) -> Vec<usize> {
    declared_shape(tensor)
        .into_iter()
        .map(|d| d.unwrap_or(0))
        .collect()
}

/// The element type of a tensor, where it is one the harness exchanges.
pub fn element_type_of(tensor: *const ffi::Tensor) -> Option<ElementType> {
    use ffi::halide_type_code_t::{halide_type_float, halide_type_int, halide_type_uint};
    // SAFETY: a live tensor.
    let kind = unsafe { ffi::Tensor_getType(tensor) };
    Some(match (kind.code, kind.bits) {
        (halide_type_float, 32) => ElementType::F32,
        (halide_type_float, 16) => ElementType::F16,
        (halide_type_float, 64) => ElementType::F64,
        (halide_type_int, 64) => ElementType::I64,
        (halide_type_int, 32) => ElementType::I32,
        (halide_type_int, 8) => ElementType::I8,
        (halide_type_uint, 8) => ElementType::U8,
        _ => return None,
    })
}
