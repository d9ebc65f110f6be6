//! Everything a run makes once per model before measuring: the prepared inputs every backend shares, the
//! class names, and the multiply-accumulates of each model file.

use super::progress::Progress;
use crate::inputs::ModelInputs;
use crate::model_info::ModelInfo;
use crate::scenario::{Model, Scenario};
use anyhow::{bail, Context, Result};
use harness_backend_api::ModelFormat;
use std::path::Path;

/// A model's inputs, made once and shared by every backend, and its class names.
pub struct PreparedModel {
    pub inputs: ModelInputs,
    pub labels: Option<Vec<String>>,
}

/// Decodes and preprocesses every model's inputs and reads its labels: the part of a run that can fail on
/// bad input files, done before anything is measured (and by `harness check`).
pub fn prepare_models(scenario: &Scenario) -> Result<Vec<PreparedModel>> {
    scenario
        .models
        .iter()
        .map(|model| {
            let inputs = scenario
                .inputs
                .prepare(&model.inputs, model.preprocess.as_ref())
                .with_context(|| format!("{}: model `{}`", scenario.path.display(), model.name))?;
            let labels = match &model.labels {
                Some(path) => {
                    let labels: Vec<String> = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the labels file {}", path.display()))?
                        .lines()
                        .map(|l| l.trim().to_string())
                        .collect();
                    check_label_count(model, path, labels.len())?;
                    Some(labels)
                }
                None => None,
            };
            Ok(PreparedModel { inputs, labels })
        })
        .collect()
}

/// A labels file names each class of a classifier's first output, one line per class in class order: a file
/// with another number of lines would label every prediction wrongly, or leave them blank.
fn check_label_count(model: &Model, labels: &Path, count: usize) -> Result<()> {
    for (&format, file) in &model.files {
        // A file whose outputs cannot be read here is left to the engines, which say why.
        let Ok(outputs) = crate::model_info::declared_outputs(file, format) else {
            continue;
        };
        let Some(output) = outputs.first() else {
            continue;
        };
        if let Some(Some(classes)) = output.shape.last() {
            if *classes != count {
                bail!(
                    "model `{}`: the labels file {} has {count} lines, but the output `{}` of {} has {classes} \
                     classes; it needs one line per class, in class order",
                    model.name,
                    labels.display(),
                    output.name,
                    file.display()
                );
            }
        }
    }
    Ok(())
}

/// Multiply-accumulates of one inference, per model file, for the GMAC/s column.
pub struct MacCounts(Vec<((String, ModelFormat), Option<u64>)>);

impl MacCounts {
    /// Counts once per model file; a file tract cannot analyse is noted and left blank.
    pub fn count(scenario: &Scenario, progress: &mut Progress) -> Result<MacCounts> {
        let mut counts = Vec::new();
        for model in &scenario.models {
            for (&format, path) in &model.files {
                let count = match ModelInfo::read(path, format) {
                    Ok(info) => Some(info.macs),
                    Err(e) => {
                        progress.note(&format!(
                            "{}: MACs not counted for the {format} file: {e:#}",
                            model.name
                        ))?;
                        None
                    }
                };
                counts.push(((model.name.clone(), format), count));
            }
        }
        Ok(MacCounts(counts))
    }

    pub fn of(&self, model: &str, format: ModelFormat) -> Option<u64> {
        self.0
            .iter()
            .find(|((m, f), _)| m == model && *f == format)
            .and_then(|(_, count)| *count)
    }
}
