//! A scenario expanded into self-contained measurements: one per model × backend × format × threads.
//! A plan carries everything needed to run it, so that it could be handed to another process.

use crate::inputs::{InputDescription, InputSource};
use crate::measure::MeasureRules;
use crate::scenario::Scenario;
use harness_backend_api::{EngineOptions, ModelFormat};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasurementPlan {
    pub model: String,
    pub model_path: PathBuf,
    pub format: ModelFormat,
    pub backend: String,
    pub threads: usize,
    pub options: EngineOptions,
    pub input: InputDescription,
    pub inputs: InputSource,
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
                    plans.push(MeasurementPlan {
                        model: model.name.clone(),
                        model_path: path.clone(),
                        format: *format,
                        backend: backend.name.clone(),
                        threads,
                        options: backend.options.clone(),
                        input: model.input.clone(),
                        inputs: scenario.inputs.clone(),
                        rules: scenario.measure.clone(),
                    });
                }
            }
        }
    }
    plans
}
