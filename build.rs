//! Records what built the binary (compiler, target, commit) for the results' environment fingerprint.

use std::path::Path;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = command_output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    let commit = command_output("git", &["rev-parse", "--short=12", "HEAD"])
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HARNESS_RUSTC={rustc_version}");
    println!("cargo:rustc-env=HARNESS_GIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=HARNESS_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    // Rebuild the fingerprint when the checked-out commit moves (only paths that exist: a missing one
    // would make cargo rerun this script on every build).
    for path in [".git/HEAD", ".git/refs/heads"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
