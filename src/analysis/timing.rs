//! Statistics of a set of latencies, and whether they can be trusted.

pub use crate::measure::{median_interval, percentile};
use crate::measure::{MeasureRules, StoppedBy, Timings};
use serde::{Deserialize, Serialize};

/// Latency statistics in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub runs: usize,
    pub mean_ms: f64,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub std_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Distribution-free 95% confidence interval of the median (order statistics).
    pub median_low_ms: f64,
    pub median_high_ms: f64,
    /// Runs whose modified z-score (from the median absolute deviation) exceeds 3.5; kept, not dropped.
    pub outliers: usize,
    /// Inferences per second over the timed runs, one after another.
    pub throughput_per_s: f64,
}

impl Summary {
    /// The p90 latency when the runs support it (`evidence`: 64 runs), else the runs it needs.
    pub fn supported_p90(&self) -> Result<f64, u64> {
        supported(self.runs, 0.90, self.p90_ms)
    }

    /// The p99 latency when the runs support it (662 runs), else the runs it needs.
    pub fn supported_p99(&self) -> Result<f64, u64> {
        supported(self.runs, 0.99, self.p99_ms)
    }

    /// How precisely the median is known: the 95% interval's half-width as a share of the median.
    pub fn median_precision(&self) -> Option<f64> {
        crate::measure::half_width_share(self.median_low_ms, self.median_high_ms, self.median_ms)
    }
}

fn supported(runs: usize, percentile: f64, value: f64) -> Result<f64, u64> {
    let needed = super::evidence::runs_for(percentile);
    if runs as u64 >= needed {
        Ok(value)
    } else {
        Err(needed)
    }
}

/// Whether a measurement can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    /// Measured as asked, but too noisy to trust closely.
    Noisy,
    /// The minimums were not met.
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Noisy => "noisy",
            Verdict::Invalid => "invalid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validity {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// The modified z-score above which a sample counts as an outlier (Iglewicz and Hoaglin, as hyperfine).
const OUTLIER_Z: f64 = 3.5;

