//! Links the static NCNN library the set-up step builds from the PyPI sdist (scripts/runtimes.toml,
//! `[[build]]`), found in the same cache folder the set-up writes to.

use std::path::PathBuf;

/// The sdist the set-up builds; the cache folder and the reported version are named after it.
const PACKAGE: &str = "ncnn";
const VERSION: &str = "1.0.20261020";

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    for variable in [
        "HARNESS_NCNN_DIR",
        "HARNESS_CACHE",
        "XDG_CACHE_HOME",
        "HOME",
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    let dir = match std::env::var_os("HARNESS_NCNN_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            harness_backend_api::cache::cache_root().join(format!("{PACKAGE}-{VERSION}-{target}"))
        }
    };
    let library = dir.join("lib").join("libncnn.a");
    if !library.is_file() {
        panic!(
            "\n\nNCNN is not built for {target}: {} is missing.\nRun scripts/setup.sh, which builds it once \
             from the PyPI sdist {PACKAGE}=={VERSION} (a few minutes), or set HARNESS_NCNN_DIR to a folder with \
             lib/libncnn.a.\n\n",
            library.display()
        );
    }
    println!("cargo:rerun-if-changed={}", library.display());
    println!(
        "cargo:rustc-link-search=native={}",
        dir.join("lib").display()
    );
    println!("cargo:rustc-link-lib=static=ncnn");
    // NCNN parallelises its layers with OpenMP and is written in C++.
    println!("cargo:rustc-link-lib=dylib=gomp");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-env=HARNESS_NCNN_VERSION={VERSION}");
}
