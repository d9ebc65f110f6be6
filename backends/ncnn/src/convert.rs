//! ONNX → NCNN conversion with the `pnnx` binary from the pinned PyPI wheel, cached under the model file's
//! hash and input shapes so that an unchanged model is converted once.

use harness_backend_api::conversion::{log_tail, Conversion};
use harness_backend_api::runtime::locate_library;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The pnnx release provisioned by scripts/runtimes.toml; part of the cache key, so a new pnnx converts afresh.
pub const PNNX_VERSION: &str = "20261020";
/// An explicit path to the `pnnx` binary, overriding the project's runtime folder.
pub const PNNX_VARIABLE: &str = "HARNESS_PNNX";

/// A converted model: the param/bin pair NCNN loads, and how it was obtained.
#[derive(Debug)]
pub struct Converted {
    pub param: PathBuf,
    pub bin: PathBuf,
    /// Time spent converting in this call; None when the cache already held the pair.
    pub conversion: Option<Duration>,
}

/// pnnx's `inputshape=` argument: one bracketed list per input, e.g. `[1,3,224,224]`.
pub fn input_shape_argument(shapes: &[Vec<usize>]) -> String {
    shapes
        .iter()
        .map(|s| {
            let dims: Vec<String> = s.iter().map(usize::to_string).collect();
            format!("[{}]", dims.join(","))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Returns the cached NCNN pair for `model` with these input shapes, converting it first if needed.
pub fn convert(model: &Path, shapes: &[Vec<usize>], cache: &Path) -> Result<Converted, String> {
    let shape = input_shape_argument(shapes);
    let converted = Conversion {
        converter: &format!("pnnx-{PNNX_VERSION}"),
        model,
        key_extra: shape.as_bytes(),
        outputs: &["model.ncnn.param", "model.ncnn.bin"],
        log: "pnnx.log",
    }
    .cached_in(cache, |bytes, scratch| {
        let pnnx = locate_library(PNNX_VARIABLE, "pnnx", "pnnx")?;
        run_pnnx(&pnnx, bytes, &shape, scratch)
    })?;
    Ok(Converted {
        param: converted.file("model.ncnn.param"),
        bin: converted.file("model.ncnn.bin"),
        conversion: converted.conversion,
    })
}

/// pnnx writes a handful of files beside its input, so it gets a copy of the model in the scratch folder.
fn run_pnnx(pnnx: &Path, model: &[u8], shape: &str, scratch: &Path) -> Result<(), String> {
    std::fs::write(scratch.join("model.onnx"), model)
        .map_err(|e| format!("cannot copy the model into {}: {e}", scratch.display()))?;
    let output = Command::new(pnnx)
        .current_dir(scratch)
        .arg("model.onnx")
        .arg(format!("inputshape={shape}"))
        .arg("fp16=0")
        .output()
        .map_err(|e| format!("cannot start {}: {e}", pnnx.display()))?;
    let log = [output.stdout, output.stderr].concat();
    let _ = std::fs::write(scratch.join("pnnx.log"), &log);
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "pnnx {PNNX_VERSION} could not convert it ({}): {}",
            output.status,
            log_tail(&String::from_utf8_lossy(&log), 4)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes_are_written_as_pnnx_reads_them() {
        assert_eq!(
            input_shape_argument(&[vec![1, 3, 224, 224], vec![1, 10]]),
            "[1,3,224,224],[1,10]"
        );
    }
}
