//! Did a measurement change between two sets of runs? The statistics `harness compare` and the reports'
//! technique studies share: a change is faster or slower only when it is both significant and larger than a
//! noise threshold, as criterion judges.

use crate::rng::SplitMix64;
use serde::Serialize;

/// Relative changes of the median smaller than this are not reported by default (5%): measurements on a busy
/// machine move by a few percent from run to run, and a large sample makes even those "significant".
pub const NOISE_THRESHOLD: f64 = 0.05;

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
        super::percentile(&changes, 2.5),
        super::percentile(&changes, 97.5),
    )
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
