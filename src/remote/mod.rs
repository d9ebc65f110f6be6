//! Running a scenario on another machine: a board over ssh, or this machine emulating one with qemu-user.
//!
//! The harness checks the scenario here, stages the files it names into a job folder (`stage`), deploys the
//! bundle for the target's architecture when the target lacks it (`bundle`, keyed by the bundle's hash), runs
//! the bundle's harness there on the job, and copies its results folder back beside the local runs. Rows
//! carry the device name and the target kind; emulated ones are marked in the device name too.

mod bundle;
mod config;
mod connection;
mod intake;
mod process;
mod slots;
mod stage;

pub use config::{find_fleet, find_remote};
pub use connection::shell_quote;
pub use process::{Echo, Echoed};
pub use slots::Slots;

use crate::scenario::{Overrides, RemoteConfig, Scenario};
use anyhow::{bail, Context, Result};
use connection::Remote;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// What a run on a target produced.
pub struct RemoteOutcome {
    /// The results folders copied back (normally one).
    pub folders: Vec<PathBuf>,
    /// The remote harness's exit status.
    pub status: ExitStatus,
}

/// One target's run of a scenario: what `run --target` asks for, and each member of a fleet.
pub struct TargetRun<'a> {
    pub name: &'a str,
    pub config: &'a RemoteConfig,
    /// The scenario as checked here, with the run's options applied.
    pub scenario: &'a Scenario,
    /// The run's options: those a harness passes on, and the device name.
    pub overrides: &'a Overrides,
    /// A results folder of an earlier run on this target, copied back before: only what it lacks is measured.
    pub resume: Option<&'a Path>,
    /// Where the results folders land on this machine.
    pub output: &'a Path,
    pub echo: Echo,
    /// Bounds how many targets copy bundles and jobs at once (`--jobs`).
    pub deployments: &'a Slots,
    /// Told once, when the bundle and the job are on the target (or could not be put there).
    pub staged: &'a (dyn Fn() + Sync),
}

/// Runs `scenario` on the target `name` (see `config` for where targets are defined) and copies the results
/// back into the scenario's output folder.
pub fn run(
    scenario_path: &Path,
    overrides: &Overrides,
    name: &str,
    targets_file: Option<&Path>,
) -> Result<RemoteOutcome> {
    let compiled = crate::backends::compiled_in();
    let mut scenario = crate::scenario::load(scenario_path, &crate::backends::infos(&compiled))?;
    overrides.apply(&mut scenario)?;
    let config = find_remote(name, &scenario.targets, targets_file)?;
    run_target(&TargetRun {
        name,
        config: &config,
        scenario: &scenario,
        overrides,
        resume: overrides.resume.as_deref(),
        output: &scenario.output_dir,
        echo: Echo::Terminal,
        deployments: &Slots::new(1),
        staged: &|| {},
    })
}

/// Runs one target's job: connect, deploy the bundle, stage the job, run it there, copy its results back.
pub fn run_target(job: &TargetRun) -> Result<RemoteOutcome> {
    let (name, config, scenario, echo) = (job.name, job.config, job.scenario, &job.echo);
    // Told when staging ends, or when anything before it fails.
    let staged = Staged(job.staged);
    let device = job
        .overrides
        .device
        .clone()
        .unwrap_or_else(|| config.device_name(name));
    let remote = connection::connect(name, config, echo.clone())?;
    echo.say(&format!("target {name}: {}", remote.describe()));

    let (bundle_dir, job_name, resumed) = {
        let _slot = job.deployments.take(|| {
            echo.say(&format!(
                "target {name}: waiting for other targets' copies to end (--jobs)"
            ))
        });
        let bundle_dir = deploy(remote.as_ref(), name, config, echo)?;
        let (job_name, resumed) = stage_job(remote.as_ref(), scenario, job.resume)?;
        drop(staged);
        (bundle_dir, job_name, resumed)
    };
    if crate::interrupt::requested() {
        bail!(
            "stopped by {} before the run on {name} started",
            crate::interrupt::cause()
        );
    }

    let mut arguments = vec![
        format!("../../{bundle_dir}/harness"),
        "run".into(),
        "scenario.toml".into(),
        "--device".into(),
        device,
        "--target-kind".into(),
        config.kind.as_str().into(),
        "--stop-on-eof".into(),
    ];
    arguments.extend(job.overrides.passed_on());
    if let Some(name) = &resumed {
        arguments.extend(["--resume".to_string(), format!("results/{name}")]);
    }
    let command = format!(
        "cd {job_name} && exec {}",
        remote.command_line(&arguments.iter().map(|a| shell_quote(a)).collect::<Vec<_>>())
    );
    echo.say(&format!("target {name}: running {job_name}"));
    let finished = remote.run_streaming(&command)?;
    let status = finished.status;
    let printed = finished
        .last_line
        .map(|line| printed_folder(&line).ok_or(line));
    let folders = fetch(
        remote.as_ref(),
        (name, &job_name, echo),
        (status, printed),
        resumed.as_deref(),
        job.output,
    )?;
    Ok(RemoteOutcome { folders, status })
}

