//! A fleet: one scenario measured on several targets at once (`run --target pi5,rk3588,local`, or a
//! `[fleets.NAME]` list with `--target @NAME`), into one fleet folder with one report.
//!
//! Each target runs in a lane of its own, so targets measure in parallel; targets reached at the same address
//! share a lane and run one after the other, so that no machine ever takes two measurements at once. Copying
//! bundles and jobs is bounded by `--jobs`, and the member on this machine starts measuring once those copies
//! are done, so that they do not disturb its figures. A target that fails is recorded with the command that
//! resumes it; the others go on. `fleet.json` says at every moment what each target did.

mod local;
mod progress;

use crate::export::fleet_json::{FleetStatus, FleetTarget, TargetState};
use crate::export::folder::{create_run_folder, utc_time};
use crate::machine::Access;
use crate::remote::{find_fleet, find_remote, shell_quote, RemoteOutcome, Slots, TargetRun};
use crate::scenario::{first_repeat, Overrides, RemoteConfig, Scenario};
use anyhow::{bail, Result};
use progress::FleetProgress;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Instant, SystemTime};

/// What `run --target` asks of a fleet.
pub struct FleetRequest<'a> {
    pub scenario: &'a Path,
    /// The run's options; `resume`, when given, is a fleet folder to continue.
    pub overrides: &'a Overrides,
    /// `--target`: names and `@fleet`s, comma-separated.
    pub targets: &'a str,
    pub targets_file: Option<&'a Path>,
    /// How many targets copy bundles and jobs at once.
    pub jobs: usize,
}

pub struct FleetOutcome {
    pub folder: PathBuf,
    pub status: FleetStatus,
    /// report.md, when any target left rows.
    pub report: Option<PathBuf>,
}

/// Whether `run --target TARGETS [--resume FOLDER]` is a fleet's run: several targets, a `@fleet`, or a fleet
/// folder to resume.
pub fn is_fleet(targets: &str, resume: Option<&Path>) -> bool {
    targets.contains(',') || targets.starts_with('@') || resume.is_some_and(FleetStatus::is_fleet)
}

/// Exit status of a fleet in which some targets completed and others did not.
pub const PARTIAL: u8 = 3;

/// One target of this run: its name, definition and place in `fleet.json`.
struct Member {
    name: String,
    config: RemoteConfig,
    /// Index in the fleet's `targets`.
    index: usize,
    /// Its progress line: its place in `--target`'s list.
    line: usize,
    /// The results folder a resumed target continues.
    resume: Option<PathBuf>,
}

pub fn run(request: &FleetRequest) -> Result<FleetOutcome> {
    let compiled = crate::backends::compiled_in();
    let mut scenario = crate::scenario::load(request.scenario, &crate::backends::infos(&compiled))?;
    if request.overrides.device.is_some() {
        bail!("--device names one device; a fleet's devices are named by their targets (`device` in the targets file)");
    }
    // The fleet folder is not a results folder: each target resumes its own.
    let overrides = Overrides {
        resume: None,
        ..request.overrides.clone()
    };
    overrides.apply(&mut scenario)?;
    let names = target_names(request, &scenario)?;
    let configs = names
        .iter()
        .map(|name| find_remote(name, &scenario.targets, request.targets_file))
        .collect::<Result<Vec<_>>>()?;

    let devices: Vec<String> = names
        .iter()
        .zip(&configs)
        .map(|(name, config)| config.device_name(name))
        .collect();
    if let Some((a, b)) = first_repeat(&devices) {
        bail!(
            "targets `{}` and `{}` both tag their rows `{}`: their figures would mix in one report; give each its \
             own `device` in the targets file",
            names[a],
            names[b],
            devices[a]
        );
    }

    let started = Instant::now();
    let (folder, mut status) = open(request, &scenario)?;
    status.started_utc = utc_time(SystemTime::now());
    status.ended_utc.clear();
    let (members, skipped) = enlist(&mut status, names.iter().zip(configs).zip(devices), &folder);
    status.write(&folder)?;

    let progress = FleetProgress::new(&names, &folder.join("logs"))?;
    progress.note(&format!(
        "fleet of {} target{} → {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        folder.display()
    ));
    for line in skipped {
        progress.finish(line, "complete in this fleet already: not measured again");
    }
    let shared = Shared {
        request,
        overrides: &overrides,
        scenario: &scenario,
        folder: &folder,
        status: Mutex::new(status),
        progress,
        deployments: Slots::new(request.jobs),
        staging: Countdown::new(
            members
                .iter()
                .filter(|m| m.config.kind != Access::Local)
                .count(),
        ),
    };
    std::thread::scope(|scope| {
        for lane in lanes(&members) {
            let shared = &shared;
            scope.spawn(move || {
                for member in lane {
                    shared.measure(member);
                }
            });
        }
    });

    let mut status = shared
        .status
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    status.ended_utc = utc_time(SystemTime::now());
    status.wall_seconds = Some(started.elapsed().as_secs_f64());
    status.write(&folder)?;
    let report = if status.targets.iter().any(|t| !t.folders.is_empty()) {
        Some(crate::report::fleet_report(&folder)?.markdown)
    } else {
        None
    };
    Ok(FleetOutcome {
        folder,
        status,
        report,
    })
}

