//! A fleet: one scenario on several targets at once. The "boards" are sshd instances on 127.0.0.1 (as in
//! targets.rs), each with a work folder of its own, beside this machine itself.

mod common;

use common::sshd::{ssh_target, start_sshd, start_sshd_on, Sshd};
use common::{csv_rows, harness_in, summary_rows, tract_scenario};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// tract on both MobileNetV2 files, each measurement at least `seconds` long, so that targets measure long
/// enough for their windows to be seen overlapping.
fn scenario(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    let path = tract_scenario(dir, name, 3);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("min_seconds = 0", &format!("min_seconds = {seconds}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The fleet folder a run printed.
fn fleet_folder(out: &Output) -> PathBuf {
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("the fleet folder on stdout"))
}

fn fleet_json(fleet: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fleet.join("fleet.json")).unwrap()).unwrap()
}

fn target<'a>(fleet: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    fleet["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {fleet}"))
}

/// The results folders of a target, as fleet.json lists them.
fn folders_of(fleet: &Path, record: &serde_json::Value, name: &str) -> Vec<PathBuf> {
    target(record, name)["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| fleet.join(f.as_str().unwrap()))
        .collect()
}

/// Each measurement's window (start, end) in a results folder, in measuring order.
fn windows(folder: &Path) -> Vec<(String, String)> {
    summary_rows(folder)
        .into_iter()
        .map(|r| (r["started_utc"].clone(), r["ended_utc"].clone()))
        .collect()
}

fn write_targets(dir: &Path, tables: &[String], extra: &str) {
    std::fs::write(dir.join("targets.toml"), tables.concat() + extra).unwrap();
}

/// This machine as a target whose rows say `pc`.
const LOCAL_PC: &str = "[targets.local]\nkind = \"local\"\ndevice = \"pc\"\n";

/// targets.toml with `board-a` (an sshd, returned) and `local`. Its connections share one ssh master
/// connection (ControlMaster, as a user's ssh configuration may set up), its socket in `dir`.
fn board_a_and_this_machine(dir: &Path) -> Sshd {
    let sshd = start_sshd(&dir.join("sshd-a"));
    let multiplexed = board(dir, "board-a", &sshd).replace(
        "\"LogLevel=ERROR\"]",
        &format!(
            "\"LogLevel=ERROR\", \"ControlMaster=auto\", \"ControlPath={}/cm-%C\", \"ControlPersist=30\"]",
            dir.display()
        ),
    );
    assert!(multiplexed.contains("ControlMaster"), "{multiplexed}");
    write_targets(dir, &[multiplexed], LOCAL_PC);
    sshd
}

/// Whether an ssh master connection's socket is in `dir`.
fn has_master_connection(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("cm-"))
}

fn board(dir: &Path, name: &str, sshd: &Sshd) -> String {
    ssh_target(name, name, sshd, &dir.join(name))
}

#[test]
fn a_fleet_of_two_ssh_targets_and_this_machine_measures_at_once_into_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (a, b) = (
        start_sshd(&dir.join("sshd-a")),
        start_sshd(&dir.join("sshd-b")),
    );
    write_targets(
        dir,
        &[board(dir, "board-a", &a), board(dir, "board-b", &b)],
        &(LOCAL_PC.to_string() + "[fleets.lab]\ntargets = [\"board-a\", \"board-b\", \"local\"]\n"),
    );
    let scenario = scenario(dir, "fleet", 1.5);
    let started = Instant::now();
    let out = harness_in(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--target",
            "@lab",
            "--threads",
            "1",
        ],
        dir,
    );
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Not a terminal: each target's lines come prefixed with its name.
    assert!(
        stderr.contains("[board-a] target board-a: deploying bundle"),
        "{stderr}"
    );
    let fleet = fleet_folder(&out);
    assert!(
        fleet.starts_with(dir.join("results")),
        "{}",
        fleet.display()
    );
    let record = fleet_json(&fleet);

    let mut spans = Vec::new();
    for (name, device, kind) in [
        ("board-a", "board-a", "ssh"),
        ("board-b", "board-b", "ssh"),
        ("local", "pc", "local"),
    ] {
        let entry = target(&record, name);
        assert_eq!(entry["state"], "complete", "{entry}");
        assert_eq!(entry["device"], device);
        let folders = folders_of(&fleet, &record, name);
        assert_eq!(folders.len(), 1, "{entry}");
        // Inside the fleet folder, each target's in a folder of its own.
        assert!(
            entry["folders"][0]
                .as_str()
                .unwrap()
                .starts_with(&format!("{name}/")),
            "{entry}"
        );
        let rows = summary_rows(&folders[0]);
        assert_eq!(rows.len(), 2, "two formats at one thread on {name}");
        for row in &rows {
            assert_eq!(row["status"], "ok", "{name}: {}", row["error"]);
            assert_eq!(row["device"], device);
            assert_eq!(row["target"], kind);
        }
        // One target never measures twice at once: its windows follow one another.
        let windows = windows(&folders[0]);
        for pair in windows.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "{name}: {pair:?} overlap");
        }
        let (first, last) = (windows.first().unwrap(), windows.last().unwrap());
        spans.push((first.0.clone(), last.1.clone()));
        assert!(
            std::fs::metadata(fleet.join("logs").join(format!("{name}.log")))
                .unwrap()
                .len()
                > 0
        );
    }
    // The two boards measured at the same time.
    let (a_span, b_span) = (&spans[0], &spans[1]);
    assert!(
        a_span.0 < b_span.1 && b_span.0 < a_span.1,
        "board-a {a_span:?} and board-b {b_span:?} did not overlap"
    );
    let sequential: f64 = ["board-a", "board-b", "local"]
        .iter()
        .map(|n| target(&record, n)["seconds"].as_f64().unwrap())
        .sum();
    let fleet_seconds = record["wall_seconds"].as_f64().unwrap();
    println!(
        "fleet wall time {fleet_seconds:.1} s (the command: {:.1} s) against {sequential:.1} s for the three \
         targets one after the other",
        wall.as_secs_f64()
    );
    assert!(fleet_seconds < sequential, "{fleet_seconds} ≥ {sequential}");

    let report = std::fs::read_to_string(fleet.join("report.md")).unwrap();
    for device in ["board-a", "board-b", "pc"] {
        assert!(report.contains(&format!("| {device} |")), "{report}");
    }
    assert!(report.contains("## Fleet"), "{report}");
    // All three are this machine: the report says so, and that they disturbed each other.
    assert!(
        report.contains(
            "are one machine (the same running kernel) and were measured at the same time"
        ),
        "{report}"
    );
    assert!(stderr.contains("against"), "{stderr}");
}

