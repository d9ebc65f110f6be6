//! One run of a scenario: plan → measurements → records → results folder and terminal table.

use crate::execute::execute;
use crate::export::csv::{
    write_samples, write_summary, RowWriter, SAMPLE_COLUMNS, SUMMARY_COLUMNS,
};
use crate::export::environment::Environment;
use crate::export::{folder, table};
use crate::measure::MonotonicClock;
use crate::plan;
use crate::record::MeasurementRecord;
use crate::scenario::Scenario;
use anyhow::{bail, Context, Result};
use harness_backend_api::Backend;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

/// Command-line adjustments to a scenario.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub backends: Option<Vec<String>>,
    pub threads: Option<Vec<usize>>,
    pub quick: bool,
    pub out: Option<PathBuf>,
}

impl Overrides {
    pub fn apply(&self, scenario: &mut Scenario) -> Result<()> {
        if let Some(names) = &self.backends {
            if let Some(unknown) = names
                .iter()
                .find(|n| !scenario.backends.iter().any(|b| &b.name == *n))
            {
                let listed: Vec<&str> = scenario.backends.iter().map(|b| b.name.as_str()).collect();
                bail!(
                    "--backends names `{unknown}`, which {} does not configure (it has: {})",
                    scenario.path.display(),
                    listed.join(", ")
                );
            }
            scenario.backends.retain(|b| names.contains(&b.name));
        }
        if let Some(threads) = &self.threads {
            if threads.is_empty() || threads.contains(&0) {
                bail!("--threads needs one or more thread counts, each at least 1");
            }
            scenario.threads = threads.clone();
        }
        if self.quick {
            scenario.measure = scenario.measure.quick();
        }
        if let Some(out) = &self.out {
            scenario.output_dir = out.clone();
        }
        Ok(())
    }
}

pub struct RunOutcome {
    pub folder: PathBuf,
    pub records: Vec<MeasurementRecord>,
}

/// Measures every plan of `scenario`, writing each row as soon as it is measured.
pub fn run(
    scenario: &Scenario,
    backends: &[Box<dyn Backend>],
    progress: &mut dyn Write,
) -> Result<RunOutcome> {
    let plans = plan::expand(scenario);
    if plans.is_empty() {
        bail!(
            "{}: nothing to measure (no model has a file in the formats the backends run)",
            scenario.path.display()
        );
    }
    let folder =
        folder::create_run_folder(&scenario.output_dir, &scenario.name, SystemTime::now())?;
    // Shown to the user and stored: an absolute path reads better than `scenarios/../results/...`.
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    std::fs::write(folder.join("scenario.toml"), &scenario.source)
        .context("cannot copy the scenario")?;
    let environment = Environment::capture(crate::backends::infos(backends));
    std::fs::write(
        folder.join("environment.json"),
        serde_json::to_string_pretty(&environment)?,
    )
    .context("cannot write environment.json")?;
    let mut summary = RowWriter::create(&folder.join("summary.csv"), SUMMARY_COLUMNS)?;
    let mut samples = RowWriter::create(&folder.join("samples.csv"), SAMPLE_COLUMNS)?;
    writeln!(
        progress,
        "{}: {} measurements → {}",
        scenario.name,
        plans.len(),
        folder.display()
    )?;

    let clock = MonotonicClock::new();
    let mut records = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let backend = backends
            .iter()
            .find(|b| b.name() == plan.backend)
            .expect("scenarios only name compiled-in backends");
        write!(
            progress,
            "[{}/{}] {} · {} · {} · {} thread{} … ",
            i + 1,
            plans.len(),
            plan.model,
            plan.backend,
            plan.format,
            plan.threads,
            if plan.threads == 1 { "" } else { "s" }
        )?;
        progress.flush()?;
        let started = Instant::now();
        let record = execute(plan, backend.as_ref(), &environment.device, &clock);
        match (&record.summary, &record.error) {
            (Some(s), _) => writeln!(
                progress,
                "{:.3} ms median over {} runs ({:.1} s)",
                s.median_ms,
                s.runs,
                started.elapsed().as_secs_f64()
            )?,
            (None, Some(e)) => writeln!(progress, "{}: {e}", record.status.as_str())?,
            (None, None) => writeln!(progress, "{}", record.status.as_str())?,
        }
        write_summary(&mut summary, &scenario.name, &record)?;
        write_samples(&mut samples, &scenario.name, &record)?;
        records.push(record);
    }
    writeln!(progress, "\n{}", table::render(&records))?;
    Ok(RunOutcome { folder, records })
}
