//! The LiteRT C API calls this backend uses, declared from the public headers of LiteRT (`litert/c/*.h`)
//! as shipped in `ai-edge-litert==2.3.0`, and resolved at run time from `libLiteRt.so`.
//!
//! From 2.1.6 on `LiteRtCreateModelFromFile` takes the environment first under an unchanged symbol version,
//! so a declaration for another release links and then fails at run time: the library version is pinned
//! (scripts/runtimes.toml) and the struct sizes are asserted below.

// The entry points keep their C names.
#![allow(non_snake_case)]

use harness_backend_api::ElementType;
use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

pub type Status = c_int;
pub type ParamIndex = usize;
pub type Environment = *mut c_void;
pub type Model = *mut c_void;
pub type Signature = *mut c_void;
pub type Tensor = *mut c_void;
pub type Options = *mut c_void;
pub type OpaqueOptions = *mut c_void;
pub type CompiledModel = *mut c_void;
pub type TensorBuffer = *mut c_void;
pub type TensorBufferRequirements = *mut c_void;

pub const STATUS_OK: Status = 0;
pub const HW_ACCELERATOR_CPU: c_int = 1;
pub const LOCK_READ: c_int = 0;
pub const LOCK_WRITE: c_int = 1;

/// LiteRT's element type codes (the same numbers as TfLiteType) for each type the harness exchanges.
pub const ELEMENT_TYPES: [(c_int, ElementType); 8] = [
    (1, ElementType::F32),
    (10, ElementType::F16),
    (11, ElementType::F64),
    (4, ElementType::I64),
    (2, ElementType::I32),
    (9, ElementType::I8),
    (3, ElementType::U8),
    (6, ElementType::Bool),
];

pub const MAX_RANK: usize = 8;

/// `LiteRtLayout`: `unsigned rank : 7; bool has_strides : 1;` share the first 32-bit word (low bits first, as
/// GCC and Clang lay out bit-fields on little-endian targets), then dimensions and strides.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub rank_and_flags: u32,
    pub dimensions: [i32; MAX_RANK],
    pub strides: [u32; MAX_RANK],
}

impl Layout {
    pub fn rank(&self) -> usize {
        (self.rank_and_flags & 0x7f) as usize
    }
}

/// `LiteRtRankedTensorType`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RankedTensorType {
    pub element_type: c_int,
    pub layout: Layout,
}

// The sizes LiteRT's own headers assert on 64-bit targets.
const _: () = assert!(std::mem::size_of::<Layout>() == 68);
const _: () = assert!(std::mem::size_of::<RankedTensorType>() == 72);
const _: () = assert!(std::mem::offset_of!(RankedTensorType, layout) == 4);

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The resolved entry points, valid while `_library` is loaded.
        pub struct Api {
            _library: libloading::Library,
            $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Api {
            /// Loads `path` and resolves every entry point, naming the first one that is missing.
            pub fn load(path: &Path) -> Result<Api, String> {
                // SAFETY: loading runs the library's initialisers; libLiteRt.so has no unusual ones. Each
                // symbol is given the signature of the pinned release's header.
                unsafe {
                    let library = libloading::Library::new(path)
                        .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
                    $(
                        let $name = *library
                            .get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(
                                concat!(stringify!($name), "\0").as_bytes(),
                            )
                            .map_err(|e| format!("{} lacks {}: {e}", path.display(), stringify!($name)))?;
                    )*
                    Ok(Api { _library: library, $($name,)* })
                }
            }
        }
    };
}

