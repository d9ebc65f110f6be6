//! One engine's crash is not the run's crash: test doubles that segfault, abort, hang and allocate without
//! bound each yield their row with the right status, and the real backend's rows stay complete and valid.

mod common;

use common::{run_scenario, worker_processes};
use harness::record::Status;
use std::path::Path;

#[test]
fn crashes_aborts_hangs_and_memory_exhaustion_become_rows() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2/mobilenet_v2.onnx");
    let text = format!(
        r#"name = "faults"
threads = [1]
output = "results"

[[models]]
name = "mobilenet_v2"
onnx = "{}"

[models.input]
shape = [1, 3, 224, 224]
layout = "NCHW"

[inputs]
random = {{ count = 2, seed = 3 }}

[backends.tract]
[backends.fault-segfault]
[backends.fault-abort]
[backends.fault-hang]
[backends.fault-allocate]

[measure]
warmup_runs = 1
warmup_seconds = 0
min_runs = 3
min_seconds = 0
time_limit_seconds = 8
memory_limit_mb = 2048
cpus = [0]
"#,
        model.display()
    );
    let path = dir.path().join("faults.toml");
    std::fs::write(&path, text).unwrap();
    let outcome = run_scenario(
        &path,
        &harness::backends::compiled_in(),
        &worker_processes(),
    );

    let row = |backend: &str| {
        outcome
            .records
            .iter()
            .find(|r| r.plan.backend == backend)
            .unwrap()
    };
    let expect = |backend: &str, status: Status, words: &str| {
        let r = row(backend);
        assert_eq!(r.status, status, "{backend}: {:?}", r.error);
        let error = r.error.as_deref().unwrap();
        assert!(error.contains(words), "{backend}: {error}");
    };
    expect(
        "fault-segfault",
        Status::Crashed,
        "signal 11 (segmentation fault)",
    );
    expect(
        "fault-segfault",
        Status::Crashed,
        "about to write through a null pointer",
    );
    expect("fault-abort", Status::Aborted, "aborted (signal 6)");
    expect(
        "fault-hang",
        Status::TimedOut,
        "killed after the 8 s time limit",
    );
    expect(
        "fault-allocate",
        Status::OutOfMemory,
        "ran out of memory (limit 2048 MB)",
    );

    // The real engine, measured before and after the failures, is complete and valid.
    let tract = row("tract");
    assert_eq!(tract.status, Status::Ok, "{:?}", tract.error);
    assert!(tract.samples_ns.len() >= 3);
    assert!(
        tract.peak_rss_kb.unwrap() > 10_000,
        "peak memory comes from the OS"
    );

    let summary = std::fs::read_to_string(outcome.folder.join("summary.csv")).unwrap();
    let statuses: Vec<&str> = ["ok", "crashed", "aborted", "timed_out", "out_of_memory"]
        .into_iter()
        .filter(|s| summary.contains(&format!(",{s},")))
        .collect();
    assert_eq!(statuses.len(), 5, "{summary}");
}

#[test]
fn ctrl_c_and_sigterm_stop_the_run_keep_finished_rows_and_say_so() {
    for (signal, cause, status) in [
        (libc::SIGINT, "Ctrl-C (SIGINT)", 130),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        stop_a_run_with(signal, cause, status);
    }
}

