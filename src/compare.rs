//! `harness compare BASELINE NEW`: did anything get faster or slower? A change is reported only when it is both
//! larger than a noise threshold and statistically significant, as criterion does: measurements on a busy
//! machine move by a few percent from run to run, and a large sample makes even those "significant".

use crate::analysis::change::{bootstrap_change, judge, welch_change, Change, NOISE_THRESHOLD};
use crate::export::csv::rounded;
use crate::key::SeriesKey;
use crate::report::charts::{self, Bar, BarSeries, GroupedBars, Rendered};
use crate::results::{measurements, round_medians, Measurement, ResultFolder};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompareRules {
    /// Relative changes of the median smaller than this are never reported (0.05 = 5%).
    pub noise_threshold: f64,
    /// Bootstrap resamples for the interval of the change.
    pub resamples: usize,
}

impl Default for CompareRules {
    fn default() -> Self {
        CompareRules {
            noise_threshold: NOISE_THRESHOLD,
            resamples: 2000,
        }
    }
}

/// How the interval of a change was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Welch's t-interval on the logarithms of the rounds' medians (both sides ran two or more rounds): it
    /// includes the variation between rounds, which is most of the variation between runs.
    Rounds,
    /// A bootstrap of the single round's latencies: variation between runs is not measured, so the noise
    /// threshold has to cover it.
    Samples,
    /// The medians' own 95% intervals (no samples.csv).
    Intervals,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Rounds => "rounds",
            Method::Samples => "samples",
            Method::Intervals => "intervals",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub key: SeriesKey,
    pub baseline: Measurement,
    pub new: Measurement,
    /// new median / baseline median − 1: +0.2 is 20% slower.
    pub change: f64,
    /// The 95% interval of `change`.
    pub interval: (f64, f64),
    pub method: Method,
    pub verdict: Change,
}

/// One row of comparison.csv, and one element of `compare --json`'s `comparisons`: written and read by this type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub device: String,
    pub model: String,
    pub backend: String,
    pub format: String,
    pub threads: usize,
    pub timing: String,
    pub baseline_ms: f64,
    pub new_ms: f64,
    /// new / baseline − 1: 0.2 is 20% slower.
    pub change: f64,
    /// The 95% interval of `change`.
    pub change_low: f64,
    pub change_high: f64,
    /// `rounds`, `samples` or `intervals` (see [`Method`]).
    pub method: String,
    /// `faster`, `slower` or `no change`.
    pub verdict: String,
}

impl ComparisonRow {
    /// The figures rounded to 6 decimals, as summary.csv's: the last bits of a float sum are not a result.
    pub fn of(comparison: &Comparison) -> ComparisonRow {
        let key = &comparison.key;
        let six = |value: f64| rounded(value, 6);
        ComparisonRow {
            device: key.device.clone(),
            model: key.model.clone(),
            backend: key.backend.clone(),
            format: key.format.clone(),
            threads: key.threads,
            timing: key.timing.clone(),
            baseline_ms: six(comparison.baseline.median_ms),
            new_ms: six(comparison.new.median_ms),
            change: six(comparison.change),
            change_low: six(comparison.interval.0),
            change_high: six(comparison.interval.1),
            method: comparison.method.as_str().to_string(),
            verdict: comparison.verdict.as_str().to_string(),
        }
    }
}

pub struct CompareOutcome {
    pub comparisons: Vec<Comparison>,
    pub only_in_baseline: Vec<SeriesKey>,
    pub only_in_new: Vec<SeriesKey>,
}

impl CompareOutcome {
    pub fn any_slower(&self) -> bool {
        self.comparisons.iter().any(|c| c.verdict == Change::Slower)
    }
}

/// Matches the measurements of two runs by device, model, engine, format, threads and timing (rounds merged).
pub fn compare(
    baseline: &ResultFolder,
    new: &ResultFolder,
    rules: &CompareRules,
) -> CompareOutcome {
    let before = measurements(std::slice::from_ref(baseline));
    let after = measurements(std::slice::from_ref(new));
    let mut comparisons = Vec::new();
    let mut only_in_baseline = Vec::new();
    for b in &before {
        let Some(n) = after.iter().find(|n| n.key == b.key) else {
            only_in_baseline.push(b.key.clone());
            continue;
        };
        let (rounds_before, rounds_after) = (
            round_medians(std::slice::from_ref(baseline), &b.key),
            round_medians(std::slice::from_ref(new), &n.key),
        );
        let (change, interval, method) = if rounds_before.len() >= 2 && rounds_after.len() >= 2 {
            // Rounds vary more than the runs inside one round: they are the honest unit of comparison.
            let (change, interval) = welch_change(&rounds_before, &rounds_after);
            (change, interval, Method::Rounds)
        } else {
            let change = n.median_ms / b.median_ms - 1.0;
            match (baseline.samples.get(&b.key), new.samples.get(&n.key)) {
                (Some(xs), Some(ys)) if !xs.is_empty() && !ys.is_empty() => (
                    change,
                    bootstrap_change(xs, ys, rules.resamples, seed(&b.key)),
                    Method::Samples,
                ),
                // Without samples, the medians' own intervals bound the change.
                _ => (
                    change,
                    (n.low_ms / b.high_ms - 1.0, n.high_ms / b.low_ms - 1.0),
                    Method::Intervals,
                ),
            }
        };
        let verdict = judge(change, interval, rules.noise_threshold);
        comparisons.push(Comparison {
            key: b.key.clone(),
            baseline: b.clone(),
            new: n.clone(),
            change,
            interval,
            method,
            verdict,
        });
    }
    let only_in_new = after
        .iter()
        .filter(|n| !before.iter().any(|b| b.key == n.key))
        .map(|n| n.key.clone())
        .collect();
    CompareOutcome {
        comparisons,
        only_in_baseline,
        only_in_new,
    }
}

