//! What comes in from outside is trusted with nothing: results a board sends back (a fake `ssh` serves a
//! crafted tar stream), a scenario someone shared (ssh options, names), a huge shape, npy data for a board. Each
//! case ends in a clear error or a refusal by name, and nothing outside the results folder is read or written.
//! (A file-size limit: tests/end_to_end.rs, `a_full_disk_keeps_the_rows_already_written_valid`.)

mod common;

use common::sshd::{loopback_target, start_sshd};
use common::{harness_in, root, summary_rows, tract_scenario};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What the crafted results hold where a leak would show.
const SECRET: &str = "SECRET-PRIVATE-KEY-CONTENTS";

/// An `ssh` on PATH standing in for a hostile board: it answers the deploy step as if the bundle were there,
/// prints `$PRINTED` as the run's results folder, and serves `$CRAFTED` (a tar file) for any copy back. Each
/// command line it is given is logged to `$SSH_LOG`.
fn fake_ssh(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = r#"#!/bin/sh
for last; do :; done
printf '%s\n' "$last" >> "$SSH_LOG"
case "$last" in
  *"-cf - ."*) cat "$CRAFTED" ;;
  *"--version"*) echo "harness 0.1.0 (commit fake)" ;;
  *" run scenario.toml "*) printf '%s\n' "$PRINTED" ;;
  *"-xf -"*) cat > /dev/null ;;
esac
exit 0
"#;
    std::fs::write(bin.join("ssh"), script).unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// A tar stream with one valid results file beside every kind of member a board must not send.
fn crafted_results(secret: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add =
        |name: &str, kind: tar::EntryType, mode: u32, link: Option<&Path>, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            // Raw names: the tar crate's builder would refuse `..`; a hostile board's tar does not.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            builder.append(&header, data).unwrap();
        };
    add("./", tar::EntryType::Directory, 0o777, None, b"");
    add(
        "./summary.csv",
        tar::EntryType::Regular,
        0o666,
        None,
        b"the board's rows\n",
    );
    add(
        "./leak.txt",
        tar::EntryType::Symlink,
        0o777,
        Some(secret),
        b"",
    );
    add(
        "./linked",
        tar::EntryType::Symlink,
        0o777,
        Some(secret.parent().unwrap()),
        b"",
    );
    add("./hard", tar::EntryType::Link, 0o644, Some(secret), b"");
    add(
        "./setuid.sh",
        tar::EntryType::Regular,
        0o4777,
        None,
        b"#!/bin/sh\n",
    );
    add("./fifo", tar::EntryType::Fifo, 0o644, None, b"");
    add(
        "../escape.txt",
        tar::EntryType::Regular,
        0o644,
        None,
        b"outside",
    );
    add(
        "/tmp/absolute.txt",
        tar::EntryType::Regular,
        0o644,
        None,
        b"outside",
    );
    add(
        "./summary.csv",
        tar::EntryType::Regular,
        0o644,
        None,
        b"a second copy",
    );
    builder.into_inner().unwrap()
}

/// `harness run SCENARIO --target evil` against the fake ssh, which prints `printed` as its results folder.
fn run_against_a_hostile_board(dir: &Path, printed: &str) -> Output {
    let secret = dir.join("home/.ssh/id_ed25519");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::write(dir.join("crafted.tar"), crafted_results(&secret)).unwrap();
    std::fs::write(
        dir.join("targets.toml"),
        "[targets.evil]\nkind = \"ssh\"\nhost = \"board.example\"\nssh_config = \"/dev/null\"\n",
    )
    .unwrap();
    let scenario = tract_scenario(dir, "hostile", 3);
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let path = format!(
        "{}:{}",
        fake_ssh(dir).display(),
        std::env::var("PATH").unwrap()
    );
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", scenario.to_str().unwrap(), "--target", "evil"])
        .current_dir(dir)
        .env("PATH", path)
        .env("TMPDIR", &tmp)
        .env("HARNESS_CACHE", dir.join("cache"))
        .env("CRAFTED", dir.join("crafted.tar"))
        .env("SSH_LOG", dir.join("ssh.log"))
        .env("PRINTED", printed)
        .output()
        .unwrap()
}

/// Every file under `folder`, as paths relative to it.
fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        assert!(
            kind.is_dir() || kind.is_file(),
            "only files and folders: {}",
            entry.path().display()
        );
        if kind.is_dir() {
            found.extend(
                files_under(&entry.path())
                    .into_iter()
                    .map(|f| Path::new(&entry.file_name()).join(f)),
            );
        } else {
            found.push(entry.file_name().into());
        }
    }
    found
}