fn stop_a_run_with(signal: libc::c_int, cause: &str, exit_status: i32) {
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2/mobilenet_v2.onnx");
    let text = format!(
        "name = \"stop\"\nthreads = [1]\noutput = \"results\"\n[[models]]\nname = \"m\"\nonnx = \"{}\"\n\
         [models.input]\nshape = [1, 3, 224, 224]\nlayout = \"NCHW\"\n[inputs]\nrandom = {{ count = 1, seed = 1 }}\n\
         [backends.tract]\n[backends.zz-never-reached]\n[backends.fault-abort]\n[measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\n\
         min_seconds = 0\ntime_limit_seconds = 120\n[parity]\nreference = {{ backend = \"tract\", format = \"onnx\" }}\n",
        model.display()
    )
    .replace("zz-never-reached", "fault-hang");
    let path = dir.path().join("stop.toml");
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the hanging measurement has started (its progress line has no newline yet), then stop.
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    while !seen.contains("fault-hang") {
        let mut chunk = [0u8; 256];
        let n = std::io::Read::read(&mut stderr, &mut chunk).unwrap();
        assert!(n > 0, "the run ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(exit_status), "{seen}{rest}");
    // tract finished; the hanging measurement was cut short, so it is a row but not a measurement done.
    let expected = format!("interrupted by {cause}: 1 of 3 measurements done");
    assert!(rest.contains(&expected), "{rest}");

    let results = dir.path().join("results");
    let folder = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "interrupted");
    assert_eq!(run["measurements_done"], 1);
    let summary = std::fs::read_to_string(folder.join("summary.csv")).unwrap();
    assert!(
        summary.contains(",tract,onnx,1,inference,0,local,0.23.9,ok,"),
        "{summary}"
    );
    assert!(
        summary.contains(",fault-hang,onnx,1,inference,0,local,test double,interrupted,"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("stopped by {cause} during this measurement")),
        "{summary}"
    );
    assert!(
        !summary.contains("fault-abort"),
        "nothing runs after the interrupt: {summary}"
    );
}

/// Tensors reach a worker and come back as raw bytes: the same outputs, bit for bit, as in the harness's own
/// process, and the row says how long the hand-over took (a measurement in process has none).
#[test]
fn a_worker_computes_the_same_outputs_as_the_harness_itself_and_states_its_handover() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::tract_scenario(dir.path(), "handover", 3);
    let backends = harness::backends::compiled_in();
    let in_worker = run_scenario(&path, &backends, &worker_processes());
    let in_process = run_scenario(
        &path,
        &backends,
        &harness::run::isolation::Isolation::InProcess,
    );
    assert_eq!(in_worker.records.len(), 4);
    for (worker, local) in in_worker.records.iter().zip(&in_process.records) {
        assert_eq!(worker.status, Status::Ok, "{:?}", worker.error);
        assert_eq!(worker.plan, local.plan);
        assert_eq!(worker.outputs.len(), 2, "one set of outputs per input");
        let bits = |outputs: &[Vec<harness_backend_api::Tensor>]| -> Vec<Vec<u8>> {
            outputs
                .iter()
                .flatten()
                .map(|t| t.data.as_bytes().to_vec())
                .collect()
        };
        assert_eq!(bits(&worker.outputs), bits(&local.outputs));
        assert!(worker.handover_ms.is_some_and(|ms| ms > 0.0));
        assert_eq!(local.handover_ms, None);
    }
    let rows = common::summary_rows(&in_worker.folder);
    assert!(rows
        .iter()
        .all(|r| r["handover_ms"].parse::<f64>().unwrap() > 0.0));
}

/// Each row's memory is its worker's own: a double that holds 200 MB reports at least that, one that does
/// nothing reports far less than the harness process that started it, even when that process holds 500 MB
/// (the OS's `ru_maxrss` for a child carries its parent's size over). The do-nothing double prints on standard
/// output at load, as chatty engines do: its reply must arrive whole all the same.
#[test]
fn each_row_reports_its_own_workers_memory_not_the_harnesss() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2/mobilenet_v2.onnx");
    let text = format!(
        "name = \"memory\"\nthreads = [1]\noutput = \"results\"\n\n[[models]]\nname = \"mobilenet_v2\"\n\
         onnx = \"{}\"\n[models.input]\nshape = [1, 3, 224, 224]\nlayout = \"NCHW\"\n\n\
         [inputs]\nrandom = {{ count = 1, seed = 3 }}\n\n[backends.fault-hold-200mb]\n[backends.fault-none]\n\n\
         [measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 2\nmin_seconds = 0\n",
        model.display()
    );
    let path = dir.path().join("memory.toml");
    std::fs::write(&path, text).unwrap();
    // Written, so that every page is resident in this process when the workers start.
    let parent_holds = std::hint::black_box(vec![1u8; 500 << 20]);
    let outcome = run_scenario(
        &path,
        &harness::backends::compiled_in(),
        &worker_processes(),
    );
    let parent_mb = harness::measure::ProcessStatus::read()
        .and_then(|s| s.resident_kb())
        .unwrap()
        / 1024;
    assert!(parent_mb >= 500, "the test process holds {parent_mb} MB");
    drop(parent_holds);
    let memory = |backend: &str| {
        let r = outcome
            .records
            .iter()
            .find(|r| r.plan.backend == backend)
            .unwrap();
        assert_eq!(r.status, Status::Ok, "{backend}: {:?}", r.error);
        let mb = |kb: Option<u64>| kb.unwrap() / 1024;
        (
            mb(r.peak_rss_kb),
            mb(r.rss_after_load_kb),
            mb(r.rss_after_runs_kb),
        )
    };
    let held_mb = (harness::fault::HELD_BYTES >> 20) as u64;
    let (peak, after_load, after_runs) = memory("fault-hold-200mb");
    assert!(peak >= held_mb, "peak {peak} MB");
    assert!(after_load >= held_mb, "after load {after_load} MB");
    assert!(after_runs >= held_mb, "after runs {after_runs} MB");
    let (nothing, ..) = memory("fault-none");
    assert!(
        nothing < held_mb && nothing * 4 < parent_mb,
        "a worker that loads nothing: {nothing} MB, its parent {parent_mb} MB"
    );
    assert!(
        peak - nothing >= held_mb - 10,
        "{peak} MB against {nothing} MB"
    );
    // The harness's own share, measured once: a worker that loads nothing at all.
    let environment: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outcome.folder.join("environment.json")).unwrap(),
    )
    .unwrap();
    let baseline = environment["worker_baseline_mb"].as_f64().unwrap();
    assert!(
        baseline > 0.0 && baseline <= (nothing + 1) as f64,
        "baseline {baseline} MB, fault-none {nothing} MB"
    );
}

