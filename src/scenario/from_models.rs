//! A scenario written for model files alone: what `harness run MODEL.onnx` measures without a scenario file,
//! and what `harness init MODEL...` prints to start one. Every input the file declares gets seeded random
//! values of its type, free dimensions are bound by `--shape` (a free batch dimension alone is 1), and every
//! compiled-in engine that reads one of the files measures it at 1 thread and at every core.

use crate::inputs::DEFAULT_INTEGER_RANGE;
use crate::model_info::{declared_inputs, DeclaredInput};
use anyhow::{bail, Result};
use harness_backend_api::{
    declared_formats, BackendInfo, ElementKind, ElementType, ModelFormat, TensorInfo,
};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What the command line says about models given without a scenario.
#[derive(Clone, Debug, Default)]
pub struct ModelRequest {
    /// One network: an ONNX file, a TFLite file, or one of each.
    pub files: Vec<PathBuf>,
    /// `--shape name=1x3x640x640`: binds the free dimensions of that input.
    pub shapes: Vec<(String, Vec<usize>)>,
    /// `--input name=16000` (a constant) or `--input name=0..30522` (a range: floats uniform, integers in
    /// `[low, high)`).
    pub fills: Vec<(String, InputFill)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InputFill {
    Value(f64),
    Range(f64, f64),
}

/// Parses `--shape`'s `name=1x3x640x640`.
pub fn parse_shape(text: &str) -> Result<(String, Vec<usize>), String> {
    let (name, dims) = split_assignment(text, "--shape", "images=1x3x640x640")?;
    let shape = dims
        .split('x')
        .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            format!("--shape {text}: dimensions are positive whole numbers joined by `x`")
        })?;
    Ok((name, shape))
}

/// Parses `--input`'s `name=16000` or `name=0..30522`.
pub fn parse_fill(text: &str) -> Result<(String, InputFill), String> {
    let (name, value) = split_assignment(text, "--input", "sr=16000 or input_ids=0..30522")?;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("--input {text}: `{s}` is not a number"))
    };
    let fill = match value.split_once("..") {
        Some((low, high)) => {
            let (low, high) = (number(low)?, number(high)?);
            if low >= high {
                return Err(format!("--input {text}: the range must have low < high"));
            }
            InputFill::Range(low, high)
        }
        None => InputFill::Value(number(&value)?),
    };
    Ok((name, fill))
}

fn split_assignment(text: &str, option: &str, example: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("{option} {text}: write NAME=VALUE, e.g. {example}")),
    }
}

