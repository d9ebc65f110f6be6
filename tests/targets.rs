//! Running on targets: over ssh against a real `sshd` this test starts on 127.0.0.1 (throwaway keys and
//! configuration in the test's own folder; the "board" is this machine), and under qemu-user with the
//! cross-built aarch64 bundle. Results come back and merge with local runs.

mod common;

use common::sshd::{loopback_target, start_sshd, Sshd};
use common::{harness_in, quick_default_scenario, root, summary_rows, tract_scenario};
use std::path::{Path, PathBuf};
use std::process::Output;

fn results_folders(out: &Output) -> Vec<PathBuf> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// targets.toml with the `loopback` target.
fn write_loopback_target(dir: &Path, sshd: &Sshd) {
    std::fs::write(dir.join("targets.toml"), loopback_target(dir, sshd)).unwrap();
}

#[test]
fn an_ssh_target_runs_the_scenario_there_and_its_results_merge_with_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    write_loopback_target(dir.path(), &sshd);
    let scenario = tract_scenario(dir.path(), "remote", 3);
    let scenario = scenario.to_str().unwrap();

    let remote = harness_in(
        &["run", scenario, "--target", "loopback", "--threads", "1"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&remote.stderr);
    assert!(remote.status.success(), "{stderr}");
    assert!(stderr.contains("deploying bundle"), "{stderr}");
    // This very binary went there: no note about another commit.
    assert!(!stderr.contains("note: the bundle there"), "{stderr}");
    let folders = results_folders(&remote);
    assert_eq!(folders.len(), 1, "{stderr}");
    let board = &folders[0];
    assert!(
        board.starts_with(dir.path().join("results")),
        "{}",
        board.display()
    );
    let rows = summary_rows(board);
    assert_eq!(rows.len(), 2, "two formats at one thread");
    for row in &rows {
        assert_eq!(row["status"], "ok", "{}", row["error"]);
        assert_eq!(row["device"], "board");
        assert_eq!(row["target"], "ssh");
    }
    let environment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(board.join("environment.json")).unwrap())
            .unwrap();
    assert_eq!(environment["target_kind"], "ssh");
    assert_eq!(environment["device"], "board");
    assert!(environment["glibc"]
        .as_str()
        .is_some_and(|v| v.starts_with("2.")));
    // The job ran in the target's work folder, from the deployed bundle; it keeps its results there, not the
    // copies of the models.
    assert!(dir.path().join("board/bundles").read_dir().unwrap().count() == 1);
    let job = dir
        .path()
        .join("board/jobs")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(job.join("results").is_dir() && job.join("scenario.toml").is_file());
    assert!(!job.join("models").exists());

    // The same bundle is not deployed twice.
    let again = harness_in(
        &["run", scenario, "--target", "loopback", "--threads", "1"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("already there"), "{stderr}");
    assert_ne!(
        results_folders(&again)[0],
        *board,
        "a new folder, the first one kept"
    );

    // A local run of the same scenario, and one report over both devices.
    let local = harness_in(
        &["run", scenario, "--threads", "1", "--device", "pc"],
        dir.path(),
    );
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let pc = &results_folders(&local)[0];
    let merged = dir.path().join("merged");
    let report = harness_in(
        &[
            "report",
            pc.to_str().unwrap(),
            board.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let markdown = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(
        markdown.contains("| pc |") && markdown.contains("| board |"),
        "{markdown}"
    );
}

#[test]
fn a_failed_run_on_the_target_is_reported_with_what_was_saved() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    // Only a model tract refuses: the run there measures nothing and ends with status 1. The target is defined
    // in the scenario itself.
    std::fs::write(dir.path().join("broken.onnx"), b"not a model").unwrap();
    let scenario = dir.path().join("broken.toml");
    std::fs::write(
        &scenario,
        "name = \"broken\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"broken\"\n\
         onnx = \"broken.onnx\"\n[models.input]\nshape = [1, 4]\n[inputs]\nrandom = { count = 1, seed = 1 }\n\
         [backends.tract]\n"
            .to_string()
            + &loopback_target(dir.path(), &sshd),
    )
    .unwrap();
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--target", "loopback"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the run ended with exit status: 1"),
        "{stderr}"
    );
    let folders = results_folders(&out);
    assert_eq!(folders.len(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("saved: {} (1 rows)", folders[0].display())),
        "{stderr}"
    );
    assert_eq!(summary_rows(&folders[0])[0]["status"], "load_failed");
}