/// A measurement made while other processes keep every core busy is marked `disturbed`, with their share, in
/// the record, summary.csv and the terminal's warnings, whatever its timing statistics say.
#[test]
fn a_measurement_beside_busy_processes_is_marked_disturbed() {
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let path = common::tract_scenario(dir.path(), "disturbed", 5);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("min_seconds = 0", "min_seconds = 1.5");
    std::fs::write(&path, text).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    let mut spinners: Vec<_> = (0..cores)
        .map(|_| {
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcome = run_scenario(
        &path,
        &harness::backends::compiled_in(),
        &worker_processes(),
    );
    for spinner in &mut spinners {
        let _ = spinner.kill();
        let _ = spinner.wait();
    }
    let record = &outcome.records[0];
    assert_eq!(record.status, Status::Ok, "{:?}", record.error);
    let shares = record.cpu_shares.unwrap();
    assert!(
        shares.disturbed() && shares.others_percent >= 25.0,
        "{cores} busy processes beside the measurement: {shares:?}"
    );
    let summary = std::fs::read_to_string(outcome.folder.join("summary.csv")).unwrap();
    assert!(summary.contains("other processes used"), "{summary}");
    let warnings = harness::export::answer::warnings(&outcome.records);
    assert!(
        warnings.iter().any(|w| w.starts_with("~ disturbed:")),
        "{warnings:?}"
    );
}

/// A profiled pass runs after its measurement's rows are written, in a worker of its own: an engine that
/// crashes while profiled costs the profile, never the timed row.
#[test]
fn a_crash_while_profiling_keeps_the_timed_row() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2/mobilenet_v2.onnx");
    let text = format!(
        "name = \"profiled\"\nthreads = [1]\noutput = \"results\"\n\n[[models]]\nname = \"mobilenet_v2\"\n\
         onnx = \"{}\"\n[models.input]\nshape = [1, 3, 224, 224]\nlayout = \"NCHW\"\n\n\
         [inputs]\nrandom = {{ count = 1, seed = 3 }}\n\n[backends.fault-profile-segfault]\n[backends.fault-none]\n\n\
         [measure]\nwarmup_runs = 0\nwarmup_seconds = 0\nmin_runs = 3\nmin_seconds = 0\nprofile = true\n",
        model.display()
    );
    let path = dir.path().join("profiled.toml");
    std::fs::write(&path, text).unwrap();
    let outcome = run_scenario(
        &path,
        &harness::backends::compiled_in(),
        &worker_processes(),
    );
    let rows = common::summary_rows(&outcome.folder);
    for backend in ["fault-profile-segfault", "fault-none"] {
        let row = rows.iter().find(|r| r["backend"] == backend).unwrap();
        assert_eq!(row["status"], "ok", "{backend}: {}", row["error"]);
        assert_eq!(row["runs"], "3", "{backend}");
    }
    let profile: Vec<harness::export::csv::ProfileRow> =
        harness::export::csv::read_rows(&outcome.folder.join("profile.csv")).unwrap();
    let of = |backend: &str| profile.iter().find(|r| r.backend == backend).unwrap();
    let crashed = of("fault-profile-segfault");
    assert_eq!(crashed.status, "crashed", "{}", crashed.error);
    assert!(crashed.error.contains("signal 11"), "{}", crashed.error);
    let unsupported = of("fault-none");
    assert_eq!(unsupported.status, "unsupported", "{}", unsupported.error);
    assert!(
        unsupported.error.contains("operator profiles"),
        "{}",
        unsupported.error
    );
}
