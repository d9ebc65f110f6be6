//! Carries out one measurement plan: load, prepare inputs, time, collect outputs, analyse.

use crate::analysis;
use crate::measure::{time_session, Clock, Rotation};
use crate::plan::MeasurementPlan;
use crate::record::{MeasurementRecord, Status};
use harness_backend_api::{
    adapt_input, Adaptation, Backend, BackendError, LoadOptions, PreparedInput, Session,
};

/// Runs `plan` on `backend`. Failures become records with a status and the engine's message.
pub fn execute(
    plan: &MeasurementPlan,
    backend: &dyn Backend,
    device: &str,
    clock: &dyn Clock,
) -> MeasurementRecord {
    let version = backend.info().engine_version;
    let failed = |status, error: BackendError| {
        MeasurementRecord::failed(plan, device, &version, status, error.to_string())
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

    let (prepared, adaptation) = match prepare_inputs(plan, backend.name(), session.as_mut()) {
        Ok(prepared) => prepared,
        Err(e) => return failed(Status::LoadFailed, e),
    };
    let rotation = plan.inputs.pin.map_or(Rotation::Cycle, Rotation::Pinned);
    let timings = match time_session(session.as_mut(), &prepared, rotation, &plan.rules, clock) {
        Ok(timings) => timings,
        Err(e) => return failed(Status::RunFailed, e),
    };
    let outputs = match collect_outputs(session.as_mut(), &prepared) {
        Ok(outputs) => outputs,
        Err(e) => return failed(Status::RunFailed, e),
    };
    let summary = analysis::summarize(&timings.samples_ns);
    let validity = summary
        .as_ref()
        .map(|s| analysis::assess(s, &timings, &plan.rules));
    MeasurementRecord {
        plan: plan.clone(),
        device: device.to_string(),
        engine_version: version,
        status: Status::Ok,
        error: None,
        settings: session.settings(),
        adaptation,
        load_ms: Some(load.as_secs_f64() * 1e3),
        first_run_ms: Some(timings.first_run.as_secs_f64() * 1e3),
        warmup_runs: timings.warmup_runs,
        summary,
        validity,
        samples_ns: timings.samples_ns,
        outputs,
    }
}

/// Generates the logical inputs, fits them to the model's layout and hands them to the engine.
fn prepare_inputs(
    plan: &MeasurementPlan,
    engine: &str,
    session: &mut dyn Session,
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
    for logical in plan.inputs.generate(&plan.input) {
        let (tensor, how) = adapt_input(engine, &logical, plan.input.layout, &wanted)?;
        adaptation = how;
        prepared.push(session.prepare(vec![tensor])?);
    }
    Ok((prepared, adaptation))
}

fn collect_outputs(
    session: &mut dyn Session,
    prepared: &[PreparedInput],
) -> Result<Vec<Vec<harness_backend_api::Tensor>>, BackendError> {
    prepared
        .iter()
        .map(|&input| {
            session.run(input)?;
            session.last_outputs()
        })
        .collect()
}
