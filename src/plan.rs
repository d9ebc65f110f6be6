//! A scenario expanded into self-contained measurements: one per model × backend × format × threads.
//! A plan carries everything needed to run it, so that it could be handed to another process.

use crate::inputs::InputDescription;
use crate::measure::MeasureRules;
use crate::scenario::{Model, Scenario};
use harness_backend_api::{EngineOptions, ModelFormat};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a timed run covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// The engine's run call on an input already in the engine's form.
    Inference,
    /// Decoding the image file, preprocessing, layout conversion, handing it to the engine, and the run.
    EndToEnd,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Inference => "inference",
            Timing::EndToEnd => "end_to_end",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasurementPlan {
    pub model: String,
    pub model_path: PathBuf,
    pub format: ModelFormat,
    pub backend: String,
    pub threads: usize,
    pub timing: Timing,
    pub options: EngineOptions,
    pub input: InputDescription,
    /// Always feed this input instead of cycling through all of them.
    pub pin: Option<usize>,
    pub rules: MeasureRules,
}

/// Orders measurements model by model, then thread count, then backend, so that engines compared with
/// each other are measured close together in time.
pub fn expand(scenario: &Scenario) -> Vec<MeasurementPlan> {
    let mut plans = Vec::new();
    for model in &scenario.models {
        for &threads in &scenario.threads {
            for backend in &scenario.backends {
                for format in &backend.formats {
                    let Some(path) = model.files.get(format) else {
                        continue;
                    };
                    let timings: &[Timing] = if scenario.measure.end_to_end {
                        &[Timing::Inference, Timing::EndToEnd]
                    } else {
                        &[Timing::Inference]
                    };
                    for &timing in timings {
                        plans.push(MeasurementPlan {
                            model: model.name.clone(),
                            model_path: path.clone(),
                            format: *format,
                            backend: backend.name.clone(),
                            threads,
                            timing,
                            options: backend.options.clone(),
                            input: model.input.clone(),
                            pin: scenario.inputs.pin,
                            rules: scenario.measure.clone(),
                        });
                    }
                }
            }
        }
    }
    plans
}

/// The engine whose outputs every other engine's are compared with, for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferencePlan {
    pub backend: String,
    pub format: ModelFormat,
    pub threads: usize,
    pub options: EngineOptions,
    pub model_path: PathBuf,
}

impl ReferencePlan {
    pub fn label(&self) -> String {
        format!(
            "{} {} {} thread{}",
            self.backend,
            self.format,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }

    /// The reference pass as a measurement of its own: one untimed-in-spirit run per input, no warm-up.
    pub fn measurement(&self, model: &Model, rules: &MeasureRules) -> MeasurementPlan {
        MeasurementPlan {
            model: model.name.clone(),
            model_path: self.model_path.clone(),
            format: self.format,
            backend: self.backend.clone(),
            threads: self.threads,
            timing: Timing::Inference,
            options: self.options.clone(),
            input: model.input.clone(),
            pin: None,
            rules: MeasureRules {
                warmup_runs: 0,
                warmup_seconds: 0.0,
                min_runs: 1,
                min_seconds: 0.0,
                ..rules.clone()
            },
        }
    }

    pub fn is(&self, plan: &MeasurementPlan) -> bool {
        plan.backend == self.backend
            && plan.format == self.format
            && plan.threads == self.threads
            && plan.timing == Timing::Inference
    }
}

/// The scenario's reference choice when the model has that file; otherwise ONNX Runtime on the ONNX file,
/// else the first backend that runs the ONNX file, else the first measurement of the model. The reference
/// runs at the lowest thread count of the sweep.
pub fn reference(scenario: &Scenario, model: &Model) -> Option<ReferencePlan> {
    let runs = |backend: &str, format: ModelFormat| {
        model.files.contains_key(&format)
            && scenario
                .backends
                .iter()
                .any(|b| b.name == backend && b.formats.contains(&format))
    };
    let explicit = scenario
        .parity
        .reference
        .as_ref()
        .filter(|r| model.files.contains_key(&r.format))
        .map(|r| (r.backend.clone(), r.format));
    let onnx_runtime =
        runs("ort", ModelFormat::Onnx).then(|| ("ort".to_string(), ModelFormat::Onnx));
    let first_onnx = scenario
        .backends
        .iter()
        .find(|b| runs(&b.name, ModelFormat::Onnx))
        .map(|b| (b.name.clone(), ModelFormat::Onnx));
    let first_any = scenario.backends.iter().find_map(|b| {
        b.formats
            .iter()
            .find(|f| model.files.contains_key(f))
            .map(|f| (b.name.clone(), *f))
    });
    let (backend, format) = explicit.or(onnx_runtime).or(first_onnx).or(first_any)?;
    let options = scenario
        .backends
        .iter()
        .find(|b| b.name == backend)
        .map(|b| b.options.clone())
        .unwrap_or_default();
    Some(ReferencePlan {
        model_path: model.files[&format].clone(),
        threads: scenario.threads.iter().copied().min().unwrap_or(1),
        backend,
        format,
        options,
    })
}
