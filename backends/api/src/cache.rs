//! Where the harness keeps what it builds, converts and stages outside the source tree: NCNN's library (found
//! by its build script), pnnx conversions, target bundles and emulated boards. The set-up step follows the
//! same rule (scripts/fetch_runtimes.py, `build_cache`).

use std::path::PathBuf;

/// `$HARNESS_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/harness`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HARNESS_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("harness")
}