/// The scenario's TOML text, with comments that say what was chosen and why. `available` are the compiled-in
/// engines.
pub fn write(request: &ModelRequest, available: &[BackendInfo]) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let files = classify(&request.files)?;
    let (primary_format, primary) = &files[0];
    let declared = declared_inputs(primary, *primary_format)?;
    let unknown_shape = request.shapes.iter().map(|(n, _)| ("--shape", n));
    let unknown_fill = request.fills.iter().map(|(n, _)| ("--input", n));
    if let Some((option, name)) = unknown_shape
        .chain(unknown_fill)
        .find(|(_, name)| !declared.iter().any(|d| d.info.name == **name))
    {
        bail!(
            "{option} {name}: {} has no input `{name}` (its inputs: {})",
            primary.display(),
            names(&declared)
        );
    }
    let name = primary
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned());
    let mut text = String::new();
    let files_text: Vec<String> = files
        .iter()
        .map(|(_, path)| path.display().to_string())
        .collect();
    writeln!(
        text,
        "# A scenario written by harness from the model files alone:"
    )?;
    for file in &files_text {
        writeln!(text, "#   {file}")?;
    }
    writeln!(
        text,
        "# Edit it, then `harness run` it. docs/scenarios.md describes every field."
    )?;
    writeln!(text, "name = {}", quote(&name))?;
    let mut threads = vec![1, cores.max(1)];
    threads.dedup();
    writeln!(text, "# 1 thread, and every core of this machine.")?;
    writeln!(text, "threads = {threads:?}")?;
    writeln!(text, "output = \"results\"\n")?;
    writeln!(text, "[[models]]\nname = {}", quote(&name))?;
    for (format, path) in &files {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        writeln!(
            text,
            "{format} = {}",
            quote(&absolute.display().to_string())
        )?;
    }
    let mut unbound = Vec::new();
    for declared_input in &declared {
        let input = &declared_input.info;
        let given = request
            .shapes
            .iter()
            .find(|(n, _)| *n == input.name)
            .map(|(_, s)| s.clone());
        if let Some(shape) = given.as_ref().filter(|s| !input.accepts_shape(s)) {
            bail!(
                "--shape {}={}: {} declares input `{}` as {}, which that shape does not fit (--shape binds free \
                 dimensions only)",
                input.name,
                shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x"),
                primary.display(),
                input.name,
                declared_input.shape_text()
            );
        }
        let Some((shape, note)) = bind(input, given) else {
            unbound.push(declared_input);
            continue;
        };
        let header = if declared.len() == 1 {
            "[models.input]".to_string()
        } else {
            format!("[models.inputs.{}]", quote(&input.name))
        };
        writeln!(
            text,
            "\n# declared: {} {} {}{note}",
            input.name,
            input.element_type,
            declared_input.shape_text()
        )?;
        writeln!(text, "{header}\nshape = {shape:?}")?;
        writeln!(text, "element_type = \"{}\"", input.element_type)?;
        if let Some(layout) = image_layout(input.element_type, &shape) {
            writeln!(text, "layout = \"{layout}\"")?;
        }
        let fill = request
            .fills
            .iter()
            .find(|(n, _)| *n == input.name)
            .map(|(_, f)| *f);
        write_fill(&mut text, input.element_type, fill)?;
    }
    if !unbound.is_empty() {
        let described: Vec<String> = unbound
            .iter()
            .map(|i| format!("`{}` is declared {}", i.info.name, i.shape_text()))
            .collect();
        let example: Vec<String> = unbound
            .iter()
            .map(|i| {
                format!(
                    "--shape {}={}",
                    i.info.name,
                    i.dimensions_to_size().join("x")
                )
            })
            .collect();
        bail!(
            "free dimensions need sizes: {}; give {} (each N a size)",
            described.join(", "),
            example.join(" ")
        );
    }
    writeln!(
        text,
        "\n# Seeded random values, the same for every engine.\n[inputs]\nrandom = {{ count = 3, seed = 1 }}\n"
    )?;
    let formats: Vec<ModelFormat> = files.iter().map(|(f, _)| *f).collect();
    // The engines the harness knows (not test doubles) that read one of the files.
    let engines: Vec<&BackendInfo> = available
        .iter()
        .filter(|b| !declared_formats(&b.name).is_empty())
        .filter(|b| b.formats.iter().any(|f| formats.contains(f)))
        .collect();
    if engines.is_empty() {
        bail!("no compiled-in engine reads {}", files_text.join(" or "));
    }
    writeln!(text, "# Every compiled-in engine that reads the files.")?;
    for engine in engines {
        writeln!(text, "[backends.{}]", engine.name)?;
    }
    Ok(text)
}

/// The files by format, ONNX first; one network in at most one file per format.
fn classify(files: &[PathBuf]) -> Result<Vec<(ModelFormat, PathBuf)>> {
    let mut classified: Vec<(ModelFormat, PathBuf)> = Vec::new();
    for file in files {
        let Some(format) = model_format(file) else {
            bail!("{}: not a model file (.onnx or .tflite)", file.display());
        };
        if classified.iter().any(|(f, _)| *f == format) {
            bail!("give one network: at most one {format} file");
        }
        classified.push((format, file.clone()));
    }
    if classified.is_empty() {
        bail!("name a model file");
    }
    classified.sort_by_key(|(format, _)| *format);
    Ok(classified)
}

/// The format a file's extension says, if it is a model file.
pub fn model_format(path: &Path) -> Option<ModelFormat> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => Some(ModelFormat::Onnx),
        Some("tflite") => Some(ModelFormat::Tflite),
        _ => None,
    }
}