api! {
    LiteRtCreateEnvironment: fn(c_int, *const c_void, *mut Environment) -> Status;
    LiteRtCreateModelFromFile: fn(Environment, *const c_char, *mut Model) -> Status;
    LiteRtDestroyModel: fn(Model);
    LiteRtGetNumModelSignatures: fn(Model, *mut ParamIndex) -> Status;
    LiteRtGetModelSignature: fn(Model, ParamIndex, *mut Signature) -> Status;
    LiteRtGetSignatureKey: fn(Signature, *mut *const c_char) -> Status;
    LiteRtGetNumSignatureInputs: fn(Signature, *mut ParamIndex) -> Status;
    LiteRtGetNumSignatureOutputs: fn(Signature, *mut ParamIndex) -> Status;
    LiteRtGetSignatureInputTensorByIndex: fn(Signature, ParamIndex, *mut Tensor) -> Status;
    LiteRtGetSignatureOutputTensorByIndex: fn(Signature, ParamIndex, *mut Tensor) -> Status;
    LiteRtGetTensorName: fn(Tensor, *mut *const c_char) -> Status;
    LiteRtGetRankedTensorType: fn(Tensor, *mut RankedTensorType) -> Status;
    LiteRtCreateOptions: fn(*mut Options) -> Status;
    LiteRtDestroyOptions: fn(Options);
    LiteRtSetOptionsHardwareAccelerators: fn(Options, c_int) -> Status;
    LiteRtCreateOpaqueOptions: fn(
        *const c_char,
        *mut c_void,
        Option<unsafe extern "C" fn(*mut c_void)>,
        *mut OpaqueOptions
    ) -> Status;
    LiteRtDestroyOpaqueOptions: fn(OpaqueOptions);
    LiteRtAddOpaqueOptions: fn(Options, OpaqueOptions) -> Status;
    LiteRtCreateCompiledModel: fn(Environment, Model, Options, *mut CompiledModel) -> Status;
    LiteRtDestroyCompiledModel: fn(CompiledModel);
    LiteRtGetCompiledModelInputBufferRequirements: fn(
        CompiledModel,
        ParamIndex,
        ParamIndex,
        *mut TensorBufferRequirements
    ) -> Status;
    LiteRtGetCompiledModelOutputBufferRequirements: fn(
        CompiledModel,
        ParamIndex,
        ParamIndex,
        *mut TensorBufferRequirements
    ) -> Status;
    LiteRtCreateManagedTensorBufferFromRequirements: fn(
        Environment,
        *const RankedTensorType,
        TensorBufferRequirements,
        *mut TensorBuffer
    ) -> Status;
    LiteRtDestroyTensorBuffer: fn(TensorBuffer);
    LiteRtGetTensorBufferSize: fn(TensorBuffer, *mut usize) -> Status;
    LiteRtLockTensorBuffer: fn(TensorBuffer, *mut *mut c_void, c_int) -> Status;
    LiteRtUnlockTensorBuffer: fn(TensorBuffer) -> Status;
    LiteRtRunCompiledModel: fn(
        CompiledModel,
        ParamIndex,
        usize,
        *mut TensorBuffer,
        usize,
        *mut TensorBuffer
    ) -> Status;
}

/// What a status code means (`LiteRtGetStatusString` is not exported by the library).
pub fn status_text(status: Status) -> &'static str {
    match status {
        0 => "ok",
        1 => "invalid argument",
        2 => "memory allocation failure",
        3 => "runtime failure",
        4 => "missing input tensor",
        5 => "unsupported",
        6 => "not found",
        7 => "timeout expired",
        8 => "wrong version",
        9 => "unknown error",
        10 => "already exists",
        100 => "cancelled",
        500 => "file I/O error",
        501 => "invalid flatbuffer",
        502 => "dynamic loading error",
        503 => "serialization error",
        504 => "compilation error",
        1000 => "index out of bounds",
        1001 => "invalid IR type",
        1002 => "invalid graph invariant",
        1003 => "graph modification error",
        4000 => "unsupported runtime version",
        4001 => "unsupported compiler version",
        4002 => "incompatible byte code version",
        5000 => "unsupported op shape inference",
        5001 => "shape inference failed",
        _ => "unrecognised status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rank_lives_in_the_low_seven_bits() {
        let layout = Layout {
            rank_and_flags: 0x80 | 4,
            dimensions: [0; MAX_RANK],
            strides: [0; MAX_RANK],
        };
        assert_eq!(layout.rank(), 4);
    }

    #[test]
    fn status_codes_read_as_words() {
        assert_eq!(status_text(501), "invalid flatbuffer");
        assert_eq!(status_text(12345), "unrecognised status");
    }
}
