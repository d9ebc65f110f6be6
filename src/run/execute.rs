//! Carries out one measurement plan, in the process that measures (a worker, or the harness itself with
//! `--in-process`): load, prepare inputs, time, collect outputs, analyse. The record it returns is complete
//! but for what only the driving harness knows (see `run::complete` and `isolation`).

use crate::analysis;
use crate::inputs::{InputDescription, ModelInputs};
use crate::measure::{time_runs, time_session, Clock, CpuTimes, ProcessStatus, Rotation, Timings};
use crate::plan::{MeasurementPlan, Timing};
use crate::record::{MeasurementRecord, Status};
use harness_backend_api::{
    adapt_input, Adaptation, Backend, BackendError, LoadOptions, PreparedInput, Session, Tensor,
    TensorInfo,
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
    // The engine's runtime library loads outside the timer: `load_ms` is the model's, the same in a fresh worker
    // as in a process that loaded the library for an earlier measurement. A library that cannot load fails the
    // load below, with its reason.
    let _ = backend.load_runtime();
    let before = clock.now();
    let mut session = match backend.load(&plan.model_path, plan.format, &load_options(plan, false))
    {
        Ok(session) => session,
        Err(e) => return failed(load_status(&e), e),
    };
    let load = clock.now().saturating_sub(before);
    let conversion = session.conversion_time();
    let rss_after_load_kb = ProcessStatus::read().and_then(|s| s.resident_kb());

    let (order, prepared, adaptation) =
        match prepare_all(session.as_mut(), backend.name(), &inputs.sets, plan) {
            Ok(prepared) => prepared,
            Err(e) => return failed(Status::LoadFailed, e),
        };
    let rotation = plan.pin.map_or(Rotation::Cycle, Rotation::Pinned);
    let cpu_before = CpuTimes::read();
    let timed = match plan.timing {
        Timing::Inference => {
            time_session(session.as_mut(), &prepared, rotation, &plan.rules, clock)
        }
        Timing::EndToEnd => time_end_to_end(
            plan,
            backend.name(),
            session.as_mut(),
            (inputs, &order),
            rotation,
            clock,
        ),
    };
    let timings = match timed {
        Ok(timings) => timings,
        Err(e) => return failed(Status::RunFailed, e),
    };
    let cpu_shares = cpu_before
        .zip(CpuTimes::read())
        .and_then(|(before, after)| before.shares_until(&after));
    let after_runs = ProcessStatus::read();
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
        stopped_by: Some(timings.stopped_by),
        summary,
        validity,
        samples_ns: timings.samples_ns,
        outputs,
        output_names: session.outputs().iter().map(|o| o.name.clone()).collect(),
        observed_threads: after_runs.as_ref().and_then(ProcessStatus::threads),
        rss_after_load_kb,
        rss_after_runs_kb: after_runs.as_ref().and_then(ProcessStatus::resident_kb),
        cpu_shares,
        ..MeasurementRecord::empty(plan, device, &version())
    }
}

/// What `plan`'s session is loaded with; `profile` for a profiled pass.
pub(super) fn load_options(plan: &MeasurementPlan, profile: bool) -> LoadOptions {
    LoadOptions {
        threads: plan.threads,
        engine: plan.options.clone(),
        inputs: plan
            .inputs
            .iter()
            .map(InputDescription::bound_shape)
            .collect(),
        profile,
    }
}

/// What a failed load makes of a row: unsupported when the engine cannot do what was asked.
pub(super) fn load_status(error: &BackendError) -> Status {
    match error {
        BackendError::Unsupported { .. } | BackendError::Option { .. } => Status::Unsupported,
        _ => Status::LoadFailed,
    }
}

/// Matches the model's input sets to the session's inputs and prepares every set: the order of the
/// described inputs per session input, the prepared sets, and how their layout was adapted.
pub(super) fn prepare_all(
    session: &mut dyn Session,
    engine: &str,
    sets: &[Vec<Tensor>],
    plan: &MeasurementPlan,
) -> Result<(Vec<usize>, Vec<PreparedInput>, Adaptation), BackendError> {
    let order = match_inputs(engine, session.inputs(), &plan.inputs)?;
    let (prepared, adaptation) = prepare_inputs(session, engine, sets, plan, &order)?;
    Ok((order, prepared, adaptation))
}

/// Times each run from the image file on: decode, preprocess, fit the layout, hand over, run. A spare
/// prepared slot is refilled each time, so that the prepared inputs stay intact for the outputs. Inputs
/// beside the image one are handed over again from their prepared values.
fn time_end_to_end(
    plan: &MeasurementPlan,
    engine: &str,
    session: &mut dyn Session,
    (inputs, order): (&ModelInputs, &[usize]),
    rotation: Rotation,
    clock: &dyn Clock,
) -> Result<Timings, BackendError> {
    let recipe = inputs
        .images
        .as_ref()
        .ok_or_else(|| BackendError::input(engine, "end-to-end timing needs image inputs"))?;
    let wanted = session.inputs().to_vec();
    let set = |index: usize, image: Option<Tensor>| -> Result<Vec<Tensor>, BackendError> {
        let mut image = image;
        order
            .iter()
            .zip(&wanted)
            .map(|(&described, wanted)| {
                let logical = match image.take_if(|_| described == recipe.input) {
                    Some(image) => image,
                    None => inputs.sets[index][described].clone(),
                };
                let layout = plan.inputs[described].layout;
                adapt_input(engine, &logical, layout, wanted).map(|(tensor, _)| tensor)
            })
            .collect()
    };
    let slot = session.prepare(set(0, None)?)?;
    let mut run = |index: usize| {
        let image = recipe
            .make(index, &plan.inputs[recipe.input])
            .map_err(|e| BackendError::input(engine, format!("{e:#}")))?;
        session.refill(slot, set(index, Some(image))?)?;
        session.run(slot)
    };
    time_runs(&mut run, recipe.files.len(), rotation, &plan.rules, clock)
}

