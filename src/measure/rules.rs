use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Interleaved,
    Shuffled,
}

/// The loosest precision target `--quick` keeps: the median to ±5%.
const QUICK_TARGET: f64 = 0.05;

/// How long to warm up and measure, and when a measurement is too noisy to trust.
/// Defaults follow TFLite's benchmark_model and hyperfine: both a count and a time must be met.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeasureRules {
    pub warmup_runs: u64,
    pub warmup_seconds: f64,
    pub min_runs: u64,
    pub min_seconds: f64,
    /// Caps warm-up and, separately, the timed runs.
    pub max_seconds: f64,
    /// A measurement whose 95% interval of the median is wider than this fraction of the median is noisy.
    pub max_interval_fraction: f64,
    /// A precision target: once the minimums are met, the timed runs go on until the 95% interval's
    /// half-width is within this share of the median (checked at each doubling of the run count), or the
    /// maximum time. None: the fixed rules, the minimums alone.
    pub target_interval_fraction: Option<f64>,
    /// A measurement with more than this fraction of outliers is noisy.
    pub max_outlier_fraction: f64,
    /// Also time each run end to end, image decoding and preprocessing included, as separate rows.
    pub end_to_end: bool,
    /// The wall-clock limit for one whole measurement in its worker process (load, warm-up, runs);
    /// default: twice `max_seconds` plus two minutes for loading.
    pub time_limit_seconds: Option<f64>,
    /// An address-space limit for each worker process, in MB; none by default.
    pub memory_limit_mb: Option<u64>,
    /// Repeat every measurement this many times, in rounds, to expose drift (thermal, background load).
    pub rounds: u32,
    /// Within a round, measurements run in the scenario's order (`interleaved`: all engines at one thread
    /// count, then the next) or `shuffled` with `seed` (a new order each round).
    pub order: Order,
    pub seed: u64,
    /// A pause between measurements, to let the CPU cool down.
    pub cooldown_seconds: f64,
    /// Pin each worker process to these CPU cores (e.g. the big cores of a big.LITTLE board); all by default.
    pub cpus: Option<Vec<usize>>,
    /// After each measurement's timed runs, a profiled pass in a session of its own: each engine node's time,
    /// by the engine's own profiler (profile.csv).
    pub profile: bool,
}

impl Default for MeasureRules {
    fn default() -> Self {
        MeasureRules {
            warmup_runs: 5,
            warmup_seconds: 0.5,
            min_runs: 30,
            min_seconds: 2.0,
            max_seconds: 30.0,
            max_interval_fraction: 0.05,
            target_interval_fraction: None,
            max_outlier_fraction: 0.1,
            end_to_end: false,
            time_limit_seconds: None,
            memory_limit_mb: None,
            cpus: None,
            rounds: 1,
            order: Order::Interleaved,
            seed: 0,
            cooldown_seconds: 0.0,
            profile: false,
        }
    }
}

impl MeasureRules {
    /// Short rules for a first look (`--quick`): one round, few runs; the validity checks stay as they are.
    pub fn quick(&self) -> MeasureRules {
        MeasureRules {
            warmup_runs: 2,
            warmup_seconds: 0.1,
            min_runs: 10,
            min_seconds: 0.3,
            max_seconds: 5.0,
            rounds: 1,
            // A loose target where the scenario sets one; the fixed rules stay fixed.
            target_interval_fraction: self
                .target_interval_fraction
                .map(|target| target.max(QUICK_TARGET)),
            ..self.clone()
        }
    }

    /// The time limit for one measurement's worker process.
    pub fn time_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.time_limit_seconds
                .unwrap_or(2.0 * self.max_seconds + 120.0),
        )
    }

    /// Checks the rules; on failure returns the offending field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let non_negative = [
            ("warmup_seconds", self.warmup_seconds),
            ("min_seconds", self.min_seconds),
            ("max_seconds", self.max_seconds),
            ("max_interval_fraction", self.max_interval_fraction),
            ("max_outlier_fraction", self.max_outlier_fraction),
            ("cooldown_seconds", self.cooldown_seconds),
        ];
        if let Some((field, value)) = non_negative
            .iter()
            .find(|(_, v)| !v.is_finite() || *v < 0.0)
        {
            return Err((
                field,
                format!("must be a finite number of at least 0, not {value}"),
            ));
        }
        if let Some(limit) = self
            .time_limit_seconds
            .filter(|t| !t.is_finite() || *t <= 0.0)
        {
            return Err((
                "time_limit_seconds",
                format!("must be above 0, not {limit}"),
            ));
        }
        if let Some(target) = self
            .target_interval_fraction
            .filter(|t| !(t.is_finite() && *t > 0.0 && *t < 1.0))
        {
            return Err((
                "target_interval_fraction",
                format!(
                    "must be a share of the median above 0 and below 1 (0.01 is ±1%), not {target}"
                ),
            ));
        }
        if let Some(limit) = self
            .time_limit_seconds
            .filter(|&t| t < self.warmup_seconds + self.min_seconds)
        {
            return Err((
                "time_limit_seconds",
                format!(
                    "{limit} s is less than the warm-up and the shortest measurement take (warmup_seconds {} + \
                     min_seconds {} s): every measurement's worker would be killed before it could finish",
                    self.warmup_seconds, self.min_seconds
                ),
            ));
        }
        if self
            .cpus
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.iter().any(|&cpu| cpu >= libc::CPU_SETSIZE as usize))
        {
            return Err(("cpus", "must list one or more CPU numbers".into()));
        }
        if self.rounds == 0 {
            return Err(("rounds", "must be at least 1".into()));
        }
        if self.min_runs == 0 {
            return Err(("min_runs", "must be at least 1".into()));
        }
        if self.max_seconds <= 0.0 || self.max_seconds < self.min_seconds {
            return Err((
                "max_seconds",
                format!(
                    "must be above 0 and at least min_seconds ({}), not {}",
                    self.min_seconds, self.max_seconds
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_loosens_a_precision_target_and_keeps_the_fixed_rules_fixed() {
        let fixed = MeasureRules::default();
        assert_eq!(fixed.quick().target_interval_fraction, None);
        let tight = MeasureRules {
            target_interval_fraction: Some(0.01),
            ..MeasureRules::default()
        };
        assert_eq!(tight.quick().target_interval_fraction, Some(0.05));
        let loose = MeasureRules {
            target_interval_fraction: Some(0.1),
            ..MeasureRules::default()
        };
        assert_eq!(loose.quick().target_interval_fraction, Some(0.1));
    }

    #[test]
    fn a_time_limit_shorter_than_the_shortest_measurement_is_refused() {
        let rules = |limit| MeasureRules {
            time_limit_seconds: Some(limit),
            ..MeasureRules::default()
        };
        let (field, why) = rules(1.5).check().unwrap_err();
        assert_eq!(field, "time_limit_seconds");
        assert!(
            why.starts_with("1.5 s is less than the warm-up and the shortest measurement take (warmup_seconds 0.5 + min_seconds 2 s)"),
            "{why}"
        );
        assert_eq!(rules(2.5).check(), Ok(()));
    }
}