/// The fleet folder and its record: the one to resume, or a new one in the scenario's output folder.
fn open(request: &FleetRequest, scenario: &Scenario) -> Result<(PathBuf, FleetStatus)> {
    if let Some(folder) = &request.overrides.resume {
        if !FleetStatus::is_fleet(folder) {
            bail!(
                "--resume {} with several targets takes a fleet folder (one with {}); a single target's results \
                 folder resumes with --target naming that target alone",
                folder.display(),
                FleetStatus::FILE
            );
        }
        return Ok((folder.clone(), FleetStatus::read(folder)?));
    }
    let folder = create_run_folder(
        &scenario.output_dir,
        &format!("{}-fleet", scenario.name),
        SystemTime::now(),
    )?;
    let status = FleetStatus {
        scenario: request.scenario.display().to_string(),
        started_utc: String::new(),
        ended_utc: String::new(),
        wall_seconds: None,
        targets: Vec::new(),
    };
    Ok((folder, status))
}

/// Each named target in the fleet's record (added when new, waiting again when it did not complete): the
/// members to run, and the lines of those complete already.
fn enlist(
    status: &mut FleetStatus,
    targets: impl Iterator<Item = ((impl AsRef<str>, RemoteConfig), String)>,
    folder: &Path,
) -> (Vec<Member>, Vec<usize>) {
    let (mut members, mut skipped) = (Vec::new(), Vec::new());
    for (line, ((name, config), device)) in targets.enumerate() {
        let name = name.as_ref();
        let index = match status.targets.iter().position(|t| t.name == name) {
            Some(index) => index,
            None => {
                status.targets.push(FleetTarget {
                    name: name.to_string(),
                    device,
                    kind: config.kind.as_str().to_string(),
                    state: TargetState::Waiting,
                    folders: Vec::new(),
                    error: String::new(),
                    resume: String::new(),
                    started_utc: String::new(),
                    ended_utc: String::new(),
                    seconds: None,
                });
                status.targets.len() - 1
            }
        };
        let target = &mut status.targets[index];
        if target.state == TargetState::Complete {
            skipped.push(line);
            continue;
        }
        target.state = TargetState::Waiting;
        members.push(Member {
            name: name.to_string(),
            resume: target.folders.last().map(|f| folder.join(f)),
            config,
            index,
            line,
        });
    }
    (members, skipped)
}

/// `--target`'s names, `@fleet`s expanded; each target once.
fn target_names(request: &FleetRequest, scenario: &Scenario) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for item in request.targets.split(',').map(str::trim) {
        let expanded = match item.strip_prefix('@') {
            Some(fleet) => find_fleet(fleet, &scenario.fleets, request.targets_file)?,
            None if item.is_empty() => bail!("--target has an empty name in `{}`", request.targets),
            None => vec![item.to_string()],
        };
        names.extend(expanded);
    }
    if let Some((_, twice)) = first_repeat(&names) {
        bail!(
            "--target names `{}` twice: a target measures once per fleet",
            names[twice]
        );
    }
    Ok(names)
}