/// A fixed seed per row, so that the same two folders always give the same verdicts.
fn seed(key: &SeriesKey) -> u64 {
    let text = format!("{key:?}");
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn key_label(key: &SeriesKey) -> String {
    format!(
        "{} · {} · {} · {}t",
        key.device,
        key.model,
        key.engine_label(),
        key.threads
    )
}

fn percent(change: f64) -> String {
    format!("{:+.1}%", change * 100.0)
}

/// The comparison as a terminal/Markdown table.
pub fn table(outcome: &CompareOutcome, rules: &CompareRules) -> String {
    let mut out = String::from(
        "| measurement | baseline ms | new ms | change | 95% interval | from | verdict |\n|---|---|---|---|---|---|---|\n",
    );
    for c in &outcome.comparisons {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} … {} | {} | {} |\n",
            key_label(&c.key),
            charts::significant(c.baseline.median_ms),
            charts::significant(c.new.median_ms),
            percent(c.change),
            percent(c.interval.0),
            percent(c.interval.1),
            c.method.as_str(),
            c.verdict.as_str()
        ));
    }
    for (keys, side) in [
        (&outcome.only_in_baseline, "baseline"),
        (&outcome.only_in_new, "new run"),
    ] {
        for key in keys {
            out.push_str(&format!(
                "| {} | | | | | only in the {side} |\n",
                key_label(key)
            ));
        }
    }
    out.push_str(&format!(
        "\nA change counts when its 95% interval excludes zero and it exceeds the noise threshold of {:.1}%.\n",
        rules.noise_threshold * 100.0
    ));
    if outcome
        .comparisons
        .iter()
        .any(|c| c.method != Method::Rounds)
    {
        out.push_str(
            "Rows from `samples` ran one round on a side: their interval leaves out the variation between runs, \
             which on a shared or warm machine can exceed the threshold. Run both with `rounds = 3` or more \
             ([measure]) for intervals from `rounds`.\n",
        );
    }
    out
}

/// Baseline and new medians side by side, with the verdict in each label.
pub fn chart(outcome: &CompareOutcome) -> anyhow::Result<Rendered> {
    let categories = outcome
        .comparisons
        .iter()
        .map(|c| {
            format!(
                "{} ({} {})",
                key_label(&c.key),
                c.verdict.as_str(),
                percent(c.change)
            )
        })
        .collect();
    let series = |label: &str, pick: fn(&Comparison) -> &Measurement| BarSeries {
        label: label.to_string(),
        bars: outcome
            .comparisons
            .iter()
            .map(|c| {
                let m = pick(c);
                Some(Bar {
                    value: m.median_ms,
                    interval: Some((m.low_ms, m.high_ms)),
                    note: None,
                })
            })
            .collect(),
    };
    charts::render(
        "comparison",
        "baseline against new",
        &GroupedBars {
            title: "Baseline against new run: median ms per frame".to_string(),
            axis: "ms per frame: median, with its 95% interval".to_string(),
            unit: " ms".to_string(),
            categories,
            series: vec![
                series("baseline", |c| &c.baseline),
                series("new", |c| &c.new),
            ],
        },
    )
}

/// Writes `comparison.md`, `comparison.csv` and the chart (`comparison.svg`, `comparison.png`) into `out`;
/// returns the Markdown file's path.
pub fn write(
    outcome: &CompareOutcome,
    table: &str,
    baseline: &Path,
    new: &Path,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let chart = chart(outcome)?;
    for (extension, bytes) in [("svg", chart.svg.as_bytes()), ("png", &chart.png[..])] {
        let path = out.join(format!("{}.{extension}", chart.name));
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let markdown = out.join("comparison.md");
    let text = format!(
        "# Comparison\n\nbaseline: {}\n\nnew: {}\n\n{table}\n![{}]({}.png)\n",
        baseline.display(),
        new.display(),
        chart.title,
        chart.name
    );
    std::fs::write(&markdown, text)
        .with_context(|| format!("cannot write {}", markdown.display()))?;
    let table_path = out.join("comparison.csv");
    let mut rows = csv::Writer::from_path(&table_path)
        .with_context(|| format!("cannot write {}", table_path.display()))?;
    for comparison in &outcome.comparisons {
        rows.serialize(ComparisonRow::of(comparison))?;
    }
    rows.flush()
        .with_context(|| format!("cannot write {}", table_path.display()))?;
    Ok(markdown)
}
