//! `fleet.json`: a fleet run's targets (what each one's state is, its results folders, its time, how to resume
//! it), written as the run goes, so that a fleet cut short still says what each target did; read back by
//! `run --resume FLEET` and by the fleet's report.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Not started yet (its lane is busy with another target on the same machine, or staging is under way).
    Waiting,
    Running,
    Complete,
    /// Stopped (Ctrl-C) before every measurement was made; its rows so far are in its folder.
    Interrupted,
    /// Unreachable, the bundle would not start, or the run there ended with an error.
    Failed,
}

impl TargetState {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Waiting => "waiting",
            TargetState::Running => "running",
            TargetState::Complete => "complete",
            TargetState::Interrupted => "interrupted",
            TargetState::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetTarget {
    /// The target's name, as `--target` and the targets file give it.
    pub name: String,
    /// The device name its rows carry.
    pub device: String,
    /// How it is reached: `local`, `ssh` or `emulated`.
    pub kind: String,
    pub state: TargetState,
    /// Its results folders, relative to the fleet folder, oldest first (each resume adds one).
    pub folders: Vec<String>,
    /// Why it failed or stopped; empty when it completed.
    pub error: String,
    /// The command that measures what it lacks, into this fleet; empty when it completed.
    pub resume: String,
    /// Its last run's window, from connecting to the results being back (ISO 8601 UTC).
    pub started_utc: String,
    pub ended_utc: String,
    pub seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetStatus {
    /// The scenario file, as given to `run`.
    pub scenario: String,
    pub started_utc: String,
    pub ended_utc: String,
    /// The fleet run's own time, from start to the last target's end: against the targets' `seconds` added up,
    /// what measuring them at once saved.
    pub wall_seconds: Option<f64>,
    pub targets: Vec<FleetTarget>,
}

impl FleetStatus {
    pub const FILE: &'static str = "fleet.json";

    /// Whether `folder` is a fleet folder.
    pub fn is_fleet(folder: &Path) -> bool {
        folder.join(Self::FILE).is_file()
    }

    pub fn read(folder: &Path) -> Result<FleetStatus> {
        let path = folder.join(Self::FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a fleet's record", path.display()))
    }

    /// Writes the file whole or not at all: a fleet stopped while writing keeps the previous version.
    pub fn write(&self, folder: &Path) -> Result<()> {
        let path = folder.join(Self::FILE);
        let partial = folder.join(format!("{}.partial", Self::FILE));
        std::fs::write(&partial, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// How many targets completed.
    pub fn complete(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.state == TargetState::Complete)
            .count()
    }

    /// The targets' own times added up: what the fleet would have taken one target after the other.
    pub fn sequential_seconds(&self) -> f64 {
        self.targets.iter().filter_map(|t| t.seconds).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_fleet_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let status = FleetStatus {
            scenario: "scenarios/mobilenet.toml".into(),
            started_utc: "2026-12-02T10:00:00.000Z".into(),
            ended_utc: "2026-12-02T10:05:00.000Z".into(),
            wall_seconds: Some(300.0),
            targets: vec![FleetTarget {
                name: "pi5".into(),
                device: "pi5".into(),
                kind: "ssh".into(),
                state: TargetState::Failed,
                folders: vec!["pi5/20261202T100001Z-mobilenet".into()],
                error: "ssh to pi5.local failed".into(),
                resume: "harness run scenarios/mobilenet.toml --target pi5 --resume results/x"
                    .into(),
                started_utc: "2026-12-02T10:00:01.000Z".into(),
                ended_utc: "2026-12-02T10:02:00.000Z".into(),
                seconds: Some(119.0),
            }],
        };
        status.write(dir.path()).unwrap();
        assert!(FleetStatus::is_fleet(dir.path()));
        assert_eq!(FleetStatus::read(dir.path()).unwrap(), status);
        assert_eq!(status.sequential_seconds(), 119.0);
        assert_eq!(status.complete(), 0);
    }
}
