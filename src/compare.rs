//! `harness compare BASELINE NEW`: did anything get faster or slower? A change is reported only when it is both
//! larger than a noise threshold and statistically significant, as criterion does: measurements on a busy
//! machine move by a few percent from run to run, and a large sample makes even those "significant".

use crate::report::charts::{self, Bar, BarSeries, GroupedBars, Rendered};
use crate::results::{measurements, round_medians, Measurement, ResultFolder, RowKey};
use crate::rng::SplitMix64;
use anyhow::Context;
use serde::Serialize;
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
            noise_threshold: 0.05,
            resamples: 2000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Faster,
    Slower,
    /// Not significant, or smaller than the noise threshold.
    NoChange,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Faster => "faster",
            Change::Slower => "slower",
            Change::NoChange => "no change",
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
    pub key: RowKey,
    pub baseline: Measurement,
    pub new: Measurement,
    /// new median / baseline median − 1: +0.2 is 20% slower.
    pub change: f64,
    /// The 95% interval of `change`.
    pub interval: (f64, f64),
    pub method: Method,
    pub verdict: Change,
}

pub struct CompareOutcome {
    pub comparisons: Vec<Comparison>,
    pub only_in_baseline: Vec<RowKey>,
    pub only_in_new: Vec<RowKey>,
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

/// Faster or slower only when the interval excludes no change (significant) and the change exceeds the noise
/// threshold.
pub fn judge(change: f64, interval: (f64, f64), noise_threshold: f64) -> Change {
    let significant = interval.0 > 0.0 || interval.1 < 0.0;
    if significant && change > noise_threshold {
        Change::Slower
    } else if significant && change < -noise_threshold {
        Change::Faster
    } else {
        Change::NoChange
    }
}

/// The two-sided 97.5% quantile of Student's t for `df` degrees of freedom (table to 30, interpolated; the
/// normal quantile beyond).
fn t_quantile(df: f64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if !df.is_finite() || df > 30.0 {
        return 1.959_964;
    }
    let df = df.max(1.0);
    let (low, high) = (df.floor() as usize, df.ceil() as usize);
    let fraction = df - df.floor();
    TABLE[low - 1] + (TABLE[high - 1] - TABLE[low - 1]) * fraction
}

/// The ratio of geometric means of two sets of round medians, minus one, and its 95% Welch interval.
pub fn welch_change(before: &[f64], after: &[f64]) -> (f64, (f64, f64)) {
    let stats = |values: &[f64]| {
        let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
        let n = logs.len() as f64;
        let mean = logs.iter().sum::<f64>() / n;
        let variance = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, variance / n, n)
    };
    let (mean_b, se2_b, n_b) = stats(before);
    let (mean_a, se2_a, n_a) = stats(after);
    let difference = mean_a - mean_b;
    let se2 = se2_a + se2_b;
    let margin = if se2 > 0.0 {
        let df = se2.powi(2) / (se2_a.powi(2) / (n_a - 1.0) + se2_b.powi(2) / (n_b - 1.0));
        t_quantile(df) * se2.sqrt()
    } else {
        0.0
    };
    (
        difference.exp() - 1.0,
        (
            (difference - margin).exp() - 1.0,
            (difference + margin).exp() - 1.0,
        ),
    )
}

/// A fixed seed per row, so that the same two folders always give the same verdicts.
fn seed(key: &RowKey) -> u64 {
    let text = format!("{key:?}");
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The 95% percentile-bootstrap interval of median(new) / median(baseline) − 1.
pub fn bootstrap_change(baseline: &[f64], new: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    let mut rng = SplitMix64(seed);
    let mut scratch = Vec::new();
    let mut resampled_median = |samples: &[f64], rng: &mut SplitMix64| {
        scratch.clear();
        scratch.extend(
            (0..samples.len()).map(|_| samples[(rng.next() % samples.len() as u64) as usize]),
        );
        let middle = scratch.len() / 2;
        *scratch.select_nth_unstable_by(middle, f64::total_cmp).1
    };
    let mut changes: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let b = resampled_median(baseline, &mut rng);
            let n = resampled_median(new, &mut rng);
            n / b - 1.0
        })
        .collect();
    changes.sort_by(f64::total_cmp);
    (
        crate::analysis::percentile(&changes, 2.5),
        crate::analysis::percentile(&changes, 97.5),
    )
}

fn key_label(key: &RowKey) -> String {
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

/// Writes `comparison.md` and the chart (`comparison.svg`, `comparison.png`) into `out`; returns the Markdown
/// file's path.
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
    Ok(markdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(centre: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64(seed);
        (0..n)
            .map(|_| centre * (1.0 + ((rng.next() % 1000) as f64 / 1000.0 - 0.5) * 0.04))
            .collect()
    }

    #[test]
    fn the_same_distribution_is_no_change() {
        let (a, b) = (noisy(5.0, 400, 1), noisy(5.0, 400, 2));
        let interval = bootstrap_change(&a, &b, 1000, 7);
        assert!(interval.0 < 0.0 && interval.1 > 0.0, "{interval:?}");
        assert_eq!(judge(0.001, interval, 0.05), Change::NoChange);
    }

    #[test]
    fn a_twenty_percent_slowdown_is_slower_and_a_speed_up_faster() {
        let (a, b) = (noisy(5.0, 400, 1), noisy(6.0, 400, 2));
        let interval = bootstrap_change(&a, &b, 1000, 7);
        assert!(interval.0 > 0.15 && interval.1 < 0.25, "{interval:?}");
        assert_eq!(judge(0.2, interval, 0.05), Change::Slower);
        let back = bootstrap_change(&b, &a, 1000, 7);
        assert_eq!(judge(5.0 / 6.0 - 1.0, back, 0.05), Change::Faster);
    }

    #[test]
    fn a_significant_change_below_the_threshold_is_no_change() {
        // 2% slower, clearly significant with this little noise, but under a 5% threshold.
        assert_eq!(judge(0.02, (0.015, 0.025), 0.05), Change::NoChange);
        assert_eq!(judge(0.02, (0.015, 0.025), 0.01), Change::Slower);
    }

    #[test]
    fn rounds_give_a_welch_interval_on_their_medians() {
        // Rounds that wander by ±5%: the same machine, nothing changed.
        let (change, interval) = welch_change(&[10.0, 10.5, 9.6], &[10.4, 9.8, 10.1]);
        assert!(change.abs() < 0.02, "{change}");
        assert!(interval.0 < 0.0 && interval.1 > 0.0, "{interval:?}");
        assert_eq!(judge(change, interval, 0.05), Change::NoChange);
        // 20% slower in every round.
        let (change, interval) = welch_change(&[10.0, 10.5, 9.6], &[12.0, 12.6, 11.5]);
        assert!((change - 0.2).abs() < 0.01, "{change}");
        assert_eq!(judge(change, interval, 0.05), Change::Slower);
        // Identical rounds: no spread, no change.
        assert_eq!(welch_change(&[5.0, 5.0], &[5.0, 5.0]), (0.0, (0.0, 0.0)));
    }

    #[test]
    fn t_quantiles_match_the_table_and_tend_to_the_normal() {
        assert_eq!(t_quantile(4.0), 2.776);
        assert!((t_quantile(4.5) - (2.776 + 2.571) / 2.0).abs() < 1e-12);
        assert_eq!(t_quantile(1000.0), 1.959_964);
    }

    #[test]
    fn a_large_but_uncertain_change_is_no_change() {
        assert_eq!(judge(0.3, (-0.1, 0.7), 0.05), Change::NoChange);
    }
}
