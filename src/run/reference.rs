//! The parity reference: for each model, the first candidate engine that runs (see
//! `plan::reference_candidates`) runs every input once, isolated like the measurements, before any of them;
//! every row of the model is checked against its outputs. A study's variants are checked against their
//! baseline's outputs, with no pass of their own.

use super::isolation::{measure, Isolation};
use super::prepare::PreparedModel;
use super::progress::Progress;
use crate::analysis::parity::ReferenceOutputs;
use crate::key::SeriesKey;
use crate::plan::{self, MeasurementPlan, ReferencePlan};
use crate::scenario::{Model, Scenario};
use anyhow::Result;
use harness_backend_api::Backend;

/// Each model's reference outputs, and which candidate gave them.
pub struct References {
    /// In the scenario's model order.
    outputs: Vec<ReferenceOutputs>,
    /// The series the reference pass measured, per model (none for variants, or when no candidate ran).
    series: Vec<Option<SeriesKey>>,
}

impl References {
    /// Runs the reference pass of every model that is not a variant.
    pub fn run(
        scenario: &Scenario,
        prepared: &[PreparedModel],
        backends: &[Box<dyn Backend>],
        (device, isolation): (&str, &Isolation),
        progress: &mut Progress,
    ) -> Result<References> {
        let mut own: Vec<(String, ReferenceOutputs, Option<SeriesKey>)> = Vec::new();
        for (model, prepared) in scenario.models.iter().zip(prepared) {
            if model.baseline.is_some() {
                continue;
            }
            let candidates = plan::reference_candidates(scenario, model);
            let context = Pass {
                scenario,
                model,
                prepared,
                backends,
                device,
                isolation,
            };
            let (outputs, used) = context.run(&candidates, progress)?;
            let series = used.map(|r| r.measurement(model, &scenario.measure).series(device));
            own.push((model.name.clone(), outputs, series));
        }
        let of = |name: &str| {
            own.iter()
                .find(|(model, _, _)| model == name)
                .expect("the scenario checks that baselines exist")
        };
        let (outputs, series) = scenario
            .models
            .iter()
            .map(|model| match &model.baseline {
                None => {
                    let (_, outputs, series) = of(&model.name);
                    (outputs.clone(), series.clone())
                }
                Some(baseline) => {
                    let (_, outputs, _) = of(baseline);
                    let outputs = ReferenceOutputs {
                        label: format!("{baseline} · {}", outputs.label),
                        outputs: outputs.outputs.clone(),
                        names: outputs.names.clone(),
                    };
                    (outputs, None)
                }
            })
            .unzip();
        Ok(References { outputs, series })
    }

    /// The outputs the model at `index` is checked against.
    pub fn outputs(&self, index: usize) -> &ReferenceOutputs {
        &self.outputs[index]
    }

    /// Whether `plan` measures the reference's own series (every round of it), on `device`.
    pub fn is_reference(&self, index: usize, plan: &MeasurementPlan, device: &str) -> bool {
        self.series[index]
            .as_ref()
            .is_some_and(|series| *series == plan.series(device))
    }
}

/// The reference pass of one model.
struct Pass<'a> {
    scenario: &'a Scenario,
    model: &'a Model,
    prepared: &'a PreparedModel,
    backends: &'a [Box<dyn Backend>],
    device: &'a str,
    isolation: &'a Isolation,
}

impl Pass<'_> {
    /// Tries the candidates in order; returns the first one's outputs, or why none could run.
    fn run(
        &self,
        candidates: &[ReferencePlan],
        progress: &mut Progress,
    ) -> Result<(ReferenceOutputs, Option<ReferencePlan>)> {
        let name = &self.model.name;
        let mut failures = Vec::new();
        for reference in candidates {
            let label = reference.label();
            let plan = reference.measurement(self.model, &self.scenario.measure);
            let backend = crate::backends::find(self.backends, &reference.engine);
            let record = measure(
                &plan,
                backend,
                &self.prepared.inputs,
                self.device,
                self.isolation,
            );
            if let Some(error) = record.error {
                progress.note(&format!(
                    "{name}: the reference candidate {label} could not run: {error}"
                ))?;
                failures.push(format!("{label}: {error}"));
                continue;
            }
            // The reference pass may be the first load of the model by its engine, and so the one that
            // converts it; the rows then find the conversion cached, so it is reported here.
            let conversion = record
                .conversion_ms
                .map(|ms| format!(" (the model was converted for it in {ms:.0} ms)"))
                .unwrap_or_default();
            progress.note(&format!(
                "{name}: reference outputs from {label}{conversion}"
            ))?;
            let outputs = ReferenceOutputs {
                label,
                outputs: Ok(record.outputs),
                names: record.output_names,
            };
            return Ok((outputs, Some(reference.clone())));
        }
        let why = if failures.is_empty() {
            "no backend runs this model".to_string()
        } else {
            failures.join("; ")
        };
        progress.note(&format!(
            "{name}: no reference could run, parity is unchecked"
        ))?;
        let label = candidates
            .first()
            .map_or_else(|| "none".to_string(), ReferencePlan::label);
        Ok((
            ReferenceOutputs {
                label,
                outputs: Err(why),
                names: Vec::new(),
            },
            None,
        ))
    }
}
