//! The harness's own cost per timed iteration, measured with a backend that does nothing.
//! Run with `cargo bench --bench overhead`. Goal: well under 1 µs per iteration.

use harness::measure::{time_session, MeasureRules, MonotonicClock, Rotation};
use harness_backend_api::{BackendError, PreparedInput, Session, Setting, Tensor, TensorInfo};
use std::hint::black_box;
use std::time::Instant;

struct NoOpSession;

impl Session for NoOpSession {
    fn inputs(&self) -> &[TensorInfo] {
        &[]
    }
    fn outputs(&self) -> &[TensorInfo] {
        &[]
    }
    fn prepare(&mut self, _: Vec<Tensor>) -> Result<PreparedInput, BackendError> {
        Ok(PreparedInput(0))
    }
    fn refill(&mut self, _: PreparedInput, _: Vec<Tensor>) -> Result<(), BackendError> {
        Ok(())
    }
    fn run(&mut self, input: PreparedInput) -> Result<(), BackendError> {
        black_box(input);
        Ok(())
    }
    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        Ok(Vec::new())
    }
    fn settings(&self) -> Vec<Setting> {
        Vec::new()
    }
}

fn main() {
    const ITERATIONS: u64 = 2_000_000;
    let rules = MeasureRules {
        warmup_runs: 1000,
        warmup_seconds: 0.0,
        min_runs: ITERATIONS,
        min_seconds: 0.0,
        max_seconds: 60.0,
        ..MeasureRules::default()
    };
    let inputs: Vec<PreparedInput> = (0..6).map(PreparedInput).collect();
    let clock = MonotonicClock::new();
    let mut per_iteration_ns = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let timings = time_session(&mut NoOpSession, &inputs, Rotation::Cycle, &rules, &clock)
            .expect("a no-op session never fails");
        let elapsed = started.elapsed();
        assert_eq!(timings.samples_ns.len() as u64, ITERATIONS);
        per_iteration_ns.push(elapsed.as_nanos() as f64 / ITERATIONS as f64);
    }
    per_iteration_ns.sort_by(f64::total_cmp);
    let median = per_iteration_ns[per_iteration_ns.len() / 2];
    println!(
        "harness overhead per timed iteration (no-op backend, {ITERATIONS} iterations × 7 rounds): \
         median {median:.1} ns, min {:.1} ns, max {:.1} ns",
        per_iteration_ns[0],
        per_iteration_ns[per_iteration_ns.len() - 1]
    );
}
