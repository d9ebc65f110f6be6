//! The command line's own surface: its version, shell completions and manual page.

use std::process::Command;

fn harness(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_version_names_the_commit() {
    let version = harness(&["--version"]);
    assert!(version.starts_with("harness 0."), "{version}");
    assert!(version.contains("(commit "), "{version}");
}

#[test]
fn completions_and_the_manual_cover_every_command() {
    let bash = harness(&["completions", "bash"]);
    let man = harness(&["man"]);
    assert!(man.contains(".TH harness 1"), "{man}");
    for command in [
        "run", "init", "report", "compare", "check", "backends", "inspect",
    ] {
        assert!(
            bash.contains(&format!("harness__{command}")),
            "bash: {command}"
        );
        assert!(
            man.contains(&format!("harness\\-{command}")),
            "man: {command}"
        );
    }
}
