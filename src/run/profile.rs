//! A measurement's profiled pass, in the process that measures: a session of its own with the engine's
//! profiler on, a few warm-up runs, then profiled runs, each timed whole so that the profiler's own cost is
//! stated beside the unprofiled median. It never shares a session with the timed runs.

use super::execute::{load_options, load_status, prepare_all};
use crate::inputs::ModelInputs;
use crate::plan::MeasurementPlan;
use crate::record::{ProfileRecord, Status};
use harness_backend_api::{Backend, BackendError};
use std::time::{Duration, Instant};

/// Warm-up runs before the profiled ones: at most this many of the rules' warm-up runs.
const MOST_WARMUP_RUNS: u64 = 5;
/// Profiled runs: the rules' minimum runs, at most this many (a profile's shares settle within a few runs).
const MOST_PROFILED_RUNS: u64 = 10;

/// Profiles `plan` on `backend` with the model's first input set.
pub fn profile(
    plan: &MeasurementPlan,
    backend: &dyn Backend,
    inputs: &ModelInputs,
) -> ProfileRecord {
    let failed = |status, error: BackendError| ProfileRecord::failed(status, error.to_string());
    let mut session = match backend.load(&plan.model_path, plan.format, &load_options(plan, true)) {
        Ok(session) => session,
        Err(e) => return failed(load_status(&e), e),
    };
    let first = &inputs.sets[..inputs.sets.len().min(1)];
    let input = match prepare_all(session.as_mut(), backend.name(), first, plan) {
        Ok((_, prepared, _)) => prepared[0],
        Err(e) => return failed(Status::LoadFailed, e),
    };
    let warmup = plan.rules.warmup_runs.clamp(1, MOST_WARMUP_RUNS);
    let runs = plan.rules.min_runs.clamp(1, MOST_PROFILED_RUNS) as usize;
    let mut profiled = Duration::ZERO;
    let mut pass = || -> Result<_, BackendError> {
        for _ in 0..warmup {
            session.run(input)?;
        }
        for _ in 0..runs {
            let started = Instant::now();
            session.run_profiled(input)?;
            profiled += started.elapsed();
        }
        session.take_profile()
    };
    match pass() {
        Ok(profile) if profile.nodes.is_empty() => failed(
            Status::RunFailed,
            BackendError::run(backend.name(), "the profiler reported no nodes"),
        ),
        Ok(profile) => ProfileRecord {
            status: Status::Ok,
            error: None,
            nodes: profile.nodes,
            runs,
            profiled_run_ms: Some(profiled.as_secs_f64() * 1e3 / runs as f64),
        },
        Err(e @ BackendError::Unsupported { .. }) => failed(Status::Unsupported, e),
        Err(e) => failed(Status::RunFailed, e),
    }
}