/// The members grouped by the machine they reach, in the order named: one lane per machine.
fn lanes(members: &[Member]) -> Vec<Vec<&Member>> {
    let mut lanes: Vec<(String, Vec<&Member>)> = Vec::new();
    for member in members {
        let address = address(&member.name, &member.config);
        match lanes.iter_mut().find(|(a, _)| *a == address) {
            Some((_, lane)) => lane.push(member),
            None => lanes.push((address, vec![member])),
        }
    }
    lanes.into_iter().map(|(_, lane)| lane).collect()
}

/// What identifies the machine a target reaches: the ssh login and port, or this machine.
fn address(name: &str, config: &RemoteConfig) -> String {
    match config.kind {
        Access::Local => "local".to_string(),
        // Each emulated target is its own folder; their timings are marked as meaningless anyway.
        Access::Emulated => format!("emulated {name}"),
        Access::Ssh => format!(
            "ssh {}@{}:{}",
            config.user.as_deref().unwrap_or(""),
            config.host.as_deref().unwrap_or(""),
            config.port.unwrap_or(22)
        ),
    }
}

/// What the lanes share.
struct Shared<'a> {
    request: &'a FleetRequest<'a>,
    overrides: &'a Overrides,
    scenario: &'a Scenario,
    folder: &'a Path,
    status: Mutex<FleetStatus>,
    progress: std::sync::Arc<FleetProgress>,
    deployments: Slots,
    /// Remote targets still copying their bundles and jobs: the local member waits for them.
    staging: Countdown,
}

impl Shared<'_> {
    /// Runs one target and records what it did.
    fn measure(&self, member: &Member) {
        let line = member.line;
        let echo = self.progress.echo(line);
        let output = self.folder.join(crate::export::folder::slug(&member.name));
        if member.config.kind == Access::Local {
            echo.say("waiting for the other targets' copies before measuring here");
            self.staging.wait();
        }
        let device = self.update(member, |t| {
            t.state = TargetState::Running;
            t.started_utc = utc_time(SystemTime::now());
            t.device.clone()
        });
        let started = Instant::now();
        let outcome = if crate::interrupt::requested() {
            Err(anyhow::anyhow!(
                "stopped by {} before it started",
                crate::interrupt::cause()
            ))
        } else if member.config.kind == Access::Local {
            local::run(
                self.request.scenario,
                (self.overrides, &device),
                member.resume.as_deref(),
                &output,
                &echo,
            )
        } else {
            crate::remote::run_target(&TargetRun {
                name: &member.name,
                config: &member.config,
                scenario: self.scenario,
                overrides: self.overrides,
                resume: member.resume.as_deref(),
                output: &output,
                echo: echo.clone(),
                deployments: &self.deployments,
                staged: &|| self.staging.count_down(),
            })
        };
        let (state, error) = judge(&outcome);
        let folders: Vec<String> = outcome
            .as_ref()
            .map(|o| o.folders.clone())
            .unwrap_or_default()
            .iter()
            .map(|f| inside(f, self.folder).display().to_string())
            .collect();
        let resume = (state != TargetState::Complete).then(|| self.resume_command(&member.name));
        let summary = match state {
            TargetState::Complete => format!(
                "complete in {:.0} s → {}",
                started.elapsed().as_secs_f64(),
                folders.join(", ")
            ),
            _ => format!("{}: {error}", state.as_str()),
        };
        self.update(member, |t| {
            t.state = state;
            t.folders.extend(folders);
            t.error = error;
            t.resume = resume.unwrap_or_default();
            t.ended_utc = utc_time(SystemTime::now());
            t.seconds = Some(started.elapsed().as_secs_f64());
        });
        self.progress.finish(line, &summary);
    }

    /// Changes the member's record and writes fleet.json at once.
    fn update<T>(&self, member: &Member, change: impl FnOnce(&mut FleetTarget) -> T) -> T {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let answer = change(&mut status.targets[member.index]);
        if let Err(e) = status.write(self.folder) {
            self.progress.note(&format!("warning: {e:#}"));
        }
        answer
    }

    /// The command that measures what target `name` lacks, into this fleet folder.
    fn resume_command(&self, name: &str) -> String {
        let mut words = vec![
            "harness".to_string(),
            "run".into(),
            self.request.scenario.display().to_string(),
            "--target".into(),
            name.to_string(),
            "--resume".into(),
            self.folder.display().to_string(),
        ];
        if let Some(file) = self.request.targets_file {
            words.extend(["--targets".into(), file.display().to_string()]);
        }
        words.extend(self.overrides.passed_on());
        let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
        quoted.join(" ")
    }
}

