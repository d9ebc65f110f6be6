//! What a run says while it runs: a line when it starts, one per measurement, notes from the reference pass
//! and the model analysis, and at the end the short answer and where the report is. On a terminal a progress
//! bar below those lines shows the measurement under way, how many are done, and an estimate of the time left.

use crate::plan::{MeasurementPlan, Timing};
use crate::record::{MeasurementRecord, ProfileRecord};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

pub struct Progress<'a> {
    out: &'a mut dyn Write,
    /// How many measurements the run plans.
    planned: usize,
    /// Only when standard error is a terminal: lines are then printed above it, on standard error.
    bar: Option<ProgressBar>,
}

impl<'a> Progress<'a> {
    pub fn new(out: &'a mut dyn Write, planned: usize) -> Progress<'a> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(planned as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} · {elapsed} · about {eta} left · {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        Progress { out, planned, bar }
    }

    /// A whole line: above the bar when there is one.
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                Ok(())
            }
            None => writeln!(self.out, "{text}"),
        }
    }

    pub fn start(&mut self, scenario: &str, folder: &Path) -> std::io::Result<()> {
        let text = format!(
            "{scenario}: {} measurements → {}",
            self.planned,
            folder.display()
        );
        self.line(&text)
    }

    /// A line of its own.
    pub fn note(&mut self, text: &str) -> std::io::Result<()> {
        self.line(text)
    }

    /// The measurement at `index` begins: its line stays open for its result.
    pub fn begin(&mut self, index: usize, plan: &MeasurementPlan) -> std::io::Result<()> {
        let what = format!(
            "{} · {} · {} · {} thread{}{}",
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
        );
        match &self.bar {
            Some(bar) => {
                bar.set_message(what);
                Ok(())
            }
            None => {
                write!(self.out, "[{}/{}] {what} … ", index + 1, self.planned)?;
                self.out.flush()
            }
        }
    }

    /// The measurement ended, after `took` in all.
    pub fn end(&mut self, record: &MeasurementRecord, took: Duration) -> std::io::Result<()> {
        let result = match (&record.summary, &record.error) {
            (Some(s), _) => format!(
                "{:.3} ms median over {} runs ({:.1} s){}",
                s.median_ms,
                s.runs,
                took.as_secs_f64(),
                record.parity.as_ref().map_or(String::new(), |p| format!(
                    ", parity {}",
                    p.verdict.as_str()
                ))
            ),
            (None, Some(_)) => format!(
                "{}: {}",
                record.status.as_str(),
                record.error_line().unwrap_or_default()
            ),
            (None, None) => record.status.as_str().to_string(),
        };
        match &self.bar {
            Some(bar) => {
                let plan = &record.plan;
                bar.println(format!(
                    "{} · {} · {} · {} thread{}: {result}",
                    plan.model,
                    plan.backend,
                    plan.format,
                    plan.threads,
                    if plan.threads == 1 { "" } else { "s" }
                ));
                bar.inc(1);
                Ok(())
            }
            None => writeln!(self.out, "{result}"),
        }
    }

    /// The measurement's profiled pass begins.
    pub fn profiling(&mut self, plan: &MeasurementPlan) -> std::io::Result<()> {
        let what = format!("{} · {} · profiling", plan.model, plan.backend);
        match &self.bar {
            Some(bar) => {
                bar.set_message(what);
                Ok(())
            }
            None => {
                write!(self.out, "    {what} … ")?;
                self.out.flush()
            }
        }
    }

    /// The profiled pass ended.
    pub fn profiled(&mut self, profile: &ProfileRecord) -> std::io::Result<()> {
        let result = match (&profile.error, profile.profiled_run_ms) {
            (Some(error), _) => format!(
                "{}: {}",
                profile.status.as_str(),
                error.lines().next().unwrap_or_default()
            ),
            (None, Some(ms)) => format!(
                "{} nodes over {} runs, {ms:.3} ms a profiled run",
                profile.nodes.len(),
                profile.runs
            ),
            (None, None) => profile.status.as_str().to_string(),
        };
        match &self.bar {
            Some(bar) => {
                bar.println(format!("    profile: {result}"));
                Ok(())
            }
            None => writeln!(self.out, "{result}"),
        }
    }

    pub fn interrupted(&mut self, cause: &str, done: usize) -> std::io::Result<()> {
        let text = format!(
            "interrupted by {cause}: {done} of {} measurements done; their rows are kept",
            self.planned
        );
        self.line(&text)
    }

    /// The short answer (after every round's row and parity line when `verbose`), then where the report is
    /// (or why there is none).
    pub fn finish(
        &mut self,
        records: &[MeasurementRecord],
        report: Result<&Path, &anyhow::Error>,
        verbose: bool,
    ) -> std::io::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
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
