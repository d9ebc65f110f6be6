//! How precisely a series of runs knows its median: the order statistics behind the interval, which the
//! stopping rule reads while measuring and the analysis reports after.

/// The normal quantile for a two-sided 95% interval.
const Z95: f64 = 1.959_964;

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

/// The half-width of the interval `low`–`high` as a share of `median`: how precisely the median is known.
/// `None` for a median of zero.
pub fn half_width_share(low: f64, high: f64, median: f64) -> Option<f64> {
    (median > 0.0).then(|| (high - low) / 2.0 / median)
}

/// Latencies in nanoseconds, sorted.
fn sorted(samples_ns: &[u64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = samples_ns.iter().map(|&ns| ns as f64).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The median of latencies in nanoseconds (at least one).
pub fn median_ns(samples_ns: &[u64]) -> f64 {
    percentile(&sorted(samples_ns), 50.0)
}

/// The 95% interval's half-width as a share of the median, for latencies in nanoseconds in the order taken;
/// `None` for no runs or a zero median.
pub fn half_width_fraction(samples_ns: &[u64]) -> Option<f64> {
    if samples_ns.is_empty() {
        return None;
    }
    let sorted = sorted(samples_ns);
    let (low, high) = median_interval(&sorted);
    half_width_share(low, high, percentile(&sorted, 50.0))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_half_width_is_a_share_of_the_median() {
        // 1..=100 ms: the interval is 40 to 61 around a median of 50.5.
        let samples: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        let fraction = half_width_fraction(&samples).unwrap();
        assert!((fraction - 10.5 / 50.5).abs() < 1e-12, "{fraction}");
        assert_eq!(half_width_fraction(&[7; 30]), Some(0.0));
        assert_eq!(half_width_fraction(&[]), None);
        assert_eq!(half_width_fraction(&[0, 0, 0]), None);
    }
}