pub fn summarize(samples_ns: &[u64]) -> Option<Summary> {
    if samples_ns.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = samples_ns.iter().map(|&ns| ns as f64 / 1e6).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let total: f64 = sorted.iter().sum();
    let mean = total / n as f64;
    let variance = if n > 1 {
        sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let (median_low_ms, median_high_ms) = median_interval(&sorted);
    Some(Summary {
        runs: n,
        mean_ms: mean,
        median_ms: percentile(&sorted, 50.0),
        min_ms: sorted[0],
        max_ms: sorted[n - 1],
        std_ms: variance.sqrt(),
        p90_ms: percentile(&sorted, 90.0),
        p99_ms: percentile(&sorted, 99.0),
        median_low_ms,
        median_high_ms,
        outliers: count_outliers(&sorted),
        throughput_per_s: if total > 0.0 {
            n as f64 / (total / 1e3)
        } else {
            0.0
        },
    })
}

/// Counts samples whose modified z-score 0.6745·|x − median| / MAD exceeds 3.5. With a MAD of zero
/// (over half the samples identical) no score is defined and none is counted.
pub fn count_outliers(sorted: &[f64]) -> usize {
    let median = percentile(sorted, 50.0);
    let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let mad = percentile(&deviations, 50.0);
    if mad == 0.0 {
        return 0;
    }
    sorted
        .iter()
        .filter(|&&x| 0.6745 * (x - median).abs() / mad > OUTLIER_Z)
        .count()
}

/// Judges a measurement against the rules it was taken under.
pub fn assess(summary: &Summary, timings: &Timings, rules: &MeasureRules) -> Validity {
    let mut reasons = Vec::new();
    let mut verdict = Verdict::Valid;
    let capped = timings.stopped_by == StoppedBy::TimeCap;
    if capped && (summary.runs as u64) < rules.min_runs {
        verdict = Verdict::Invalid;
        reasons.push(format!(
            "the {} s cap ended the run after {} of the {} runs required",
            rules.max_seconds, summary.runs, rules.min_runs
        ));
    }
    if let (Some(target), true, Some(reached)) = (
        rules.target_interval_fraction,
        capped,
        summary.median_precision(),
    ) {
        reasons.push(format!(
            "the {} s cap came before the precision target: the median is known to ±{:.2}%, the target was \
             ±{:.2}%",
            rules.max_seconds,
            reached * 100.0,
            target * 100.0
        ));
    }
    let width = (summary.median_high_ms - summary.median_low_ms) / summary.median_ms;
    if width > rules.max_interval_fraction {
        reasons.push(format!(
            "the 95% interval of the median spans {:.1}% of it (limit {:.1}%)",
            width * 100.0,
            rules.max_interval_fraction * 100.0
        ));
    }
    let outlier_share = summary.outliers as f64 / summary.runs as f64;
    if outlier_share > rules.max_outlier_fraction {
        reasons.push(format!(
            "{} of {} runs are outliers ({:.0}%, limit {:.0}%)",
            summary.outliers,
            summary.runs,
            outlier_share * 100.0,
            rules.max_outlier_fraction * 100.0
        ));
    }
    if verdict == Verdict::Valid && !reasons.is_empty() {
        verdict = Verdict::Noisy;
    }
    Validity { verdict, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| (v * 1e6).round() as u64).collect()
    }

    #[test]
    fn summary_of_a_known_sample() {
        let s = summarize(&ms(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])).unwrap();
        assert_eq!(s.runs, 8);
        assert!((s.mean_ms - 5.0).abs() < 1e-9);
        assert!((s.median_ms - 4.5).abs() < 1e-9);
        // Sample standard deviation: sqrt(32 / 7).
        assert!((s.std_ms - (32.0f64 / 7.0).sqrt()).abs() < 1e-9);
        assert_eq!((s.min_ms, s.max_ms), (2.0, 9.0));
        // 8 runs in 40 ms: 200 per second.
        assert!((s.throughput_per_s - 200.0).abs() < 1e-6);
    }

    #[test]
    fn percentiles_are_given_only_with_the_runs_that_support_them() {
        let samples = |n: u64| (1..=n).map(|ms| ms * 1_000_000).collect::<Vec<u64>>();
        let few = summarize(&samples(63)).unwrap();
        assert_eq!(few.supported_p90(), Err(64));
        assert_eq!(few.supported_p99(), Err(662));
        let enough = summarize(&samples(64)).unwrap();
        assert_eq!(enough.supported_p90(), Ok(enough.p90_ms));
        assert_eq!(enough.supported_p99(), Err(662));
        let many = summarize(&samples(662)).unwrap();
        assert_eq!(many.supported_p99(), Ok(many.p99_ms));
    }

    #[test]
    fn mad_outliers_are_counted_not_dropped() {
        // Median 10, MAD 1: 16 has z = 0.6745·6 = 4.05 > 3.5; 14 has 2.7.
        let mut sorted = vec![8.0, 9.0, 9.0, 10.0, 10.0, 10.0, 11.0, 11.0, 14.0, 16.0];
        sorted.sort_by(f64::total_cmp);
        assert_eq!(count_outliers(&sorted), 1);
        let s = summarize(&ms(&sorted)).unwrap();
        assert_eq!(s.outliers, 1);
        assert_eq!(s.max_ms, 16.0, "the outlier stays in the statistics");
        assert_eq!(
            count_outliers(&[5.0, 5.0, 5.0, 9.0]),
            0,
            "MAD of zero counts none"
        );
    }

    fn timings(samples_ns: Vec<u64>, hit_time_cap: bool) -> Timings {
        Timings {
            first_run: Duration::ZERO,
            warmup_runs: 0,
            samples_ns,
            stopped_by: if hit_time_cap {
                StoppedBy::TimeCap
            } else {
                StoppedBy::Minimums
            },
        }
    }

    #[test]
    fn verdicts_name_their_reasons() {
        let rules = MeasureRules {
            min_runs: 10,
            ..MeasureRules::default()
        };
        let steady = ms(&[10.0; 20]);
        let s = summarize(&steady).unwrap();
        assert_eq!(
            assess(&s, &timings(steady, false), &rules).verdict,
            Verdict::Valid
        );

        let short = ms(&[10.0; 4]);
        let s = summarize(&short).unwrap();
        let v = assess(&s, &timings(short, true), &rules);
        assert_eq!(v.verdict, Verdict::Invalid);
        assert!(
            v.reasons[0].contains("after 4 of the 10 runs"),
            "{:?}",
            v.reasons
        );

        let spread: Vec<u64> = ms(&(1..=20).map(f64::from).collect::<Vec<_>>());
        let s = summarize(&spread).unwrap();
        let v = assess(&s, &timings(spread, false), &rules);
        assert_eq!(v.verdict, Verdict::Noisy);
        assert!(
            v.reasons[0].contains("interval of the median"),
            "{:?}",
            v.reasons
        );

        let mut spiky = ms(&[10.0, 10.1, 9.9, 10.0, 10.2, 9.8, 10.0, 10.1, 9.9, 10.0]);
        spiky.extend(ms(&[30.0, 31.0]));
        let s = summarize(&spiky).unwrap();
        let v = assess(&s, &timings(spiky, false), &rules);
        assert_eq!(v.verdict, Verdict::Noisy);
        assert!(
            v.reasons
                .iter()
                .any(|r| r.contains("2 of 12 runs are outliers")),
            "{:?}",
            v.reasons
        );

        // With a precision target, a cap that came first is said in those words.
        let targeted = MeasureRules {
            target_interval_fraction: Some(0.01),
            ..rules.clone()
        };
        let drifting: Vec<u64> = ms(&(1..=40).map(f64::from).collect::<Vec<_>>());
        let s = summarize(&drifting).unwrap();
        let v = assess(&s, &timings(drifting, true), &targeted);
        assert_eq!(v.verdict, Verdict::Noisy);
        assert!(
            v.reasons[0].starts_with(
                "the 30 s cap came before the precision target: the median is known to ±"
            ),
            "{:?}",
            v.reasons
        );
        assert!(
            v.reasons[0].ends_with("the target was ±1.00%"),
            "{:?}",
            v.reasons
        );
    }
}
