//! `harness inspect`: what a model file is (parameters, multiply-accumulates, operators), the inputs it
//! declares and how a scenario binds their free dimensions, and how each compiled-in engine that reads it
//! sees its inputs and outputs. One value, printed as text or as JSON.

use crate::model_info::{declared_inputs, DeclaredInput, ModelInfo};
use crate::scenario::from_models::model_format;
use anyhow::{bail, Context, Result};
use harness_backend_api::{Backend, LoadOptions, ModelFormat, TensorInfo};
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
pub struct Inspection {
    pub path: PathBuf,
    pub format: ModelFormat,
    /// Parameters, multiply-accumulates and operators, or why the file could not be analysed.
    pub analysis: Result<ModelInfo, String>,
    pub inputs: Vec<DeclaredInput>,
    pub engines: Vec<EngineView>,
}

/// One engine's view of the model: its inputs and outputs, or why it could not load it.
#[derive(Serialize)]
pub struct EngineView {
    pub engine: String,
    pub view: Result<(Vec<TensorInfo>, Vec<TensorInfo>), String>,
}

impl Inspection {
    /// Reads `path` and loads it with every backend in `backends` that reads its format, at 1 thread.
    pub fn of(path: &Path, backends: &[Box<dyn Backend>]) -> Result<Inspection> {
        let Some(format) = model_format(path) else {
            bail!(
                "{}: unknown model format (expected .onnx or .tflite)",
                path.display()
            );
        };
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let options = LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        };
        let engines = backends
            .iter()
            .filter(|b| b.reads(format))
            .map(|backend| EngineView {
                engine: backend.name().to_string(),
                view: backend
                    .load(path, format, &options)
                    .map(|session| (session.inputs().to_vec(), session.outputs().to_vec()))
                    .map_err(|e| e.to_string()),
            })
            .collect();
        Ok(Inspection {
            path: path.to_path_buf(),
            format,
            analysis: ModelInfo::read(path, format).map_err(|e| format!("{e:#}")),
            inputs: declared_inputs(path, format).unwrap_or_default(),
            engines,
        })
    }

    /// Whether any engine could load the model.
    pub fn loaded_anywhere(&self) -> bool {
        self.engines.iter().any(|e| e.view.is_ok())
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let path = self.path.display();
        let format = self.format;
        let _ = match &self.analysis {
            Ok(info) => {
                let total: usize = info.ops.iter().map(|(_, n)| n).sum();
                let ops: Vec<String> = info.ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
                writeln!(
                    out,
                    "{path} ({format}):\n  parameters {:.2} M ({})\n  multiply-accumulates {:.1} M per \
                     inference ({})\n  operators ({total}): {}",
                    info.params as f64 / 1e6,
                    info.params,
                    info.macs as f64 / 1e6,
                    info.macs,
                    ops.join(", ")
                )
            }
            Err(e) => writeln!(out, "{path}: no analysis: {e}"),
        };
        if !self.inputs.is_empty() {
            out.push_str(
                "  inputs as the file declares them (a name or ? marks a free dimension):\n",
            );
        }
        for input in &self.inputs {
            let info = &input.info;
            let _ = writeln!(
                out,
                "    {} {} {}",
                info.name,
                info.element_type,
                input.shape_text()
            );
        }
        let free: Vec<&DeclaredInput> = self
            .inputs
            .iter()
            .filter(|i| i.info.shape.contains(&None))
            .collect();
        if !free.is_empty() {
            out.push_str(
                "  a scenario binds the free dimensions by its shapes, e.g. (each N a size):\n",
            );
        }
        for declared in free {
            let (input, dims) = (&declared.info, declared.dimensions_to_size());
            let _ = writeln!(
                out,
                "    [models.inputs.{}] shape = [{}]    or    harness run {path} --shape {}={}",
                input.name,
                dims.join(", "),
                input.name,
                dims.join("x")
            );
        }
        for engine in &self.engines {
            let _ = writeln!(out, "{} ({format}):", engine.engine);
            match &engine.view {
                Ok((inputs, outputs)) => {
                    for input in inputs {
                        let _ = writeln!(out, "  input  {input}");
                    }
                    for output in outputs {
                        let _ = writeln!(out, "  output {output}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "  {e}");
                }
            }
        }
        out
    }
}
