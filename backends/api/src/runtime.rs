//! Finding the native runtime libraries the project's set-up step unpacks (`scripts/setup.sh`).
//!
//! Order: an explicit override (an environment variable naming the file), then
//! `.runtimes/<target>/<engine>/<file>` in any folder above the executable (a source checkout, where the binary
//! lives in `target/…`) or in the working directory, then `lib/<file>` beside the executable (a deployed bundle).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why the system's loader refuses `path`, in its own words (" (…: failed to map segment from shared object)");
/// empty when it takes the library (the engine failed for another reason, which its own error says).
fn loader_reason(path: &Path) -> String {
    // SAFETY: opening the library the engine was just asked to open runs the same initialisers it would have.
    match unsafe { libloading::Library::new(path) } {
        Ok(_) => String::new(),
        // libloading keeps the loader's text in the error's source; its own text is "dlopen failed".
        Err(why) => match std::error::Error::source(&why) {
            Some(text) => format!(" ({text})"),
            None => format!(" ({why})"),
        },
    }
}

/// A native runtime library loaded at most once per process, and only when a session needs it: `info` and
/// the harness's main process never load it, so that a runtime that crashes while loading (ONNX Runtime
/// under qemu-user) takes down only the worker that measures it.
pub struct LazyRuntime<T> {
    cell: OnceLock<Result<T, String>>,
    override_var: &'static str,
    engine: &'static str,
    file: &'static str,
}

impl<T> LazyRuntime<T> {
    pub const fn new(override_var: &'static str, engine: &'static str, file: &'static str) -> Self {
        LazyRuntime {
            cell: OnceLock::new(),
            override_var,
            engine,
            file,
        }
    }

    /// The loaded runtime, loading it from the located library on first use. When `load` fails, the system
    /// loader's own reason joins its error: engine bindings report a refused library as "dlopen failed" alone.
    pub fn get(&self, load: impl FnOnce(PathBuf) -> Result<T, String>) -> Result<&T, String> {
        self.cell
            .get_or_init(|| {
                let path = locate_library(self.override_var, self.engine, self.file)?;
                load(path.clone()).map_err(|e| e + &loader_reason(&path))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The runtime if this process has loaded it (or failed to), without loading it.
    pub fn loaded(&self) -> Option<Result<&T, String>> {
        self.cell.get().map(|r| r.as_ref().map_err(Clone::clone))
    }

    /// For `BackendInfo::runtime`: what was loaded (described by `describe`), why it failed, or, when this
    /// process has not loaded it, where the library is.
    pub fn status(&self, describe: impl Fn(&T) -> String) -> Result<String, String> {
        match self.loaded() {
            Some(loaded) => loaded.map(describe),
            None => locate_library(self.override_var, self.engine, self.file).map(|path| {
                format!(
                    "{} (found; loaded by the process that measures it)",
                    path.display()
                )
            }),
        }
    }
}

/// The target triple runtime libraries are filed under.
pub fn host_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Where the library `file` of `engine` is, or a message saying where it was looked for and how to fix it.
pub fn locate_library(override_var: &str, engine: &str, file: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(override_var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{override_var}={} names no file", path.display()))
        };
    }
    let relative = Path::new(".runtimes")
        .join(host_target())
        .join(engine)
        .join(file);
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    let mut candidates: Vec<PathBuf> = exe_dir
        .into_iter()
        .flat_map(Path::ancestors)
        .map(|dir| dir.join(&relative))
        .collect();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(&relative));
    }
    if let Some(dir) = exe_dir {
        candidates.push(dir.join("lib").join(file));
    }
    candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
        format!(
            "{file} not found: run scripts/setup.sh to unpack it into {}, or set {override_var} to its path",
            relative.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_naming_no_file_is_refused_with_its_value() {
        // A variable name of this test's own, so that no other test sees it.
        std::env::set_var("HARNESS_TEST_MISSING_LIB", "/nonexistent/libx.so");
        let err = locate_library("HARNESS_TEST_MISSING_LIB", "x", "libx.so").unwrap_err();
        assert_eq!(
            err,
            "HARNESS_TEST_MISSING_LIB=/nonexistent/libx.so names no file"
        );
    }

    #[test]
    fn a_missing_library_says_how_to_get_it() {
        let err =
            locate_library("HARNESS_TEST_UNSET_VARIABLE", "nothing", "libnothing.so").unwrap_err();
        assert!(err.contains("run scripts/setup.sh"), "{err}");
        assert!(
            err.contains(&format!(
                ".runtimes/{}/nothing/libnothing.so",
                host_target()
            )),
            "{err}"
        );
    }
}
