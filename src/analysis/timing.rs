//! Statistics of a set of latencies, and whether they can be trusted.

use crate::measure::{MeasureRules, Timings};
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
/// The normal quantile for a two-sided 95% interval.
const Z95: f64 = 1.959_964;

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

/// The `p`-th percentile of sorted data, interpolating linearly between ranks (numpy's default).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// The 95% confidence interval of the median from order statistics, with the normal approximation to the
/// binomial: ranks j = ⌊(n − z√n)/2⌋ and k = ⌈1 + (n + z√n)/2⌉ (1-based), clamped to the sample.
pub fn median_interval(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len() as f64;
    let half_width = Z95 * n.sqrt();
    let j = ((n - half_width) / 2.0).floor().max(1.0) as usize;
    let k = (1.0 + (n + half_width) / 2.0).ceil().min(n) as usize;
    (sorted[j - 1], sorted[k - 1])
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
    if timings.hit_time_cap && (summary.runs as u64) < rules.min_runs {
        verdict = Verdict::Invalid;
        reasons.push(format!(
            "the {} s cap ended the run after {} of the {} runs required",
            rules.max_seconds, summary.runs, rules.min_runs
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
    fn percentiles_interpolate_like_numpy() {
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        // numpy.percentile(range(1, 11), [50, 90, 99]) = 5.5, 9.1, 9.91
        assert!((percentile(&sorted, 50.0) - 5.5).abs() < 1e-12);
        assert!((percentile(&sorted, 90.0) - 9.1).abs() < 1e-12);
        assert!((percentile(&sorted, 99.0) - 9.91).abs() < 1e-12);
        assert_eq!(percentile(&[4.0], 99.0), 4.0);
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
    fn median_interval_uses_the_right_order_statistics() {
        // n = 100: z·√n = 19.6, j = ⌊40.2⌋ = 40, k = ⌈60.8⌉ = 61 (1-based).
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(median_interval(&sorted), (40.0, 61.0));
        // n = 9: z·3 = 5.88, j = ⌊1.56⌋ = 1, k = ⌈8.44⌉ = 9: the whole range.
        let sorted: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(median_interval(&sorted), (1.0, 9.0));
        // A single run gives a degenerate interval, not a panic.
        assert_eq!(median_interval(&[3.0]), (3.0, 3.0));
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
            hit_time_cap,
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
    }
}
