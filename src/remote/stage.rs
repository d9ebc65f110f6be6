//! A job for a target: the scenario, rewritten to name copies of its files inside the job folder, and those
//! copies (every file `Scenario::files` lists: models, labels, npy data, the image folder). The target needs
//! nothing else from this machine, and reads nothing of its own in their place.

use crate::scenario::{Scenario, ScenarioFile};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes the job for `scenario` into `dir`: `scenario.toml`, `models/`, `inputs/`; results go to `results/`.
pub fn stage(scenario: &Scenario, dir: &Path) -> Result<()> {
    let mut document: toml::Table = toml::from_str(&scenario.source)
        .with_context(|| format!("cannot re-read {}", scenario.path.display()))?;
    for file in scenario.files() {
        let source = file.path();
        let destination = job_path(&file);
        if source.is_dir() {
            super::copy_tree(source, &dir.join(&destination))?;
        } else {
            std::fs::create_dir_all(dir.join(destination.parent().expect("a folder and a name")))?;
            std::fs::copy(source, dir.join(&destination))
                .with_context(|| format!("cannot copy {} into the job", source.display()))?;
        }
        let value = named_at(&mut document, &file).with_context(|| {
            format!(
                "{}: cannot find `{}` again",
                scenario.path.display(),
                file.field()
            )
        })?;
        *value = toml::Value::String(destination.to_string_lossy().into_owned());
    }
    document.insert("output".into(), toml::Value::String("results".into()));
    // Targets are this side's business; the harness there runs where it is.
    document.remove("targets");
    std::fs::write(dir.join("scenario.toml"), toml::to_string(&document)?)
        .context("cannot write the job's scenario")?;
    Ok(())
}

/// Where the job keeps its copy of `file`. Two models, or two inputs, may have files of the same name: each
/// gets a prefix of its own.
fn job_path(file: &ScenarioFile) -> PathBuf {
    let name = file
        .path()
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match file {
        ScenarioFile::Model { model, .. } | ScenarioFile::Labels { model, .. } => {
            PathBuf::from("models").join(format!("{model}-{name}"))
        }
        ScenarioFile::Npy { model, input, .. } => {
            PathBuf::from("inputs").join(format!("{model}-{}-{name}", input.unwrap_or("input")))
        }
        ScenarioFile::Images { .. } => PathBuf::from("inputs").join(name),
    }
}

/// The value in the scenario's document that names `file`.
fn named_at<'d>(document: &'d mut toml::Table, file: &ScenarioFile) -> Option<&'d mut toml::Value> {
    let model = |document: &'d mut toml::Table, index: usize| {
        document
            .get_mut("models")?
            .as_array_mut()?
            .get_mut(index)?
            .as_table_mut()
    };
    match *file {
        ScenarioFile::Model {
            model: i, format, ..
        } => model(document, i)?.get_mut(format.as_str()),
        ScenarioFile::Labels { model: i, .. } => model(document, i)?.get_mut("labels"),
        ScenarioFile::Npy {
            model: i, input, ..
        } => {
            let table = model(document, i)?;
            let input = match input {
                Some(name) => table.get_mut("inputs")?.get_mut(name)?,
                None => table.get_mut("input")?,
            };
            input.get_mut("npy")
        }
        ScenarioFile::Images { .. } => document.get_mut("inputs")?.get_mut("images"),
    }
}
