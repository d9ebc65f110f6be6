//! How many runs a latency percentile needs before it means anything: MLPerf LoadGen's early-stopping rule.
//! If the true p-th percentile were above a reported latency, each run would exceed it with probability at
//! least 1 − p; seeing no more than `over` such runs in n has probability P(Binomial(n, 1 − p) ≤ over). The
//! percentile is supported at confidence c once that probability is at most 1 − c. One stream of runs reports
//! with `over` = 1, as LoadGen's single-stream scenario does: 64 runs for p90 and 662 for p99 at 99%.

/// The confidence percentiles are reported at.
pub const CONFIDENCE: f64 = 0.99;

/// P(Binomial(n, q) ≤ k), summed term by term in log space (no factorials).
fn at_most(k: u64, n: u64, q: f64) -> f64 {
    let (log_q, log_rest) = (q.ln(), (1.0 - q).ln());
    let mut log_term = n as f64 * log_rest;
    let mut sum = log_term.exp();
    for x in 0..k.min(n) {
        log_term += ((n - x) as f64).ln() - ((x + 1) as f64).ln() + log_q - log_rest;
        sum += log_term.exp();
    }
    sum
}

/// The fewest runs that support the `percentile` (0.9 for p90) at `confidence` when `over` of them may
/// exceed it: the least n with P(Binomial(n, 1 − percentile) ≤ over) ≤ 1 − confidence.
pub fn runs_needed(over: u64, percentile: f64, confidence: f64) -> u64 {
    let passes = |n: u64| at_most(over, n, 1.0 - percentile) <= 1.0 - confidence;
    // The probability falls as n grows: double to a passing count, then search between.
    let mut high = over + 1;
    while !passes(high) {
        high *= 2;
    }
    let mut low = high / 2;
    while low + 1 < high {
        let middle = (low + high) / 2;
        if passes(middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    high
}

/// The runs one stream needs for `percentile` at the reported confidence.
pub fn runs_for(percentile: f64) -> u64 {
    runs_needed(1, percentile, CONFIDENCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlperfs_counts_for_p90_and_p99_at_99_percent() {
        // By hand: P(X ≤ 1) for X ~ Binomial(n, 0.1) is 0.9ⁿ + 0.1·n·0.9ⁿ⁻¹: 0.01048 at n = 63, 0.00956 at 64.
        assert_eq!(runs_for(0.90), 64);
        // For 0.01: 0.99ⁿ + 0.01·n·0.99ⁿ⁻¹ is 0.010002 at n = 661 and 0.009916 at 662.
        assert_eq!(runs_for(0.99), 662);
        // With no run allowed over (over = 0) the bound is 0.9ⁿ ≤ 0.01: n = ⌈ln 0.01 / ln 0.9⌉ = 44.
        assert_eq!(runs_needed(0, 0.90, 0.99), 44);
    }

    #[test]
    fn more_runs_over_need_more_runs_in_all() {
        let counts: Vec<u64> = (0..6).map(|over| runs_needed(over, 0.99, 0.99)).collect();
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
        // Each count passes and the one before it does not.
        for (over, &n) in counts.iter().enumerate() {
            let over = over as u64;
            assert!(at_most(over, n, 0.01) <= 0.01);
            assert!(at_most(over, n - 1, 0.01) > 0.01);
        }
    }
}