#[test]
fn a_boards_links_pipes_setuid_files_and_escapes_are_refused_and_its_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_against_a_hostile_board(dir.path(), "results/20261204T000000Z-hostile");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let secret = dir.path().join("home/.ssh/id_ed25519");
    for refused in [
        format!("./leak.txt (a symbolic link to {})", secret.display()),
        format!(
            "./linked (a symbolic link to {})",
            secret.parent().unwrap().display()
        ),
        format!("./hard (a hard link to {})", secret.display()),
        "./fifo (a named pipe)".to_string(),
        "../escape.txt (a path outside the results folder)".to_string(),
        "/tmp/absolute.txt (a path outside the results folder)".to_string(),
        "./summary.csv (given twice)".to_string(),
    ] {
        assert!(stderr.contains(&refused), "`{refused}` in: {stderr}");
    }
    assert!(
        stderr.contains("refused from the target's results"),
        "{stderr}"
    );

    let printed: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let folder = dir.path().join("results/20261204T000000Z-hostile");
    assert_eq!(printed, [folder.to_str().unwrap()]);
    let mut files = files_under(&folder);
    files.sort();
    assert_eq!(
        files,
        [PathBuf::from("setuid.sh"), PathBuf::from("summary.csv")]
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("summary.csv")).unwrap(),
        "the board's rows\n"
    );
    let mode = std::fs::metadata(folder.join("setuid.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o7777,
        0o644,
        "no setuid bit, not writable by others"
    );

    // Nothing was written outside the results folder, and the secret is nowhere in it.
    assert!(!dir.path().join("escape.txt").exists());
    assert!(!dir.path().join("tmp/escape.txt").exists());
    for file in files_under(&dir.path().join("results")) {
        let text = std::fs::read(dir.path().join("results").join(&file)).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(SECRET),
            "{}",
            file.display()
        );
    }
    // The copy back asked for the folder the run printed, and nothing else.
    let log = std::fs::read_to_string(dir.path().join("ssh.log")).unwrap();
    let copies: Vec<&str> = log.lines().filter(|l| l.contains("-cf - .")).collect();
    assert_eq!(copies.len(), 1, "{log}");
    assert!(
        copies[0].contains("/results/20261204T000000Z-hostile -cf - ."),
        "{log}"
    );
}

#[test]
fn a_results_folder_the_board_names_outside_its_results_is_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_against_a_hostile_board(dir.path(), "results/../../../etc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "its harness named `results/../../../etc` as its results folder, which is not a folder in jobs/"
        ),
        "{stderr}"
    );
    let log = std::fs::read_to_string(dir.path().join("ssh.log")).unwrap();
    assert!(!log.contains("-cf - ."), "nothing was copied back: {log}");
    assert!(!dir.path().join("results").exists());
}

/// A scenario over the small tract scenario with `extra` appended (targets of its own).
fn shared_scenario(dir: &Path, extra: &str) -> PathBuf {
    let path = tract_scenario(dir, "shared", 3);
    let text = std::fs::read_to_string(&path).unwrap() + extra;
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_shared_scenario_cannot_make_ssh_run_a_command_here() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("owned");
    let scenario = shared_scenario(
        dir.path(),
        &format!(
            "\n[targets.pi]\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nssh_options = [\"ProxyCommand=touch {}\"]\n",
            marker.display()
        ),
    );
    let scenario = scenario.to_str().unwrap();
    let check = harness_in(&["check", scenario], dir.path());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{scenario}:27:10: field `targets.pi.ssh_options`: `ProxyCommand=touch {}` is refused in a scenario: \
             ProxyCommand makes ssh run a command on this machine",
            marker.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("define the target in your own targets file"),
        "{stderr}"
    );
    let run = harness_in(&["run", scenario, "--target", "pi"], dir.path());
    assert_eq!(run.status.code(), Some(2));
    assert!(!marker.exists(), "ssh ran the scenario's command");
    assert!(!dir.path().join("results").exists());
}

#[test]
fn the_users_own_target_wins_over_a_shared_scenarios_target_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    // The scenario's `loopback` points somewhere else; the user's targets.toml defines the real one.
    let scenario = shared_scenario(
        dir.path(),
        "\n[targets.loopback]\nkind = \"ssh\"\nhost = \"192.0.2.1\"\nssh_options = [\"ConnectTimeout=2\"]\n",
    );
    std::fs::write(
        dir.path().join("targets.toml"),
        loopback_target(dir.path(), &sshd),
    )
    .unwrap();
    let out = harness_in(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--target",
            "loopback",
            "--threads",
            "1",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("ssh 127.0.0.1"), "{stderr}");
}

