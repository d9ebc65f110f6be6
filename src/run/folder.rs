//! The results folder of one run, written as the run goes: created new with the scenario and the environment,
//! a measurement's rows added as soon as it ends, `run.json` and `results.json` written at the end.

use crate::analysis::operators::Graph;
use crate::export::csv::{PredictionRow, ProfileRow, RowWriter, SampleRow, SummaryRow};
use crate::export::environment::Environment;
use crate::export::folder::create_run_folder;
use crate::export::results_json::ResultsDocument;
use crate::export::run_status::RunStatus;
use crate::machine::{Access, WORKER_LAUNCHER_VARIABLE};
use crate::record::{MeasurementRecord, ProfileRecord};
use crate::scenario::Scenario;
use anyhow::{Context, Result};
use harness_backend_api::Backend;
use std::path::PathBuf;
use std::time::SystemTime;

/// What a classifier row's predictions are listed with: the inputs' names and the class names.
pub struct Classes<'a> {
    pub input_names: &'a [String],
    pub labels: Option<&'a [String]>,
}

pub struct RunFolder {
    pub path: PathBuf,
    scenario: String,
    summary: RowWriter<SummaryRow>,
    samples: RowWriter<SampleRow>,
    /// Only when the scenario has a classifier.
    predictions: Option<RowWriter<PredictionRow>>,
    /// Only when the scenario profiles.
    profile: Option<RowWriter<ProfileRow>>,
}

impl RunFolder {
    /// Creates a new folder for `scenario` in its output folder, with a copy of the scenario and the environment.
    pub fn create(scenario: &Scenario, environment: &Environment) -> Result<RunFolder> {
        let path = create_run_folder(&scenario.output_dir, &scenario.name, SystemTime::now())?;
        // Shown to the user and stored: an absolute path reads better than `scenarios/../results/...`.
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        std::fs::write(path.join("scenario.toml"), &scenario.source)
            .context("cannot copy the scenario")?;
        std::fs::write(
            path.join("environment.json"),
            serde_json::to_string_pretty(environment)?,
        )
        .context("cannot write environment.json")?;
        let predictions = if scenario.models.iter().any(|m| m.classifier) {
            Some(RowWriter::create(&path.join("predictions.csv"))?)
        } else {
            None
        };
        let profile = if scenario.measure.profile {
            Some(RowWriter::create(&path.join("profile.csv"))?)
        } else {
            None
        };
        Ok(RunFolder {
            summary: RowWriter::create(&path.join("summary.csv"))?,
            samples: RowWriter::create(&path.join("samples.csv"))?,
            predictions,
            profile,
            scenario: scenario.name.clone(),
            path,
        })
    }

    /// Writes one measurement's rows; `classes` when its predictions are listed. When one file cannot be
    /// written, the others are cut back too: a measurement is in every file or in none (a resume measures it
    /// again).
    pub fn add(&mut self, record: &MeasurementRecord, classes: Option<Classes<'_>>) -> Result<()> {
        let marks = (
            self.summary.mark(),
            self.samples.mark(),
            self.predictions.as_ref().map(RowWriter::mark),
        );
        let written = self.write(record, classes);
        if written.is_err() {
            self.summary.cut_back(marks.0);
            self.samples.cut_back(marks.1);
            if let (Some(out), Some(mark)) = (self.predictions.as_mut(), marks.2) {
                out.cut_back(mark);
            }
        }
        written
    }

    fn write(&mut self, record: &MeasurementRecord, classes: Option<Classes<'_>>) -> Result<()> {
        self.samples.add(&SampleRow::of(&self.scenario, record))?;
        if let (Some(out), Some(classes)) = (self.predictions.as_mut(), classes) {
            out.add(&PredictionRow::of(
                &self.scenario,
                record,
                classes.input_names,
                classes.labels,
            ))?;
        }
        // The summary row last: a reader that sees it finds the measurement's other rows there.
        self.summary.add(&[SummaryRow::of(&self.scenario, record)])
    }

    /// Writes the rows of `record`'s profiled pass, its nodes classified against the model file's `graph`.
    pub fn add_profile(
        &mut self,
        record: &MeasurementRecord,
        profile: &ProfileRecord,
        graph: &Graph,
    ) -> Result<()> {
        match self.profile.as_mut() {
            Some(out) => out.add(&ProfileRow::of(&self.scenario, record, profile, graph)),
            None => Ok(()),
        }
    }

    /// Writes run.json, then results.json: the whole run, with the `warnings` its answer ends with.
    pub fn finish(&self, status: &RunStatus, warnings: Vec<String>) -> Result<()> {
        std::fs::write(
            self.path.join("run.json"),
            serde_json::to_string_pretty(status)?,
        )
        .context("cannot write run.json")?;
        ResultsDocument::assemble(&self.path, status.clone(), warnings)?.write(&self.path)
    }
}

/// The machine the scenario is measured on, as environment.json describes it. Measures the FMA peak, for a
/// third of a second, before anything else runs: the reports' share of peak is measured against it.
pub fn environment(scenario: &Scenario, backends: &[Box<dyn Backend>]) -> Environment {
    let mut environment = Environment::capture(crate::backends::infos(backends));
    if let Some(device) = &scenario.device {
        environment.device = device.clone();
    }
    environment.target_kind = scenario.target.as_str();
    if scenario.target == Access::Emulated {
        let variable = |name: &str| std::env::var(name).unwrap_or_else(|_| "unknown".into());
        environment.emulation = Some(format!(
            "qemu-user: {}, CPU model {}",
            variable(WORKER_LAUNCHER_VARIABLE),
            variable("QEMU_CPU")
        ));
    }
    environment.fma_peak = Some(harness_peak::measure(0.3));
    environment
}
