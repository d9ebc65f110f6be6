//! A job for a target: the scenario, rewritten to name copies of its files inside the job folder, and those
//! copies (model files, labels, the image folder). The target needs nothing else from this machine.

use crate::scenario::Scenario;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes the job for `scenario` into `dir`: `scenario.toml`, `models/`, `inputs/`; results go to `results/`.
pub fn stage(scenario: &Scenario, dir: &Path) -> Result<()> {
    let base = scenario.path.parent().unwrap_or(Path::new("."));
    let mut document: toml::Table = toml::from_str(&scenario.source)
        .with_context(|| format!("cannot re-read {}", scenario.path.display()))?;
    let copy = |value: &mut toml::Value, into: &str, prefix: &str| -> Result<()> {
        let Some(text) = value.as_str() else {
            return Ok(());
        };
        let source = base.join(text);
        let name = format!(
            "{prefix}{}",
            source
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        let destination = PathBuf::from(into).join(&name);
        if source.is_dir() {
            super::copy_tree(&source, &dir.join(&destination))?;
        } else {
            std::fs::create_dir_all(dir.join(into))?;
            std::fs::copy(&source, dir.join(&destination))
                .with_context(|| format!("cannot copy {} into the job", source.display()))?;
        }
        *value = toml::Value::String(destination.to_string_lossy().into_owned());
        Ok(())
    };
    if let Some(models) = document.get_mut("models").and_then(|m| m.as_array_mut()) {
        for (index, model) in models.iter_mut().enumerate() {
            let Some(model) = model.as_table_mut() else {
                continue;
            };
            // Two models may have files of the same name: each gets its own prefix.
            for key in ["onnx", "tflite", "labels"] {
                if let Some(value) = model.get_mut(key) {
                    copy(value, "models", &format!("{index}-"))?;
                }
            }
        }
    }
    if let Some(images) = document
        .get_mut("inputs")
        .and_then(|i| i.as_table_mut())
        .and_then(|i| i.get_mut("images"))
    {
        copy(images, "inputs", "")?;
    }
    document.insert("output".into(), toml::Value::String("results".into()));
    // Targets are this side's business; the harness there runs where it is.
    document.remove("targets");
    std::fs::write(dir.join("scenario.toml"), toml::to_string(&document)?)
        .context("cannot write the job's scenario")?;
    Ok(())
}
