//! `run.json`: whether a run finished, written at its end by the run and read back by reports and resumes.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Complete,
    /// The user stopped the run before every measurement was made.
    Interrupted,
    /// A result file could not be written (a full disk, a file-size limit): the rows before are intact.
    WriteFailed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Complete => "complete",
            RunState::Interrupted => "interrupted",
            RunState::WriteFailed => "write_failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    pub status: RunState,
    pub measurements_planned: usize,
    pub measurements_done: usize,
    /// The earlier results folder this run resumed, if it did.
    pub resumes: Option<String>,
    /// The scenario's fingerprint (`Scenario::fingerprint`): a resume must match it. Empty in older folders.
    #[serde(default)]
    pub scenario_fingerprint: String,
}