#[test]
fn a_host_or_user_beginning_with_a_dash_is_refused_before_ssh_starts() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("owned");
    let scenario = tract_scenario(dir.path(), "dash", 3);
    for (field, table) in [
        (
            "host",
            format!("host = \"-oProxyCommand=touch {}\"\n", marker.display()),
        ),
        (
            "user",
            format!(
                "host = \"127.0.0.1\"\nuser = \"-oProxyCommand=touch {}\"\n",
                marker.display()
            ),
        ),
    ] {
        std::fs::write(
            dir.path().join("targets.toml"),
            format!("[targets.pi]\nkind = \"ssh\"\n{table}"),
        )
        .unwrap();
        let out = harness_in(
            &["run", scenario.to_str().unwrap(), "--target", "pi"],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains(&format!(
                "field `targets.pi.{field}`: `-oProxyCommand=touch"
            )) && stderr.contains(&format!(
                "would be read by ssh as an option, not as a {field}"
            )),
            "{stderr}"
        );
        assert!(!marker.exists());
    }
}

#[test]
fn names_with_terminal_escapes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = tract_scenario(dir.path(), "escapes", 3);
    let text = std::fs::read_to_string(&scenario).unwrap();
    for (changed, field) in [
        (
            text.replace("name = \"escapes\"", "name = \"clear\\u001b[2J\""),
            "name",
        ),
        (
            text.replace("name = \"mobilenet_v2\"", "name = \"m\\u0000v2\""),
            "models[0].name",
        ),
    ] {
        std::fs::write(&scenario, &changed).unwrap();
        let out = harness_in(&["check", scenario.to_str().unwrap()], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("field `{field}`:")) && stderr.contains("control character"),
            "{stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "the escape itself is not printed"
        );
    }
    std::fs::write(&scenario, &text).unwrap();
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--device", "pc\u{7}"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--device `pc\\u{7}` holds the control character"),
        "{stderr}"
    );
    assert!(!dir.path().join("results").exists());
}