#[test]
fn an_unreachable_target_leaves_the_others_complete_and_is_resumed_into_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let a = start_sshd(&dir.join("sshd-a"));
    // A target whose sshd is stopped: nobody listens on its port.
    let gone = start_sshd(&dir.join("sshd-gone"));
    let (gone_port, gone_table) = (gone.port, board(dir, "gone", &gone));
    drop(gone);
    write_targets(dir, &[board(dir, "board-a", &a), gone_table], LOCAL_PC);
    let scenario = scenario(dir, "partial", 0.0);
    let out = harness_in(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--target",
            "board-a,gone,local",
            "--threads",
            "1",
        ],
        dir,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "partial: {stderr}");
    let fleet = fleet_folder(&out);
    let record = fleet_json(&fleet);
    let failed = target(&record, "gone");
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("ssh to 127.0.0.1 failed"),
        "{failed}"
    );
    let resume = failed["resume"].as_str().unwrap();
    assert!(
        resume.contains(&format!("--target gone --resume {}", fleet.display())),
        "{resume}"
    );
    assert!(
        stderr.contains(&format!("resume it with: {resume}")),
        "{stderr}"
    );
    for name in ["board-a", "local"] {
        assert_eq!(target(&record, name)["state"], "complete");
    }
    let report = std::fs::read_to_string(fleet.join("report.md")).unwrap();
    assert!(
        report.contains("| gone | gone | ssh | failed |"),
        "{report}"
    );
    assert!(report.contains("| pc |") && report.contains("| board-a |"));

    // The target is back: its resume command measures it into the same fleet, and the others stay as they were.
    let _back = start_sshd_on(&dir.join("sshd-gone"), gone_port);
    let words: Vec<&str> = resume.split(' ').collect();
    assert_eq!(words[0], "harness");
    let out = harness_in(&words[1..], dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(fleet_folder(&out), fleet);
    let record = fleet_json(&fleet);
    for name in ["board-a", "gone", "local"] {
        assert_eq!(target(&record, name)["state"], "complete", "{record}");
        assert_eq!(folders_of(&fleet, &record, name).len(), 1, "{record}");
    }
    let rows = summary_rows(&folders_of(&fleet, &record, "gone")[0]);
    assert!(rows
        .iter()
        .all(|r| r["status"] == "ok" && r["device"] == "gone"));
    let report = std::fs::read_to_string(fleet.join("report.md")).unwrap();
    for device in ["board-a", "gone", "pc"] {
        assert!(report.contains(&format!("| {device} |")), "{report}");
    }
}

/// The first results folder under `parent/*/` (`jobs/*/results/`, or a fleet target's folder) that holds a
/// measured row.
fn folder_with_rows(pattern: &[&Path]) -> Option<PathBuf> {
    pattern.iter().find_map(|parent| {
        std::fs::read_dir(parent).ok()?.flatten().find_map(|entry| {
            let summary = entry.path().join("summary.csv");
            (summary.is_file() && !csv_rows(&summary).is_empty()).then(|| entry.path())
        })
    })
}