/// Tells `TargetRun::staged` when dropped: on every way out of staging.
struct Staged<'a>(&'a (dyn Fn() + Sync));

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Copies the job (the scenario and the files it names, and the folder a resumed run continues) to the target.
/// Returns the job's folder there and the resumed folder's name.
fn stage_job(
    remote: &dyn Remote,
    scenario: &Scenario,
    resume: Option<&Path>,
) -> Result<(String, Option<String>)> {
    let job_name = format!(
        "jobs/{}-{}-{}",
        crate::export::folder::utc_stamp(std::time::SystemTime::now()),
        crate::export::folder::slug(&scenario.name),
        std::process::id()
    );
    let staging = tempfile::tempdir().context("cannot create a staging folder")?;
    stage::stage(scenario, staging.path())?;
    // Resuming: the earlier folder, copied back from the target before, travels with the job.
    let resumed = match resume {
        Some(earlier) => {
            let name = earlier
                .file_name()
                .with_context(|| format!("{} names no folder", earlier.display()))?
                .to_string_lossy()
                .into_owned();
            copy_tree(earlier, &staging.path().join("results").join(&name))?;
            Some(name)
        }
        None => None,
    };
    remote.upload(staging.path(), &job_name)?;
    Ok((job_name, resumed))
}

/// Puts the bundle for the target's architecture on it unless it is there already (by hash), and checks that
/// it starts there. Returns the bundle's folder on the target.
fn deploy(remote: &dyn Remote, name: &str, config: &RemoteConfig, echo: &Echo) -> Result<String> {
    let bundle = bundle::resolve(config, &config.arch())?;
    let bundle_dir = format!("bundles/{}", bundle.id);
    if remote.run_quietly(&format!("test -x {bundle_dir}/harness"))? {
        echo.say(&format!(
            "target {name}: bundle {} already there",
            bundle.id
        ));
    } else {
        echo.say(&format!(
            "target {name}: deploying bundle {} ({})",
            bundle.id,
            bundle.dir.display()
        ));
        let partial = format!("{bundle_dir}.partial");
        remote.run_checked(&format!("rm -rf {partial}"))?;
        remote.upload(&bundle.dir, &partial)?;
        // The new bundle replaces the old ones: a board's storage is small.
        remote.run_checked(&format!(
            "rm -rf {bundle_dir} && mv {partial} {bundle_dir} && \
             for old in bundles/*; do [ \"$old\" = {bundle_dir} ] || rm -rf \"$old\"; done"
        ))?;
    }

    // What the board must provide itself (glibc, OpenCV's shared libraries) shows when the binary starts.
    let binary = format!("{bundle_dir}/harness");
    let started = remote.run_captured(&remote.command_line(&[binary, "--version".into()]))?;
    if !started.status.success() {
        bail!(
            "the harness bundle does not start on {name}: {}\nThe target must provide what BUNDLE.txt lists (for \
             OpenCV on Debian or Raspberry Pi OS: sudo apt install libopencv-dnn406 libopencv-imgproc406)",
            String::from_utf8_lossy(&started.stderr).trim()
        );
    }
    // A bundle made from another commit may lack an option this harness passes on (it then refuses to run).
    let theirs = String::from_utf8_lossy(&started.stdout);
    if !theirs.contains(env!("HARNESS_GIT_COMMIT")) {
        echo.say(&format!(
            "target {name}: note: the bundle there is {}, this harness is commit {}; if its run refuses an option, \
             make the bundle again (scripts/bundle.sh)",
            theirs.trim(),
            env!("HARNESS_GIT_COMMIT")
        ));
    }

    Ok(bundle_dir)
}

