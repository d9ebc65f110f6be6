//! What a run says while it runs: a line when it starts, one per measurement, notes from the reference pass
//! and the model analysis, and at the end the short answer and where the report is.

use crate::plan::{MeasurementPlan, Timing};
use crate::record::MeasurementRecord;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub struct Progress<'a> {
    out: &'a mut dyn Write,
    /// How many measurements the run plans.
    planned: usize,
}

impl<'a> Progress<'a> {
    pub fn new(out: &'a mut dyn Write, planned: usize) -> Progress<'a> {
        Progress { out, planned }
    }

    pub fn start(&mut self, scenario: &str, folder: &Path) -> std::io::Result<()> {
        writeln!(
            self.out,
            "{scenario}: {} measurements → {}",
            self.planned,
            folder.display()
        )
    }

    /// A line of its own.
    pub fn note(&mut self, text: &str) -> std::io::Result<()> {
        writeln!(self.out, "{text}")
    }

    /// The measurement at `index` begins: its line stays open for its result.
    pub fn begin(&mut self, index: usize, plan: &MeasurementPlan) -> std::io::Result<()> {
        write!(
            self.out,
            "[{}/{}] {} · {} · {} · {} thread{}{} … ",
            index + 1,
            self.planned,
            plan.model,
            plan.backend,
            plan.format,
            plan.threads,
            if plan.threads == 1 { "" } else { "s" },
            if plan.timing == Timing::EndToEnd {
                " · end to end"
            } else {
                ""
            }
        )?;
        self.out.flush()
    }

    /// The measurement ended, after `took` in all.
    pub fn end(&mut self, record: &MeasurementRecord, took: Duration) -> std::io::Result<()> {
        match (&record.summary, &record.error) {
            (Some(s), _) => writeln!(
                self.out,
                "{:.3} ms median over {} runs ({:.1} s){}",
                s.median_ms,
                s.runs,
                took.as_secs_f64(),
                record.parity.as_ref().map_or(String::new(), |p| format!(
                    ", parity {}",
                    p.verdict.as_str()
                ))
            ),
            (None, Some(e)) => writeln!(self.out, "{}: {e}", record.status.as_str()),
            (None, None) => writeln!(self.out, "{}", record.status.as_str()),
        }
    }

    pub fn interrupted(&mut self, done: usize) -> std::io::Result<()> {
        writeln!(
            self.out,
            "interrupted: {done} of {} measurements done; their rows are kept",
            self.planned
        )
    }

    /// The short answer (after every round's row and parity line when `verbose`), then where the report is
    /// (or why there is none).
    pub fn finish(
        &mut self,
        records: &[MeasurementRecord],
        report: Result<&Path, &anyhow::Error>,
        verbose: bool,
    ) -> std::io::Result<()> {
        if verbose {
            writeln!(self.out, "\n{}", crate::export::table::render(records))?;
        }
        writeln!(self.out, "\n{}", crate::export::answer::render(records))?;
        match report {
            Ok(html) => writeln!(self.out, "report: {}", html.display()),
            Err(e) => writeln!(self.out, "warning: no report: {e:#}"),
        }
    }
}
