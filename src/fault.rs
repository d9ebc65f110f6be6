//! Test doubles that fail the way native engines do: a segmentation fault, an abort, a hang, memory without
//! bound; and two that behave, for the memory figures: one that holds 200 MB while loaded, one that does
//! nothing but print on standard output. Built only with the `fault-injection` feature, for the isolation tests; never in a release.

use harness_backend_api::{
    Backend, BackendError, BackendInfo, ElementType, LoadOptions, ModelFormat, PreparedInput,
    Profile, Session, Setting, Tensor, TensorInfo,
};
use std::path::Path;

#[derive(Clone, Copy)]
pub enum Fault {
    Segfault,
    Abort,
    Hang,
    Allocate,
    /// Loads by filling 200 MB, which it holds until dropped; runs do nothing.
    Hold,
    /// Loads and runs without doing anything, but prints a line on standard output at load, as chatty engines
    /// do: a worker's reply must survive it.
    Nothing,
    /// Runs like `Nothing`, and writes through a null pointer when profiled: the timed row must survive.
    CrashWhenProfiled,
}

/// What `Fault::Hold` holds.
pub const HELD_BYTES: usize = 200 << 20;

pub struct FaultBackend(pub Fault);

/// One backend per fault, named `fault-<kind>`.
pub fn all() -> Vec<FaultBackend> {
    [
        Fault::Segfault,
        Fault::Abort,
        Fault::Hang,
        Fault::Allocate,
        Fault::Hold,
        Fault::Nothing,
        Fault::CrashWhenProfiled,
    ]
    .into_iter()
    .map(FaultBackend)
    .collect()
}

impl Backend for FaultBackend {
    fn name(&self) -> &'static str {
        match self.0 {
            Fault::Segfault => "fault-segfault",
            Fault::Abort => "fault-abort",
            Fault::Hang => "fault-hang",
            Fault::Allocate => "fault-allocate",
            Fault::Hold => "fault-hold-200mb",
            Fault::Nothing => "fault-none",
            Fault::CrashWhenProfiled => "fault-profile-segfault",
        }
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.name().to_string(),
            engine_version: "test double".to_string(),
            formats: ModelFormat::ALL.to_vec(),
            runtime: Ok("built in (fault injection)".to_string()),
            threads_note: "ignored".to_string(),
            options: Some(Vec::new()),
        }
    }

    fn load(
        &self,
        _: &Path,
        _: ModelFormat,
        _: &LoadOptions,
    ) -> Result<Box<dyn Session>, BackendError> {
        if let Fault::Nothing = self.0 {
            let line = b"fault injection: loaded (a line on standard output)\n";
            // SAFETY: writing a byte slice to standard output's descriptor, as a C library would.
            unsafe { libc::write(libc::STDOUT_FILENO, line.as_ptr().cast(), line.len()) };
        }
        Ok(Box::new(FaultSession {
            fault: self.0,
            // Filled, not just reserved: pages count as resident only once written.
            held: match self.0 {
                Fault::Hold => vec![1u8; HELD_BYTES],
                _ => Vec::new(),
            },
            inputs: vec![TensorInfo {
                name: "input".into(),
                shape: vec![None; 4],
                element_type: ElementType::F32,
            }],
        }))
    }
}

struct FaultSession {
    fault: Fault,
    held: Vec<u8>,
    inputs: Vec<TensorInfo>,
}

impl Session for FaultSession {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &[]
    }

    fn prepare(&mut self, _: Vec<Tensor>) -> Result<PreparedInput, BackendError> {
        Ok(PreparedInput(0))
    }

    fn refill(&mut self, _: PreparedInput, _: Vec<Tensor>) -> Result<(), BackendError> {
        Ok(())
    }

    fn run(&mut self, _: PreparedInput) -> Result<(), BackendError> {
        if matches!(
            self.fault,
            Fault::Hold | Fault::Nothing | Fault::CrashWhenProfiled
        ) {
            std::hint::black_box(&self.held);
            return Ok(());
        }
        self.fault.fail()
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        Ok(Vec::new())
    }

    fn settings(&self) -> Vec<Setting> {
        Vec::new()
    }

    fn run_profiled(&mut self, _: PreparedInput) -> Result<(), BackendError> {
        match self.fault {
            Fault::CrashWhenProfiled => Fault::Segfault.fail(),
            _ => Err(BackendError::unsupported(
                "fault injection",
                "operator profiles: a test double has no operators",
            )),
        }
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(Profile::default())
    }
}

impl Fault {
    /// Fails the way this fault does; returns only for the faults that behave.
    fn fail(self) -> Result<(), BackendError> {
        eprintln!("fault injection: about to {}", self.describe());
        match self {
            // SAFETY: none; writing through a null pointer is the point, the OS delivers SIGSEGV.
            Fault::Segfault => unsafe { std::ptr::null_mut::<u64>().write_volatile(1) },
            Fault::Abort => std::process::abort(),
            Fault::Hang => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            Fault::Allocate => {
                // Zeroed blocks come straight from mmap: the address space runs out within milliseconds,
                // also in an unoptimised build.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0u8; 64 << 20]);
                }
            }
            Fault::Hold | Fault::Nothing | Fault::CrashWhenProfiled => {}
        }
        Ok(())
    }

    fn describe(self) -> &'static str {
        match self {
            Fault::Segfault => "write through a null pointer",
            Fault::Abort => "abort",
            Fault::Hang => "hang",
            Fault::Allocate => "allocate without bound",
            Fault::Hold | Fault::Nothing | Fault::CrashWhenProfiled => "do nothing",
        }
    }
}