/// The shape to measure `input` at: `given` where the command line gives it, the declared shape when it is
/// fixed, or with a free leading (batch) dimension of 1; `None` when free dimensions are left unbound. The
/// note says what was bound.
fn bind(input: &TensorInfo, given: Option<Vec<usize>>) -> Option<(Vec<usize>, &'static str)> {
    if let Some(shape) = given {
        return Some((shape, ", bound by --shape"));
    }
    let free: Vec<usize> = (0..input.shape.len())
        .filter(|&i| input.shape[i].is_none())
        .collect();
    let shape = input.shape.iter().map(|d| d.unwrap_or(1)).collect();
    match free.as_slice() {
        [] => Some((shape, "")),
        [0] => Some((shape, ", its free batch dimension bound to 1")),
        _ => None,
    }
}

/// The layout of an image-like 4-D input: channels (1 or 3) second or last.
fn image_layout(element_type: ElementType, shape: &[usize]) -> Option<&'static str> {
    let image_type = matches!(
        element_type,
        ElementType::F32 | ElementType::U8 | ElementType::I8
    );
    match shape {
        [_, 1 | 3, h, w] if image_type && *h > 4 && *w > 4 => Some("NCHW"),
        [_, h, w, 1 | 3] if image_type && *h > 4 && *w > 4 => Some("NHWC"),
        _ => None,
    }
}

fn write_fill(text: &mut String, element_type: ElementType, fill: Option<InputFill>) -> Result<()> {
    let kind = element_type.kind();
    match (fill, kind) {
        (Some(InputFill::Value(v)), _) => writeln!(text, "value = {v}")?,
        (Some(InputFill::Range(low, high)), ElementKind::Float) => {
            writeln!(text, "uniform = [{low:?}, {high:?}]")?
        }
        (Some(InputFill::Range(low, high)), _) => {
            writeln!(text, "range = [{}, {}]", low as i64, high as i64)?
        }
        (None, ElementKind::Integer)
            if !matches!(element_type, ElementType::U8 | ElementType::I8) =>
        {
            let (low, high) = DEFAULT_INTEGER_RANGE;
            writeln!(
                text,
                "# The default for integer inputs, valid for any vocabulary: set the real range (token ids:\n\
                 # [0, vocabulary size)), or `value = N` for a constant.\nrange = [{low}, {high}]"
            )?
        }
        (None, ElementKind::Float) => writeln!(
            text,
            "# Uniform in [-1, 1) unless you set `uniform = [low, high]` or `value = x`."
        )?,
        (None, _) => {}
    }
    Ok(())
}

fn names(inputs: &[DeclaredInput]) -> String {
    inputs
        .iter()
        .map(|i| format!("`{}`", i.info.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_fills_parse_from_the_command_line() {
        assert_eq!(
            parse_shape("images=1x3x640x640").unwrap(),
            ("images".into(), vec![1, 3, 640, 640])
        );
        assert!(parse_shape("images=1x0").is_err());
        assert!(parse_shape("1x3").unwrap_err().contains("NAME=VALUE"));
        assert_eq!(
            parse_fill("sr=16000").unwrap(),
            ("sr".into(), InputFill::Value(16000.0))
        );
        assert_eq!(
            parse_fill("input_ids=0..30522").unwrap(),
            ("input_ids".into(), InputFill::Range(0.0, 30522.0))
        );
        assert!(parse_fill("x=5..1").unwrap_err().contains("low < high"));
    }

    #[test]
    fn a_free_batch_alone_is_bound_to_one_and_other_free_dimensions_are_not() {
        let input = |shape: Vec<Option<usize>>| TensorInfo {
            name: "x".into(),
            shape,
            element_type: ElementType::F32,
        };
        let batch = input(vec![None, Some(3), Some(8), Some(8)]);
        assert_eq!(bind(&batch, None).unwrap().0, vec![1, 3, 8, 8]);
        let detector = input(vec![None, Some(3), None, None]);
        assert_eq!(bind(&detector, None), None);
        assert_eq!(
            bind(&detector, Some(vec![1, 3, 64, 64])).unwrap().0,
            vec![1, 3, 64, 64]
        );
        assert_eq!(
            image_layout(ElementType::F32, &[1, 3, 64, 64]),
            Some("NCHW")
        );
        assert_eq!(image_layout(ElementType::I64, &[1, 3, 64, 64]), None);
    }
}
