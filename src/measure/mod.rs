//! Timing one loaded session: first run, warm-up by count and by time, then timed runs until both the
//! minimum count and the minimum time are met (and, with a precision target, until the median is known that
//! well), capped by the maximum time. Every latency is kept.

mod clock;
mod precision;
mod process;
mod rules;

pub use clock::{Clock, MonotonicClock};
pub use precision::{
    half_width_fraction, half_width_share, median_interval, median_ns, percentile,
};
pub use process::{CpuShares, CpuTimes, ProcessStatus};
pub use rules::{MeasureRules, Order};

use harness_backend_api::{BackendError, PreparedInput, Session};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Raw timings of one session; analysis happens elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timings {
    pub first_run: Duration,
    pub warmup_runs: u64,
    /// One latency per timed run, in nanoseconds, in the order they were taken.
    pub samples_ns: Vec<u64>,
    pub stopped_by: StoppedBy,
}

/// What ended a measurement's timed runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// The minimum count and time were met, and no precision target was set (the fixed rules).
    Minimums,
    /// The minimums were met and the median's interval came within the precision target.
    Precision,
    /// The maximum time came first: before the minimums, or before the precision target.
    TimeCap,
}

impl StoppedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            StoppedBy::Minimums => "minimums",
            StoppedBy::Precision => "precision",
            StoppedBy::TimeCap => "time_cap",
        }
    }
}

/// Which prepared input each run uses: all of them in turn, or one pinned input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    Cycle,
    Pinned(usize),
}

impl Rotation {
    pub fn index(self, iteration: usize, inputs: usize) -> usize {
        match self {
            Rotation::Cycle => iteration % inputs,
            Rotation::Pinned(i) => i,
        }
    }
}

/// Times `session` on `inputs` (already prepared) under `rules`, reading time from `clock`.
pub fn time_session(
    session: &mut dyn Session,
    inputs: &[PreparedInput],
    rotation: Rotation,
    rules: &MeasureRules,
    clock: &dyn Clock,
) -> Result<Timings, BackendError> {
    assert!(!inputs.is_empty(), "at least one prepared input");
    time_runs(
        &mut |i| session.run(inputs[i]),
        inputs.len(),
        rotation,
        rules,
        clock,
    )
}

/// The fewest warm-up runs in each of the two windows whose medians `settled` compares.
const MIN_SETTLING_WINDOW: u64 = 5;

/// Whether the median of the last `window` runs is within `target` of the median of the `window` before
/// them: the engine's caches, allocator and clock have stopped changing what a run costs.
fn settled(runs_ns: &[u64], window: usize, target: f64) -> bool {
    let Some(start) = runs_ns.len().checked_sub(2 * window) else {
        return false;
    };
    let (before, last) = runs_ns[start..].split_at(window);
    let (before, last) = (median_ns(before), median_ns(last));
    before > 0.0 && (last - before).abs() <= target * before
}