#[test]
fn a_huge_or_overflowing_shape_is_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = root().join("models/mobilenet_v2/mobilenet_v2.onnx");
    let onnx = onnx.to_str().unwrap();
    let refused = |args: &[&str], words: &[&str]| {
        let out = harness_in(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A clear refusal, not an abort (134) on a failed allocation.
        assert!(matches!(out.status.code(), Some(1 | 2)), "{stderr}");
        for words in words {
            assert!(stderr.contains(words), "`{words}` in: {stderr}");
        }
    };
    // The file fixes its input at [1, 3, 224, 224]: --shape binds free dimensions only.
    refused(
        &["run", onnx, "--shape", "input=1x3x300x300"],
        &[
            "--shape input=1x3x300x300",
            "declares input `input` as [1, 3, 224, 224]",
        ],
    );
    let model = dir.path().join("free.onnx");
    std::fs::write(&model, free_relu()).unwrap();
    let scenario = |shape: &str| {
        let path = dir.path().join("huge.toml");
        std::fs::write(
            &path,
            format!(
                "name = \"huge\"\nthreads = [1]\n[[models]]\nname = \"free\"\nonnx = \"free.onnx\"\n\
                 [models.input]\nshape = {shape}\n[inputs]\nrandom = {{ count = 2, seed = 1 }}\n[backends.tract]\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let huge = scenario("[1, 3, 100000, 100000]");
    refused(
        &["check", &huge],
        &[
            "field `models[0].input.shape`",
            "the input of shape [1, 3, 100000, 100000] (f32) takes 120.0 GB a set",
            "more than this machine's memory",
        ],
    );
    refused(&["run", &huge], &["more than this machine's memory"]);
    let overflowing = scenario("[1, 3, 4294967296, 4294967296]");
    refused(
        &["check", &overflowing],
        &["shape [1, 3, 4294967296, 4294967296] has more elements than a tensor can hold"],
    );
    assert!(!dir.path().join("results").exists());
}

/// A Relu whose input has free height and width: `[1, 3, h, w]`.
fn free_relu() -> Vec<u8> {
    use harness_backend_api::ElementType;
    use harness_onnx_graph::build::{graph, node, tensor};
    let relu = graph(
        vec![tensor("x", ElementType::F32, &["1", "3", "h", "w"])],
        vec![node("Relu", &["x"], "y", vec![])],
        vec![],
        vec![tensor("y", ElementType::F32, &["1", "3", "h", "w"])],
        13,
    );
    harness_onnx_graph::encode(&relu)
}

/// An `.npy` file (format 1.0) of little-endian f32 `values` in `shape`.
fn npy(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for value in values {
        bytes.extend(value.to_le_bytes());
    }
    bytes
}

#[test]
fn a_scenario_with_npy_inputs_reaches_a_board_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = start_sshd(dir.path());
    std::fs::write(
        dir.path().join("targets.toml"),
        loopback_target(dir.path(), &sshd),
    )
    .unwrap();
    std::fs::write(dir.path().join("free.onnx"), free_relu()).unwrap();
    // Real data in a folder of its own, named relative to the scenario: one file per set of inputs.
    let data = dir.path().join("data/sets");
    std::fs::create_dir_all(&data).unwrap();
    for set in 0..2 {
        let values: Vec<f32> = (0..48).map(|i| (i + set) as f32 - 20.0).collect();
        std::fs::write(data.join(format!("{set}.npy")), npy(&[1, 3, 4, 4], &values)).unwrap();
    }
    let scenario = dir.path().join("npy.toml");
    std::fs::write(
        &scenario,
        "name = \"npy\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"free\"\nonnx = \"free.onnx\"\n\
         [models.inputs.x]\nshape = [1, 3, 4, 4]\nnpy = \"data/sets\"\n[inputs]\nrandom = { count = 2, seed = 1 }\n\
         [backends.tract]\n[measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n",
    )
    .unwrap();
    let out = harness_in(
        &["run", scenario.to_str().unwrap(), "--target", "loopback"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let folder = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let rows = summary_rows(&folder);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "ok", "{}", rows[0]["error"]);
    assert_eq!(rows[0]["device"], "board");

    // The job on the board held its own copy of the data, and its scenario named that copy.
    let job = std::fs::read_dir(dir.path().join("board/jobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let staged: toml::Table =
        toml::from_str(&std::fs::read_to_string(job.join("scenario.toml")).unwrap()).unwrap();
    assert_eq!(
        staged["models"][0]["inputs"]["x"]["npy"].as_str(),
        Some("inputs/0-x-sets")
    );
}

#[test]
fn onnx_runtime_keeps_no_telemetry_database_in_the_users_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("free.onnx"), free_relu()).unwrap();
    let scenario = dir.path().join("ort.toml");
    std::fs::write(
        &scenario,
        "name = \"ort\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"free\"\nonnx = \"free.onnx\"\n\
         [models.input]\nshape = [1, 3, 8, 8]\n[inputs]\nrandom = { count = 1, seed = 1 }\n[backends.ort]\n\
         [measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n",
    )
    .unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", scenario.to_str().unwrap()])
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("ORT_DISABLE_TELEMETRY")
        .env("HARNESS_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let folder = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(summary_rows(&folder)[0]["status"], "ok");
    // Where the wheel's telemetry writes its device id and database when it is on.
    let cache = home.join(".cache");
    assert!(
        !cache.exists(),
        "{:?}",
        cache.exists().then(|| files_under(&cache))
    );
}

#[test]
fn a_memory_limit_too_small_for_an_engines_library_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    // Just above what a worker that loads no engine takes: room for no runtime library.
    let baseline = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["worker", "--baseline"])
        .output()
        .unwrap();
    let address_space_kb: u64 = String::from_utf8_lossy(&baseline.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let limit = address_space_kb / 1024 + 2;
    std::fs::write(dir.path().join("free.onnx"), free_relu()).unwrap();
    let scenario = dir.path().join("limited.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"limited\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"free\"\n\
             onnx = \"free.onnx\"\n[models.input]\nshape = [1, 3, 8, 8]\n[inputs]\nrandom = {{ count = 1, seed = 1 }}\n\
             [backends.ort]\n[measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n\
             memory_limit_mb = {limit}\n"
        ),
    )
    .unwrap();
    let out = harness_in(&["run", scenario.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    let folder = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let rows = summary_rows(&folder);
    assert_eq!(rows[0]["status"], "load_failed");
    let error = &rows[0]["error"];
    assert!(
        error.starts_with(&format!(
            "the worker's memory limit (memory_limit_mb = {limit}) is too small for this engine: "
        )) && error.contains("failed to map segment from shared object"),
        "{error}"
    );
}