/// Every `results` folder of the jobs in a target's work folder.
fn job_results(work_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(work_dir.join("jobs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|job| job.path().join("results"))
        .collect()
}

#[test]
fn ctrl_c_stops_every_target_of_a_fleet_and_keeps_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let _board = board_a_and_this_machine(dir);
    // Threads 1 and 2, both formats, three seconds each: far longer than the test waits.
    let scenario = scenario(dir, "stopped", 3.0);
    let harness = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--target",
            "board-a,local",
        ])
        .current_dir(dir)
        .env("HARNESS_CACHE", dir.join("cache"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    // Both targets have a row on disk: the board's in its job folder there, this machine's in the fleet folder.
    let started = Instant::now();
    loop {
        let local = std::fs::read_dir(dir.join("results"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|fleet| fleet.path().join("local"))
            .collect::<Vec<_>>();
        let boards = job_results(&dir.join("board-a"));
        let seen = |parents: &[PathBuf]| {
            folder_with_rows(&parents.iter().map(PathBuf::as_path).collect::<Vec<_>>()).is_some()
        };
        if seen(&local) && seen(&boards) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no rows after 5 minutes: {}",
            std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: sending a signal to the child this test started.
    unsafe {
        libc::kill(harness.id() as i32, libc::SIGINT);
    }
    let out = harness.wait_with_output().unwrap();
    let stderr = std::fs::read_to_string(dir.join("stderr.txt")).unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // The stop reached the board through a multiplexed connection.
    assert!(has_master_connection(dir));
    let fleet = fleet_folder(&out);
    let record = fleet_json(&fleet);
    for name in ["board-a", "local"] {
        let entry = target(&record, name);
        assert_eq!(entry["state"], "interrupted", "{entry}");
        let folders = folders_of(&fleet, &record, name);
        assert_eq!(folders.len(), 1, "{entry}");
        let rows = summary_rows(&folders[0]);
        let measured = rows.iter().filter(|r| r["status"] == "ok").count();
        assert!(
            measured >= 1 && rows.len() < 4,
            "{name}: {} rows, {measured} ok",
            rows.len()
        );
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folders[0].join("run.json")).unwrap())
                .unwrap();
        assert_eq!(run["status"], "interrupted", "{name}");
        assert!(entry["resume"]
            .as_str()
            .unwrap()
            .contains(&format!("--target {name} --resume")));
    }
}

/// On a terminal (a pseudo-terminal from `script`, util-linux): a line per target, redrawn in place. The ssh
/// processes run outside the terminal's foreground group, so that its Ctrl-C reaches the harness alone: one that
/// read the terminal would be stopped by it, and the fleet would wait forever.
#[test]
fn on_a_terminal_each_target_has_a_line_redrawn_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let _board = board_a_and_this_machine(dir);
    let scenario = scenario(dir, "terminal", 0.0);
    let command = format!(
        "{} run {} --target board-a,local --threads 1",
        env!("CARGO_BIN_EXE_harness"),
        scenario.display()
    );
    let typescript = dir.join("typescript");
    let mut script = Command::new("script")
        .args(["-qfec", &command])
        .arg(&typescript)
        .current_dir(dir)
        .env("HARNESS_CACHE", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = script.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = script.kill();
            panic!(
                "the fleet did not end on a terminal in 5 minutes:\n{}",
                String::from_utf8_lossy(&std::fs::read(&typescript).unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(status.success(), "{screen}");
    assert!(has_master_connection(dir));
    // Lines redrawn by moving the cursor up, not each message prefixed on a line of its own.
    assert!(screen.contains("\x1b[2K"), "{screen}");
    assert!(!screen.contains("[board-a] "), "{screen}");
    assert!(
        screen.contains("board-a: complete") && screen.contains("local: complete"),
        "{screen}"
    );
}

#[test]
fn a_fleet_that_cannot_run_says_why_before_it_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Nothing is reached: every refusal comes before the first connection.
    std::fs::write(
        dir.join("targets.toml"),
        "[targets.a]\nkind = \"ssh\"\nhost = \"a.invalid\"\ndevice = \"pi\"\n\
         [targets.b]\nkind = \"ssh\"\nhost = \"b.invalid\"\ndevice = \"pi\"\n\
         [targets.c]\nkind = \"ssh\"\nhost = \"c.invalid\"\n",
    )
    .unwrap();
    let scenario = scenario(dir, "refused", 0.0);
    let scenario = scenario.to_str().unwrap();
    for (targets, why) in [
        ("a,b", "targets `a` and `b` both tag their rows `pi`"),
        ("a,a", "--target names `a` twice"),
        (
            "@shop",
            "no fleet `shop` (known: none; searched targets.toml)",
        ),
        ("a,nowhere", "no target `nowhere`"),
        (
            "a,c --resume results/x",
            "--resume results/x with several targets takes a fleet folder",
        ),
    ] {
        let mut args = vec!["run", scenario, "--target"];
        args.extend(targets.split(' '));
        let out = harness_in(&args, dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{targets}: {stderr}");
        assert!(stderr.contains(why), "{targets}: {stderr}");
    }
    assert!(!dir.join("results").exists());
}
