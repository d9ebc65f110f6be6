//! Every file a scenario names, and where it names it: one list that a target's job copies (`remote::stage`),
//! the fingerprint hashes and `check` reads, so that no file is known to one of them and not the others.

use super::Scenario;
use harness_backend_api::ModelFormat;
use std::path::Path;

/// A file or folder the scenario names (resolved against the scenario's folder).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScenarioFile<'a> {
    /// `models[model].onnx` or `.tflite`.
    Model {
        model: usize,
        format: ModelFormat,
        path: &'a Path,
    },
    /// `models[model].labels`.
    Labels { model: usize, path: &'a Path },
    /// `npy` of `[models.input]` (`input` none) or of `[models.inputs.NAME]`: a file, or a folder of them.
    Npy {
        model: usize,
        input: Option<&'a str>,
        path: &'a Path,
    },
    /// `inputs.images`: a folder.
    Images { path: &'a Path },
}

impl<'a> ScenarioFile<'a> {
    pub fn path(&self) -> &'a Path {
        match self {
            ScenarioFile::Model { path, .. }
            | ScenarioFile::Labels { path, .. }
            | ScenarioFile::Npy { path, .. }
            | ScenarioFile::Images { path } => path,
        }
    }

    /// The scenario's field that names it, as errors write fields.
    pub fn field(&self) -> String {
        match self {
            ScenarioFile::Model { model, format, .. } => format!("models[{model}].{format}"),
            ScenarioFile::Labels { model, .. } => format!("models[{model}].labels"),
            ScenarioFile::Npy {
                model, input: None, ..
            } => format!("models[{model}].input.npy"),
            ScenarioFile::Npy {
                model,
                input: Some(name),
                ..
            } => format!("models[{model}].inputs.{name}.npy"),
            ScenarioFile::Images { .. } => "inputs.images".into(),
        }
    }
}

impl Scenario {
    /// Every file and folder the scenario names, models first, in the file's order.
    pub fn files(&self) -> Vec<ScenarioFile<'_>> {
        let mut files = Vec::new();
        for (model, described) in self.models.iter().enumerate() {
            for (&format, path) in &described.files {
                files.push(ScenarioFile::Model {
                    model,
                    format,
                    path,
                });
            }
            if let Some(path) = &described.labels {
                files.push(ScenarioFile::Labels { model, path });
            }
            for input in &described.inputs {
                if let Some(path) = &input.npy {
                    files.push(ScenarioFile::Npy {
                        model,
                        input: input.name.as_deref(),
                        path,
                    });
                }
            }
        }
        if let Some(path) = &self.inputs.images {
            files.push(ScenarioFile::Images { path });
        }
        files
    }

    /// `harness check`'s first look: every file and folder the scenario names is there to read, else an error
    /// naming the scenario, the field and the path.
    pub fn check_files_exist(&self) -> anyhow::Result<()> {
        for file in self.files() {
            if let Err(e) = std::fs::metadata(file.path()) {
                anyhow::bail!(
                    "{}: field `{}`: cannot read {}: {e}",
                    self.path.display(),
                    file.field(),
                    file.path().display()
                );
            }
        }
        Ok(())
    }
}

/// The bytes of each file an input's `npy` names (`inputs::data_files`); what cannot be read counts as empty:
/// the run says why when it reads it.
pub(super) fn contents(path: &Path) -> Vec<Vec<u8>> {
    crate::inputs::data_files(path)
        .unwrap_or_default()
        .iter()
        .map(|file| std::fs::read(file).unwrap_or_default())
        .collect()
}