#[test]
fn a_target_that_cannot_be_reached_is_a_clear_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("targets.toml"),
        format!(
            "[targets.gone]\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nport = {port}\nssh_config = \"/dev/null\"\n\
             ssh_options = [\"StrictHostKeyChecking=no\", \"UserKnownHostsFile=/dev/null\", \"ConnectTimeout=5\"]\n"
        ),
    )
    .unwrap();
    let scenario = tract_scenario(dir.path(), "unreachable", 3);
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--target", "gone"],
        dir.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ssh to 127.0.0.1 failed"), "{stderr}");
    assert!(!dir.path().join("results").exists());
}

#[test]
fn an_unknown_target_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = tract_scenario(dir.path(), "nowhere", 3);
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--target", "nowhere"],
        dir.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no target `nowhere`"), "{stderr}");
    assert!(stderr.contains("emulated-aarch64"), "{stderr}");
}

#[test]
fn the_aarch64_bundle_runs_the_default_scenario_under_qemu_and_every_row_says_emulated() {
    let bundle = root().join("dist/harness-aarch64-unknown-linux-gnu");
    assert!(
        bundle.join("harness").is_file(),
        "no aarch64 bundle: scripts/test.sh makes it with scripts/bundle.sh before the tests"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("targets.toml"),
        format!(
            "[targets.qemu]\nkind = \"emulated\"\nbundle = \"{}\"\ndevice = \"qemu-board\"\n",
            bundle.display()
        ),
    )
    .unwrap();
    // The default scenario at one thread, two timed runs per row, and a minute per worker: ONNX Runtime and
    // LiteRT crash under qemu-user (see docs/boards.md), which their rows must say; the reference falls back to the
    // next engine that runs.
    let scenario = quick_default_scenario(dir.path(), None, "", "time_limit_seconds = 60\n");
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--target", "qemu"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let folders = results_folders(&out);
    assert_eq!(folders.len(), 1, "{stderr}");
    let rows = summary_rows(&folders[0]);
    for row in &rows {
        assert_eq!(row["device"], "qemu-board (emulated)");
        assert_eq!(row["target"], "emulated");
        if row["status"] != "ok" {
            assert!(!row["error"].is_empty(), "a failed row says why: {row:?}");
        }
    }
    for backend in ["tract", "candle", "opencv"] {
        let row = rows
            .iter()
            .find(|r| r["backend"] == backend && r["format"] == "onnx")
            .unwrap();
        assert_eq!(row["status"], "ok", "{backend}: {}", row["error"]);
        assert_ne!(
            row["validity"], "invalid",
            "{backend}: {}",
            row["validity_reasons"]
        );
        assert!(
            matches!(row["parity"].as_str(), "pass" | "reference"),
            "{backend}: {row:?}"
        );
    }
    // Not built for aarch64: said in its row, not a scenario error.
    let ncnn = rows.iter().find(|r| r["backend"] == "ncnn").unwrap();
    assert_eq!(ncnn["status"], "unsupported");
    assert!(
        ncnn["error"].contains("built without it"),
        "{}",
        ncnn["error"]
    );

    let environment: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folders[0].join("environment.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(environment["target_kind"], "emulated");
    assert_eq!(environment["target"], "aarch64-unknown-linux-gnu");
    assert!(
        environment["emulation"]
            .as_str()
            .is_some_and(|e| e.contains("qemu-aarch64") && e.contains("cortex-a72")),
        "{}",
        environment["emulation"]
    );
    let report = std::fs::read_to_string(folders[0].join("report.md")).unwrap();
    assert!(report.contains("qemu-board (emulated)"), "{report}");
}

#[test]
fn a_bundle_from_another_commit_is_named_when_the_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    // A bundle whose harness answers --version as an older build and refuses today's options.
    let bundle = dir.path().join("old-bundle");
    std::fs::create_dir_all(bundle.join("lib")).unwrap();
    std::fs::write(
        bundle.join("harness"),
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'harness 0.0.1 (commit 0123456789ab)'; exit 0; fi\n\
         echo \"error: unexpected argument '--stop-on-eof' found\" >&2; exit 2\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bundle.join("harness"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("targets.toml"),
        loopback_target(dir.path(), &sshd) + &format!("bundle = \"{}\"\n", bundle.display()),
    )
    .unwrap();
    let scenario = tract_scenario(dir.path(), "old", 3);
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--target", "loopback"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "note: the bundle there is harness 0.0.1 (commit 0123456789ab), this harness is commit"
        ) && stderr.contains("make the bundle again (scripts/bundle.sh)"),
        "{stderr}"
    );
}
