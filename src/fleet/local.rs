//! A fleet's member on this machine: the scenario run by a harness process of its own (as any other target's
//! is), its results folder written straight into the fleet folder.

use crate::remote::{Echo, RemoteOutcome};
use crate::scenario::Overrides;
use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `scenario` here as `device`, its results folder under `output`.
pub fn run(
    scenario: &Path,
    (overrides, device): (&Overrides, &str),
    resume: Option<&Path>,
    output: &Path,
    echo: &Echo,
) -> Result<RemoteOutcome> {
    let exe = std::env::current_exe().context("cannot find the harness executable")?;
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(scenario)
        .args(["--device", device, "--stop-on-eof", "--out"])
        .arg(output)
        .args(overrides.passed_on());
    if let Some(earlier) = resume {
        command.arg("--resume").arg(earlier);
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped());
    echo.say(&format!("running here as {device}"));
    let mut harness = echo.spawn(&mut command, false)?;
    let mut stdout = harness.child.stdout.take().expect("piped");
    // Its standard output is the results folder's path alone, read once it ends.
    let status = harness.wait_or_stop()?.status;
    let mut printed = String::new();
    stdout.read_to_string(&mut printed)?;
    let folders = printed
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    Ok(RemoteOutcome { folders, status })
}