/// The stopping rule around any unit of work: `run(i)` does one timed run on input `i` (of `input_count`).
/// Only `run` sits between the two clock reads.
pub fn time_runs(
    run: &mut dyn FnMut(usize) -> Result<(), BackendError>,
    input_count: usize,
    rotation: Rotation,
    rules: &MeasureRules,
    clock: &dyn Clock,
) -> Result<Timings, BackendError> {
    let pick = |i: usize| rotation.index(i, input_count);

    let before = clock.now();
    run(pick(0))?;
    let first_run = clock.now().saturating_sub(before);

    let warmup_time = Duration::from_secs_f64(rules.warmup_seconds);
    let cap = Duration::from_secs_f64(rules.max_seconds);
    let warmup_start = clock.now();
    let mut warmup_runs = 0u64;
    // With a precision target, warm-up also waits for the running median to settle (`settled`).
    let mut warmup_ns = Vec::new();
    let window = rules.warmup_runs.max(MIN_SETTLING_WINDOW) as usize;
    loop {
        let elapsed = clock.now().saturating_sub(warmup_start);
        let minimums = warmup_runs >= rules.warmup_runs && elapsed >= warmup_time;
        let steady = rules
            .target_interval_fraction
            .is_none_or(|target| settled(&warmup_ns, window, target));
        if (minimums && steady) || elapsed >= cap {
            break;
        }
        let t0 = clock.now();
        run(pick(warmup_runs as usize + 1))?;
        warmup_ns.push(clock.now().saturating_sub(t0).as_nanos() as u64);
        warmup_runs += 1;
    }

    let min_time = Duration::from_secs_f64(rules.min_seconds);
    let mut samples_ns = Vec::with_capacity(rules.min_runs as usize * 2);
    // With a precision target: the run count at which the interval is next looked at. The first look is when
    // the minimums are met, then at each doubling of the count, so that looking often does not bias the
    // interval (the more looks, the likelier one catches a lucky narrow one).
    let mut next_look = None;
    let start = clock.now();
    let stopped_by = loop {
        let input = pick(samples_ns.len());
        let t0 = clock.now();
        run(input)?;
        let t1 = clock.now();
        samples_ns.push(t1.saturating_sub(t0).as_nanos() as u64);
        let elapsed = t1.saturating_sub(start);
        let runs = samples_ns.len() as u64;
        if runs >= rules.min_runs && elapsed >= min_time {
            let Some(target) = rules.target_interval_fraction else {
                break StoppedBy::Minimums;
            };
            let look = next_look.get_or_insert(runs);
            if runs >= *look {
                if half_width_fraction(&samples_ns).is_some_and(|reached| reached <= target) {
                    break StoppedBy::Precision;
                }
                *look = runs * 2;
            }
        }
        if elapsed >= cap {
            break StoppedBy::TimeCap;
        }
    };
    Ok(Timings {
        first_run,
        warmup_runs,
        samples_ns,
        stopped_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::{Setting, Tensor, TensorInfo};
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// A clock that only moves when the fake session says so.
    #[derive(Clone, Default)]
    struct FakeClock(Rc<Cell<Duration>>);

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.0.get()
        }
    }

    /// A session whose runs take the listed durations (the last one repeats) and log their inputs.
    struct FakeSession {
        clock: FakeClock,
        costs: Vec<Duration>,
        runs: usize,
        used: Rc<RefCell<Vec<usize>>>,
    }

    impl Session for FakeSession {
        fn inputs(&self) -> &[TensorInfo] {
            &[]
        }
        fn outputs(&self) -> &[TensorInfo] {
            &[]
        }
        fn prepare(&mut self, _: Vec<Tensor>) -> Result<PreparedInput, BackendError> {
            unreachable!()
        }
        fn refill(&mut self, _: PreparedInput, _: Vec<Tensor>) -> Result<(), BackendError> {
            unreachable!()
        }
        fn run(&mut self, input: PreparedInput) -> Result<(), BackendError> {
            let cost = self.costs[self.runs.min(self.costs.len() - 1)];
            self.clock.0.set(self.clock.0.get() + cost);
            self.runs += 1;
            self.used.borrow_mut().push(input.0);
            Ok(())
        }
        fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
            Ok(vec![])
        }
        fn settings(&self) -> Vec<Setting> {
            vec![]
        }
    }

    fn rules(
        warmup_runs: u64,
        warmup_s: f64,
        min_runs: u64,
        min_s: f64,
        max_s: f64,
    ) -> MeasureRules {
        MeasureRules {
            warmup_runs,
            warmup_seconds: warmup_s,
            min_runs,
            min_seconds: min_s,
            max_seconds: max_s,
            ..MeasureRules::default()
        }
    }

    fn run(
        costs_ms: &[u64],
        rules: &MeasureRules,
        inputs: usize,
        rotation: Rotation,
    ) -> (Timings, Vec<usize>) {
        let clock = FakeClock::default();
        let used = Rc::new(RefCell::new(Vec::new()));
        let mut session = FakeSession {
            clock: clock.clone(),
            costs: costs_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            runs: 0,
            used: used.clone(),
        };
        let prepared: Vec<PreparedInput> = (0..inputs).map(PreparedInput).collect();
        let timings = time_session(&mut session, &prepared, rotation, rules, &clock).unwrap();
        let used = used.borrow().clone();
        (timings, used)
    }

    #[test]
    fn time_dominates_when_runs_are_fast() {
        // 10 ms runs, at least 30 runs and 1 s: the time rule needs 100 runs.
        let (t, _) = run(&[10], &rules(0, 0.0, 30, 1.0, 10.0), 1, Rotation::Cycle);
        assert_eq!(t.samples_ns.len(), 100);
        assert_eq!(t.stopped_by, StoppedBy::Minimums);
        assert!(t.samples_ns.iter().all(|&ns| ns == 10_000_000));
    }

    #[test]
    fn count_dominates_when_runs_are_slow() {
        // 100 ms runs, at least 30 runs and 1 s: the count rule needs 30 runs (3 s).
        let (t, _) = run(&[100], &rules(0, 0.0, 30, 1.0, 10.0), 1, Rotation::Cycle);
        assert_eq!(t.samples_ns.len(), 30);
        assert_eq!(t.stopped_by, StoppedBy::Minimums);
    }

    #[test]
    fn the_cap_stops_slow_runs_and_says_so() {
        // 1 s runs, 30 runs wanted, 5 s cap: stops after 5 runs.
        let (t, _) = run(&[1000], &rules(0, 0.0, 30, 1.0, 5.0), 1, Rotation::Cycle);
        assert_eq!(t.samples_ns.len(), 5);
        assert_eq!(t.stopped_by, StoppedBy::TimeCap);
    }

    fn targeted(target: f64, min_runs: u64, max_s: f64) -> MeasureRules {
        MeasureRules {
            target_interval_fraction: Some(target),
            ..rules(0, 0.0, min_runs, 0.0, max_s)
        }
    }

    #[test]
    fn a_steady_series_stops_at_the_first_look_that_meets_the_target() {
        // Every run 10 ms: the interval has no width as soon as the minimums are met.
        let (t, _) = run(&[10], &targeted(0.01, 20, 30.0), 1, Rotation::Cycle);
        assert_eq!(t.samples_ns.len(), 20);
        assert_eq!(t.stopped_by, StoppedBy::Precision);
    }

    #[test]
    fn the_interval_is_looked_at_each_doubling_of_the_runs() {
        // The first run and a warm-up of 10 runs at 10 ms (settled), then 10 timed runs alternating 10 and
        // 11 ms, then 10 ms steadily. At 10 timed runs the interval (ranks 1 and 10) spans 10 to 11 ms, ±4.8% of
        // the 10.5 ms median; at 20 (ranks 5 and 16, of 15 tens and 5 elevens) still 10 to 11 ms, ±5%; at 40
        // (ranks 13 and 28) 10 to 10 ms: the target is met there, and only there.
        let mut costs = vec![10; 11];
        costs.extend([10, 11].repeat(5));
        costs.push(10);
        let (t, _) = run(&costs, &targeted(0.01, 10, 30.0), 1, Rotation::Cycle);
        assert_eq!(
            t.samples_ns.len(),
            40,
            "looks at 10, 20 and 40 runs, none between"
        );
        assert_eq!(t.stopped_by, StoppedBy::Precision);
    }

    #[test]
    fn a_drifting_series_runs_to_its_cap_and_says_so() {
        // Each run 1 ms slower than the one before: the median never settles, and the 5 s cap ends it.
        let costs: Vec<u64> = (10..200).collect();
        let (t, _) = run(&costs, &targeted(0.01, 10, 5.0), 1, Rotation::Cycle);
        assert_eq!(t.stopped_by, StoppedBy::TimeCap);
        let total: u64 = t.samples_ns.iter().sum();
        assert!(total >= 5_000_000_000, "ran to the cap: {total} ns");
    }

    #[test]
    fn with_a_target_warmup_waits_for_the_median_to_settle() {
        // A first run, then runs that get faster until the 12th warm-up run (100, 90, … 10 ms), then 10 ms.
        let mut costs = vec![500];
        costs.extend((1..=10).rev().map(|step| step * 10));
        costs.push(10);
        let fixed = rules(2, 0.0, 5, 0.0, 30.0);
        let (t, _) = run(&costs, &fixed, 1, Rotation::Cycle);
        assert_eq!(t.warmup_runs, 2, "the fixed rules stop at the minimum");
        let (t, _) = run(&costs, &targeted(0.01, 5, 30.0), 1, Rotation::Cycle);
        // Windows of 5 runs: the first two whose medians agree are runs 8–12 (30, 20, 10, 10, 10 ms: median 10)
        // and 13–17 (all 10 ms).
        assert_eq!(t.warmup_runs, 17);
        assert!(t.samples_ns.iter().all(|&ns| ns == 10_000_000));
    }

    #[test]
    fn first_run_and_warmup_are_kept_apart_from_samples() {
        // First run 500 ms, then 10 ms; warm-up needs 3 runs and 0.1 s, so 10 warm-up runs.
        let (t, _) = run(&[500, 10], &rules(3, 0.1, 5, 0.0, 10.0), 1, Rotation::Cycle);
        assert_eq!(t.first_run, Duration::from_millis(500));
        assert_eq!(t.warmup_runs, 10);
        assert_eq!(t.samples_ns.len(), 5);
        assert!(t.samples_ns.iter().all(|&ns| ns == 10_000_000));
    }

    #[test]
    fn warmup_count_is_honoured_even_when_time_is_already_spent() {
        let (t, _) = run(&[200], &rules(4, 0.1, 1, 0.0, 10.0), 1, Rotation::Cycle);
        assert_eq!(t.warmup_runs, 4);
    }

    #[test]
    fn inputs_rotate_or_stay_pinned() {
        let (_, used) = run(&[1], &rules(0, 0.0, 6, 0.0, 10.0), 3, Rotation::Cycle);
        // The first run uses input 0; timed runs cycle 0, 1, 2, 0, 1, 2.
        assert_eq!(used, vec![0, 0, 1, 2, 0, 1, 2]);
        let (_, used) = run(&[1], &rules(0, 0.0, 4, 0.0, 10.0), 3, Rotation::Pinned(2));
        assert_eq!(used, vec![2; 5]);
    }
}
