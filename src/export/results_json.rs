//! `results.json`: the whole run in one document for scripts. Written at the end of a run from what the
//! other files hold, by the same types: the run's state (`RunStatus`, as run.json), the machine (environment.json
//! as written), every summary row as typed fields (`SummaryRow`, as summary.csv), and the warnings the run
//! ended with. Read back by the same type.

use crate::export::csv::{read_rows, SummaryRow};
use crate::export::run_status::RunStatus;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const FILE: &str = "results.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsDocument {
    pub run: RunStatus,
    pub environment: serde_json::Value,
    pub rows: Vec<SummaryRow>,
    /// Each warning once, as the terminal's answer lists them.
    pub warnings: Vec<String>,
}

impl ResultsDocument {
    /// The document of the results folder at `folder`, from its summary.csv and environment.json.
    pub fn assemble(
        folder: &Path,
        run: RunStatus,
        warnings: Vec<String>,
    ) -> Result<ResultsDocument> {
        let environment = std::fs::read_to_string(folder.join("environment.json"))
            .context("cannot read environment.json")?;
        Ok(ResultsDocument {
            run,
            environment: serde_json::from_str(&environment)
                .context("environment.json is not valid JSON")?,
            rows: read_rows(&folder.join("summary.csv"))?,
            warnings,
        })
    }

    pub fn write(&self, folder: &Path) -> Result<()> {
        std::fs::write(folder.join(FILE), serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {FILE}"))
    }

    pub fn read(folder: &Path) -> Result<ResultsDocument> {
        let text = std::fs::read_to_string(folder.join(FILE))
            .with_context(|| format!("cannot read {}", folder.join(FILE).display()))?;
        serde_json::from_str(&text).with_context(|| format!("{FILE} is not a results document"))
    }
}