/// `path` relative to `folder` when it is inside it (either may be relative to the working folder), else as it is.
fn inside(path: &Path, folder: &Path) -> PathBuf {
    let resolved = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match resolved(path).strip_prefix(resolved(folder)) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

/// A target's state from how its run ended, and why when it did not complete.
fn judge(outcome: &Result<RemoteOutcome>) -> (TargetState, String) {
    let stopped = crate::interrupt::requested();
    match outcome {
        Ok(o) if o.status.success() => (TargetState::Complete, String::new()),
        // 129, 130, 143: the harness there stopped on a signal or on its driver's request, its rows kept.
        Ok(o) if stopped || matches!(o.status.code(), Some(129 | 130 | 143)) => (
            TargetState::Interrupted,
            format!("stopped ({}), its rows so far kept", o.status),
        ),
        Ok(o) => (
            TargetState::Failed,
            format!("the run there ended with {} (see its log)", o.status),
        ),
        Err(e) if stopped => (TargetState::Interrupted, format!("{e:#}")),
        Err(e) => (TargetState::Failed, format!("{e:#}")),
    }
}

/// A count that others wait to reach zero.
struct Countdown {
    left: Mutex<usize>,
    reached: Condvar,
}

impl Countdown {
    fn new(count: usize) -> Countdown {
        Countdown {
            left: Mutex::new(count),
            reached: Condvar::new(),
        }
    }

    fn count_down(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.reached.notify_all();
        }
    }

    /// Waits for zero, or for a stop (after which some never count down: they do not start).
    fn wait(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        while *left > 0 && !crate::interrupt::requested() {
            left = self
                .reached
                .wait_timeout(left, std::time::Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(host: &str, port: u16) -> RemoteConfig {
        RemoteConfig {
            kind: Access::Ssh,
            host: Some(host.into()),
            port: Some(port),
            ..RemoteConfig::default()
        }
    }

    #[test]
    fn targets_at_one_address_share_a_lane_and_others_get_their_own() {
        let member = |name: &str, config: RemoteConfig, index| Member {
            name: name.into(),
            config,
            index,
            line: index,
            resume: None,
        };
        let members = [
            member("a", ssh("board", 22), 0),
            member("b", ssh("board", 2222), 1),
            member("local", RemoteConfig::default(), 2),
            member("a-again", ssh("board", 22), 3),
        ];
        let lanes: Vec<Vec<&str>> = lanes(&members)
            .iter()
            .map(|lane| lane.iter().map(|m| m.name.as_str()).collect())
            .collect();
        assert_eq!(lanes, [vec!["a", "a-again"], vec!["b"], vec!["local"]]);
    }

    #[test]
    fn a_fleet_run_is_told_apart_from_a_single_target() {
        assert!(is_fleet("pi5,local", None));
        assert!(is_fleet("@shop", None));
        assert!(!is_fleet("pi5", None));
        let folder = tempfile::tempdir().unwrap();
        assert!(!is_fleet("pi5", Some(folder.path())));
        std::fs::write(folder.path().join("fleet.json"), "{}").unwrap();
        assert!(is_fleet("pi5", Some(folder.path())));
    }
}