/// The results folder a target's harness printed as its last line (`…/results/NAME`, as the board sees it), as
/// `NAME`: one plain name, or `None` for anything else (`..` anywhere, control characters). Only the name is
/// used: the copy back is asked for in this job's own results folder.
fn printed_folder(line: &str) -> Option<String> {
    use std::path::Component;
    let parts: Vec<_> = Path::new(line.trim()).components().collect();
    if parts.contains(&Component::ParentDir) {
        return None;
    }
    match parts[..] {
        [.., Component::Normal(results), Component::Normal(name)] if results == "results" => {
            let name = name.to_str()?;
            (!name.chars().any(char::is_control)).then(|| name.to_string())
        }
        _ => None,
    }
}

/// Copies back what the job's run wrote, finished or not, into `output`, and says what was saved when the run
/// failed. Only the folder the run printed comes back (`printed`: its name, or the line that named none); a run
/// that printed nothing (it was cut off) sends every folder in its results but the resumed one. A successful job
/// keeps its results on the target and drops its copies of models and images.
fn fetch(
    remote: &dyn Remote,
    (name, job_name, echo): (&str, &str, &Echo),
    (status, printed): (ExitStatus, Option<Result<String, String>>),
    resumed: Option<&str>,
    output: &Path,
) -> Result<Vec<PathBuf>> {
    let fetched = tempfile::tempdir().context("cannot create a folder for the results")?;
    let mut refused = intake::Refused::default();
    let copied = match &printed {
        Some(Ok(folder)) => remote.download(
            &format!("{job_name}/results/{folder}"),
            &fetched.path().join(folder),
            &mut refused,
        ),
        Some(Err(line)) => Err(anyhow::anyhow!(
            "its harness named `{}` as its results folder, which is not a folder in {job_name}/results",
            line.escape_debug()
        )),
        None => remote.download(&format!("{job_name}/results"), fetched.path(), &mut refused),
    };
    // What did come back is kept, even when the copy was cut short: every file in it was checked on the way in.
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(fetched.path())? {
        let entry = entry?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if resumed == Some(&*entry_name) {
            continue;
        }
        if !entry.file_type()?.is_dir() {
            refused.add(Path::new(&entry_name), "not a results folder");
            continue;
        }
        folders.push(place(&entry.path(), output)?);
    }
    if let Some(said) = refused.describe() {
        echo.say(&format!("target {name}: {said}"));
    }
    if status.success() && copied.is_ok() {
        // The results stay on the target with the job's scenario; the copies of models and images go.
        remote.run_checked(&format!("rm -rf {job_name}/models {job_name}/inputs"))?;
    }
    if !status.success() || copied.is_err() {
        let saved = folders
            .iter()
            .map(|f| format!("{} ({} rows)", f.display(), measured_rows(f)))
            .collect::<Vec<_>>();
        echo.say(&format!(
            "target {name}: the run ended with {}{}; saved: {}; the job stays in {job_name} on the target (resume \
             from a saved folder with --resume)",
            remote.explain(status),
            copied
                .as_ref()
                .err()
                .map_or(String::new(), |e| format!(", and its results could not be copied: {e:#}")),
            if saved.is_empty() {
                "nothing".to_string()
            } else {
                saved.join(", ")
            }
        ));
    }
    if folders.is_empty() && status.success() {
        bail!("the run on {name} finished but left no results folder in {job_name}/results");
    }
    Ok(folders)
}

/// Moves a fetched results folder into `output`, under its own name, or a free variant of it: a folder that is
/// already there is never overwritten.
fn place(fetched: &Path, output: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let name = fetched
        .file_name()
        .expect("a folder has a name")
        .to_string_lossy();
    for attempt in 1.. {
        let destination = match attempt {
            1 => output.join(&*name),
            n => output.join(format!("{name}-{n}")),
        };
        if destination.symlink_metadata().is_ok() {
            continue;
        }
        intake::take_tree(
            fetched,
            fetched,
            &destination,
            &mut intake::Refused::default(),
        )?;
        return Ok(destination);
    }
    unreachable!("the attempts never run out")
}

/// Copies a folder tree of this machine's own (files and folders; links followed): what is staged for a target.
/// What comes back from one goes through `intake` instead.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    entry.path().display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

fn measured_rows(folder: &Path) -> usize {
    std::fs::read_to_string(folder.join("summary.csv"))
        .map(|text| text.lines().count().saturating_sub(1))
        .unwrap_or(0)
}
