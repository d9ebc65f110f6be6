//! Carries out one measurement plan, in the process that measures (a worker, or the harness itself with
//! `--in-process`): load, prepare inputs, time, collect outputs, analyse. The record it returns is complete
//! but for what only the driving harness knows (see `run::complete` and `isolation`).

use crate::analysis;
use crate::inputs::ModelInputs;
use crate::measure::{time_runs, time_session, Clock, Rotation, Timings};
use crate::plan::{MeasurementPlan, Timing};
use crate::record::{MeasurementRecord, Status};
use harness_backend_api::{
    adapt_input, Adaptation, Backend, BackendError, Layout, LoadOptions, PreparedInput, Session,
    Tensor,
};

/// Runs `plan` on `backend` with the model's prepared logical `inputs`. Failures become records with a
/// status and the engine's message.
pub fn execute(
    plan: &MeasurementPlan,
    backend: &dyn Backend,
    inputs: &ModelInputs,
    device: &str,
    clock: &dyn Clock,
) -> MeasurementRecord {
    // Asked again once the session has loaded the engine's runtime, which may report its own version.
    let version = || backend.info().engine_version;
    let failed = |status, error: BackendError| {
        MeasurementRecord::failed(plan, device, &version(), status, error.to_string())
    };
    if !backend.reads(plan.format) {
        let error = BackendError::Unsupported {
            engine: backend.name().to_string(),
            what: format!("{} models", plan.format),
        };
        return failed(Status::Unsupported, error);
    }
    let options = LoadOptions {
        threads: plan.threads,
        engine: plan.options.clone(),
    };
    let before = clock.now();
    let mut session = match backend.load(&plan.model_path, plan.format, &options) {
        Ok(session) => session,
        Err(e @ (BackendError::Unsupported { .. } | BackendError::Option { .. })) => {
            return failed(Status::Unsupported, e)
        }
        Err(e) => return failed(Status::LoadFailed, e),
    };
    let load = clock.now().saturating_sub(before);
    let conversion = session.conversion_time();

    let (prepared, adaptation) = match prepare_inputs(
        session.as_mut(),
        backend.name(),
        &inputs.tensors,
        plan.input.layout,
    ) {
        Ok(prepared) => prepared,
        Err(e) => return failed(Status::LoadFailed, e),
    };
    let rotation = plan.pin.map_or(Rotation::Cycle, Rotation::Pinned);
    let timed = match plan.timing {
        Timing::Inference => {
            time_session(session.as_mut(), &prepared, rotation, &plan.rules, clock)
        }
        Timing::EndToEnd => time_end_to_end(
            plan,
            backend.name(),
            session.as_mut(),
            inputs,
            rotation,
            clock,
        ),
    };
    let timings = match timed {
        Ok(timings) => timings,
        Err(e) => return failed(Status::RunFailed, e),
    };
    let observed_threads = process_threads();
    let outputs = match collect_outputs(session.as_mut(), &prepared) {
        Ok(outputs) => outputs,
        Err(e) => return failed(Status::RunFailed, e),
    };
    let summary = analysis::summarize(&timings.samples_ns);
    let validity = summary
        .as_ref()
        .map(|s| analysis::assess(s, &timings, &plan.rules));
    MeasurementRecord {
        settings: session.settings(),
        adaptation,
        load_ms: Some(
            load.saturating_sub(conversion.unwrap_or_default())
                .as_secs_f64()
                * 1e3,
        ),
        conversion_ms: conversion.map(|c| c.as_secs_f64() * 1e3),
        first_run_ms: Some(timings.first_run.as_secs_f64() * 1e3),
        warmup_runs: timings.warmup_runs,
        summary,
        validity,
        samples_ns: timings.samples_ns,
        outputs,
        observed_threads,
        ..MeasurementRecord::empty(plan, device, &version())
    }
}

/// Times each run from the image file on: decode, preprocess, fit the layout, hand over, run. A spare
/// prepared slot is refilled each time, so that the prepared inputs stay intact for the outputs.
fn time_end_to_end(
    plan: &MeasurementPlan,
    engine: &str,
    session: &mut dyn Session,
    inputs: &ModelInputs,
    rotation: Rotation,
    clock: &dyn Clock,
) -> Result<Timings, BackendError> {
    let input_error = |reason: String| BackendError::Input {
        engine: engine.to_string(),
        reason,
    };
    let recipe = inputs
        .images
        .as_ref()
        .ok_or_else(|| input_error("end-to-end timing needs image inputs".into()))?;
    let wanted = session.inputs()[0].clone();
    let (first, _) = adapt_input(engine, &inputs.tensors[0], plan.input.layout, &wanted)?;
    let slot = session.prepare(vec![first])?;
    let mut run = |index: usize| {
        let logical = recipe
            .make(index, &plan.input)
            .map_err(|e| input_error(format!("{e:#}")))?;
        let (tensor, _) = adapt_input(engine, &logical, plan.input.layout, &wanted)?;
        session.refill(slot, vec![tensor])?;
        session.run(slot)
    };
    time_runs(&mut run, recipe.files.len(), rotation, &plan.rules, clock)
}

/// Fits each logical input to the model's layout and hands it to the engine, outside any timing.
fn prepare_inputs(
    session: &mut dyn Session,
    engine: &str,
    inputs: &[Tensor],
    layout: Option<Layout>,
) -> Result<(Vec<PreparedInput>, Adaptation), BackendError> {
    let wanted = match session.inputs() {
        [single] => single.clone(),
        several => {
            return Err(BackendError::Input {
                engine: engine.to_string(),
                reason: format!(
                    "the model has {} inputs; scenarios describe models with exactly one",
                    several.len()
                ),
            })
        }
    };
    let mut adaptation = Adaptation::None;
    let mut prepared = Vec::new();
    for logical in inputs {
        let (tensor, how) = adapt_input(engine, logical, layout, &wanted)?;
        adaptation = how;
        prepared.push(session.prepare(vec![tensor])?);
    }
    Ok((prepared, adaptation))
}

fn collect_outputs(
    session: &mut dyn Session,
    prepared: &[PreparedInput],
) -> Result<Vec<Vec<Tensor>>, BackendError> {
    prepared
        .iter()
        .map(|&input| {
            session.run(input)?;
            session.last_outputs()
        })
        .collect()
}

/// The number of OS threads of this process, where the system reports it.
fn process_threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}
