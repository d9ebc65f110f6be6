//! The bundle a target runs: a harness binary for its architecture and the runtime libraries it loads, in
//! `lib/` beside it (where the harness looks). Identified by a hash of its files, so that a target gets it
//! again only when it changed.

use crate::scenario::RemoteConfig;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What picks a bundle: a target's `bundle` folder, if any, and its architecture.
type BundleKey = (Option<PathBuf>, String);

#[derive(Clone)]
pub struct Bundle {
    /// A local folder holding `harness` and `lib/`, ready to copy.
    pub dir: PathBuf,
    /// The first 16 hex digits of the SHA-256 over its files' names and contents.
    pub id: String,
}

/// The bundle for `config`: its `bundle` folder; else, for this machine's architecture, this very binary
/// with the runtime libraries of its checkout; else `dist/harness-<arch>-unknown-linux-gnu`. A fleet's targets
/// ask at once: the first makes it, the others get the same.
pub fn resolve(config: &RemoteConfig, arch: &str) -> Result<Bundle> {
    static RESOLVED: Mutex<Vec<(BundleKey, Bundle)>> = Mutex::new(Vec::new());
    let mut resolved = RESOLVED.lock().unwrap_or_else(|e| e.into_inner());
    let key = (config.bundle.clone(), arch.to_string());
    if let Some((_, bundle)) = resolved.iter().find(|(k, _)| *k == key) {
        return Ok(bundle.clone());
    }
    let bundle = make(config, arch)?;
    resolved.push((key, bundle.clone()));
    Ok(bundle)
}

fn make(config: &RemoteConfig, arch: &str) -> Result<Bundle> {
    let (binary, libraries) = match &config.bundle {
        Some(dir) => from_folder(dir)?,
        None if arch == std::env::consts::ARCH => this_binary()?,
        None => {
            let dir = PathBuf::from(format!("dist/harness-{arch}-unknown-linux-gnu"));
            if !dir.is_dir() {
                bail!(
                    "no bundle for {arch}: {}/ is missing; make it with scripts/bundle.sh --target {arch}-unknown-linux-gnu",
                    dir.display()
                );
            }
            from_folder(&dir)?
        }
    };
    // Only the binary and its libraries travel: a job brings its own models.
    let files: Vec<(PathBuf, PathBuf)> = std::iter::once((PathBuf::from("harness"), binary))
        .chain(libraries.into_iter().map(|l| {
            let name = l.file_name().expect("a file has a name").to_owned();
            (Path::new("lib").join(name), l)
        }))
        .collect();
    let mut digest = Sha256::new();
    for (relative, source) in &files {
        digest.update(relative.to_string_lossy().as_bytes());
        digest.update(
            std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?,
        );
    }
    let id = format!("{:x}", digest.finalize())[..16].to_string();
    let deploy = harness_backend_api::cache::cache_root().join("deploy");
    let dir = deploy.join(&id);
    if !dir.join("harness").is_file() {
        let partial = deploy.join(format!("{id}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(partial.join("lib"))?;
        for (relative, source) in &files {
            std::fs::copy(source, partial.join(relative))
                .with_context(|| format!("cannot copy {}", source.display()))?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // Earlier bundles staged here are not needed again (a target that lacks this one gets this one).
        for entry in std::fs::read_dir(&deploy)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != id && !name.contains(".partial") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(Bundle { dir, id })
}

/// A bundle folder's binary and libraries.
fn from_folder(dir: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let binary = dir.join("harness");
    if !binary.is_file() {
        bail!(
            "{} is not a bundle: it has no `harness` binary",
            dir.display()
        );
    }
    Ok((binary, files_in(&dir.join("lib"))))
}

/// The running harness and the runtime libraries it would load: those of the checkout it was built in
/// (`.runtimes/<target>/<engine>/`), or of the bundle it runs from (`lib/`).
fn this_binary() -> Result<(PathBuf, Vec<PathBuf>)> {
    let exe = std::env::current_exe().context("cannot find the harness executable")?;
    let exe_dir = exe.parent().expect("an executable is in a folder");
    let runtimes = Path::new(".runtimes").join(harness_backend_api::runtime::host_target());
    let libraries = match exe_dir
        .ancestors()
        .map(|d| d.join(&runtimes))
        .find(|d| d.is_dir())
    {
        Some(dir) => files_in(&dir)
            .into_iter()
            .chain(subfolders(&dir).iter().flat_map(|engine| files_in(engine)))
            .collect(),
        None => files_in(&exe_dir.join("lib")),
    };
    Ok((exe, libraries))
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    paths
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    entries(dir).into_iter().filter(|p| p.is_file()).collect()
}

fn subfolders(dir: &Path) -> Vec<PathBuf> {
    entries(dir).into_iter().filter(|p| p.is_dir()).collect()
}
