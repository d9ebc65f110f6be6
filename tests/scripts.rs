//! The scripts users run from a checkout find what cargo built wherever it put it (here a CARGO_TARGET_DIR of
//! the test's own), by asking cargo, not by assuming `target/`. A stand-in `cargo` on PATH answers as cargo
//! does, so that no build runs; `scripts/test.sh` runs the real `scripts/bundle.sh` with a CARGO_TARGET_DIR of
//! its own as well.

mod common;

use common::root;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn scripts_harness_runs_the_binary_cargo_reports_in_another_target_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, elsewhere) = (dir.path().join("bin"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(elsewhere.join("release")).unwrap();
    let built = elsewhere.join("release/harness");
    executable(&built, "#!/bin/sh\necho \"built harness: $*\"\n");
    // cargo build --message-format=json prints one JSON message a line; the artifact names its executable.
    executable(
        &bin.join("cargo"),
        &format!(
            "#!/bin/sh\necho \"$*\" > {args}\necho '{{\"reason\":\"compiler-artifact\",\"executable\":\"{exe}\"}}'\n\
             echo '{{\"reason\":\"build-finished\",\"success\":true}}'\n",
            args = dir.path().join("cargo-args").display(),
            exe = built.display()
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |target_dir: &Path| {
        Command::new(root().join("scripts/harness"))
            .args(["backends", "--quick"])
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", target_dir)
            .output()
            .unwrap()
    };

    let output = run(&elsewhere);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "built harness: backends --quick\n"
    );
    let cargo_args = std::fs::read_to_string(dir.path().join("cargo-args")).unwrap();
    assert!(
        cargo_args.starts_with("build --release --bin harness --message-format=json"),
        "{cargo_args}"
    );
    assert!(!stderr.contains("first build"), "{stderr}");

    // Nothing built in the target folder yet: the script says a long first build is coming.
    let output = run(&dir.path().join("empty"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("the first build takes about"), "{stderr}");
}