/// For each of the engine's inputs, in its order, which of the scenario's described inputs feeds it: by
/// name, or the single unnamed description for a model with one input. An input the model lacks, or one the
/// scenario does not describe, is named.
fn match_inputs(
    engine: &str,
    wanted: &[TensorInfo],
    described: &[InputDescription],
) -> Result<Vec<usize>, BackendError> {
    let names = || {
        wanted
            .iter()
            .map(|w| format!("`{}`", w.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let [single] = described {
        if single.name.is_none() {
            return match wanted.len() {
                1 => Ok(vec![0]),
                n => Err(BackendError::input(
                    engine,
                    format!(
                        "the model has {n} inputs ({}); describe each in a `[models.inputs.NAME]` table",
                        names()
                    ),
                )),
            };
        }
    }
    if let Some(extra) = described
        .iter()
        .filter_map(|d| d.name.as_deref())
        .find(|name| !wanted.iter().any(|w| w.name == *name))
    {
        return Err(BackendError::input(
            engine,
            format!(
                "the scenario describes input `{extra}`, which the model does not have (its inputs: {})",
                names()
            ),
        ));
    }
    wanted
        .iter()
        .map(|w| {
            described
                .iter()
                .position(|d| d.name.as_deref() == Some(w.name.as_str()))
                .ok_or_else(|| {
                    BackendError::input(
                        engine,
                        format!(
                            "model input `{}` ({w}) is not described: add a `[models.inputs.{}]` table",
                            w.name, w.name
                        ),
                    )
                })
        })
        .collect()
}

/// Fits each set's logical inputs to the model's order and layout and hands them to the engine, outside any
/// timing. The adaptation reported is the one any input needed (image inputs are the ones that need one).
fn prepare_inputs(
    session: &mut dyn Session,
    engine: &str,
    sets: &[Vec<Tensor>],
    plan: &MeasurementPlan,
    order: &[usize],
) -> Result<(Vec<PreparedInput>, Adaptation), BackendError> {
    let wanted = session.inputs().to_vec();
    let mut adaptation = Adaptation::None;
    let mut prepared = Vec::new();
    for set in sets {
        let mut tensors = Vec::with_capacity(order.len());
        for (&described, wanted) in order.iter().zip(&wanted) {
            let (tensor, how) = adapt_input(
                engine,
                &set[described],
                plan.inputs[described].layout,
                wanted,
            )?;
            if how != Adaptation::None {
                adaptation = how;
            }
            tensors.push(tensor);
        }
        prepared.push(session.prepare(tensors)?);
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
#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::ElementType;

    fn wanted(names: &[&str]) -> Vec<TensorInfo> {
        names
            .iter()
            .map(|name| TensorInfo {
                name: name.to_string(),
                shape: vec![Some(1)],
                element_type: ElementType::I64,
            })
            .collect()
    }

    fn described(names: &[Option<&str>]) -> Vec<InputDescription> {
        names
            .iter()
            .map(|name| InputDescription {
                name: name.map(str::to_string),
                shape: vec![1],
                ..InputDescription::default()
            })
            .collect()
    }

    #[test]
    fn inputs_are_matched_by_name_in_the_engines_order() {
        let order = match_inputs(
            "e",
            &wanted(&["input_ids", "attention_mask"]),
            &described(&[Some("attention_mask"), Some("input_ids")]),
        )
        .unwrap();
        assert_eq!(order, [1, 0]);
        let single = match_inputs("e", &wanted(&["x"]), &described(&[None])).unwrap();
        assert_eq!(single, [0]);
    }

    #[test]
    fn a_missing_an_unknown_or_an_unnamed_input_is_named() {
        let two = wanted(&["input_ids", "attention_mask"]);
        let err = match_inputs("e", &two, &described(&[Some("input_ids")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("model input `attention_mask` (attention_mask i64 [1]) is not described"),
            "{err}"
        );
        let extra = described(&[
            Some("input_ids"),
            Some("attention_mask"),
            Some("token_type_ids"),
        ]);
        let err = match_inputs("e", &two, &extra).unwrap_err();
        assert!(
            err.to_string().contains(
                "describes input `token_type_ids`, which the model does not have (its inputs: \
                 `input_ids`, `attention_mask`)"
            ),
            "{err}"
        );
        let err = match_inputs("e", &two, &described(&[None])).unwrap_err();
        assert!(err.to_string().contains("the model has 2 inputs"), "{err}");
    }
}
