//! ONNX and TFLite → MNN conversion with `mnnconvert` from the pinned PyPI wheel `mnn`, cached under the model
//! file's hash (see `harness_backend_api::conversion`).
//!
//! The wheel's converter is a Python extension module (`_tools`), so conversion runs `python3` on it. The
//! wheel's own `mnnconvert` entry point is not used: after converting it sends usage logs to Alibaba's servers
//! (and tries to `pip install` their client); `_tools.mnnconvert` converts and nothing else.
//!
//! Input shapes are not part of the key: MNN resizes a converted model's inputs at load time.

use harness_backend_api::conversion::{log_tail, Conversion};
use harness_backend_api::runtime::locate_library;
use harness_backend_api::ModelFormat;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The converter's release (PyPI `mnn==3.6.1`, scripts/runtimes.toml); part of the cache folder's name.
pub const CONVERTER_VERSION: &str = "3.6.1";
/// An explicit path to the wheel's `_tools` module, overriding the project's runtime folder.
pub const CONVERTER_VARIABLE: &str = "HARNESS_MNNCONVERT";

/// The wheel's converter module for this machine (the wheel is built for CPython 3.11).
pub fn converter_module() -> Result<PathBuf, String> {
    let file = format!("_tools.cpython-311-{}-linux-gnu.so", std::env::consts::ARCH);
    locate_library(CONVERTER_VARIABLE, "mnnconvert", &file)
}

/// A converted model and how it was obtained.
#[derive(Debug)]
pub struct Converted {
    pub model: PathBuf,
    /// Time spent converting in this call; None when the cache already held it.
    pub conversion: Option<Duration>,
}

/// Returns the cached `.mnn` file for `model`, converting it first if needed.
pub fn convert(model: &Path, format: ModelFormat, cache: &Path) -> Result<Converted, String> {
    let converted = Conversion {
        converter: &format!("mnnconvert-{CONVERTER_VERSION}"),
        model,
        key_extra: format.as_str().as_bytes(),
        outputs: &["model.mnn"],
        log: "mnnconvert.log",
    }
    .cached_in(cache, |_, scratch| {
        run_mnnconvert(&converter_module()?, model, format, scratch)
    })?;
    Ok(Converted {
        model: converted.file("model.mnn"),
        conversion: converted.conversion,
    })
}

fn run_mnnconvert(
    module: &Path,
    model: &Path,
    format: ModelFormat,
    scratch: &Path,
) -> Result<(), String> {
    let folder = module.parent().expect("a file has a folder");
    let output = Command::new("python3")
        .env("PYTHONPATH", folder)
        .arg("-c")
        .arg("import sys, _tools; _tools.mnnconvert(sys.argv)")
        .arg("-f")
        .arg(match format {
            ModelFormat::Onnx => "ONNX",
            ModelFormat::Tflite => "TFLITE",
        })
        .arg("--modelFile")
        .arg(model)
        .arg("--MNNModel")
        .arg(scratch.join("model.mnn"))
        .arg("--bizCode")
        .arg("harness")
        .output()
        .map_err(|e| format!("cannot start python3 for mnnconvert: {e}"))?;
    let log = [output.stdout, output.stderr].concat();
    let _ = std::fs::write(scratch.join("mnnconvert.log"), &log);
    let text = String::from_utf8_lossy(&log);
    // The converter returns normally whether or not it converted; its log says which.
    if output.status.success() && text.contains("Converted Success") {
        Ok(())
    } else {
        Err(format!(
            "mnnconvert {CONVERTER_VERSION} could not convert it ({}): {}",
            output.status,
            log_tail(&text, 3)
        ))
    }
}

/// `Net.outputName` in MNN's schema (schema/current/MNN_generated.h): the outputs in the source model's order.
const OUTPUT_NAME: flatbuffers::VOffsetT = 12;

type Names<'a> =
    flatbuffers::ForwardsUOffset<flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<&'a str>>>;

/// The root table of an `.mnn` file, read for its output list only.
struct Net<'a>(flatbuffers::Table<'a>);

impl<'a> flatbuffers::Follow<'a> for Net<'a> {
    type Inner = Net<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Net<'a> {
        // SAFETY: the caller (flatbuffers::root, after verification) gives a table's position in `buf`.
        Net(unsafe { flatbuffers::Table::new(buf, loc) })
    }
}

impl flatbuffers::Verifiable for Net<'_> {
    fn run_verifier(
        verifier: &mut flatbuffers::Verifier,
        position: usize,
    ) -> Result<(), flatbuffers::InvalidFlatbuffer> {
        verifier
            .visit_table(position)?
            .visit_field::<Names>("outputName", OUTPUT_NAME, false)?
            .finish();
        Ok(())
    }
}

/// The names of a converted model's outputs, in the order the source model declares them.
pub fn output_names(mnn_file: &[u8]) -> Result<Vec<String>, String> {
    let net = flatbuffers::root::<Net>(mnn_file)
        .map_err(|e| format!("the converted file is not an MNN model: {e}"))?;
    // SAFETY: the verifier checked that this field, when present, is a vector of strings inside the buffer.
    let names = unsafe { net.0.get::<Names>(OUTPUT_NAME, None) }
        .ok_or("the converted file lists no outputs")?;
    Ok(names.iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer with a root table whose field `outputName` lists `names` (what flatc would write).
    fn net_with_outputs(names: &[&str]) -> Vec<u8> {
        let mut builder = flatbuffers::FlatBufferBuilder::new();
        let strings: Vec<_> = names.iter().map(|n| builder.create_string(n)).collect();
        let vector = builder.create_vector(&strings);
        let table = builder.start_table();
        builder.push_slot_always(OUTPUT_NAME, vector);
        let table = builder.end_table(table);
        builder.finish_minimal(table);
        builder.finished_data().to_vec()
    }

    #[test]
    fn outputs_are_read_in_the_order_the_file_lists_them() {
        let file = net_with_outputs(&["z_relu", "a_sigmoid"]);
        assert_eq!(output_names(&file).unwrap(), ["z_relu", "a_sigmoid"]);
    }

    #[test]
    fn a_file_that_is_not_an_mnn_model_is_refused() {
        let err = output_names(b"ONNX\x00\x01not a flatbuffer").unwrap_err();
        assert!(
            err.starts_with("the converted file is not an MNN model"),
            "{err}"
        );
        let empty = {
            let mut builder = flatbuffers::FlatBufferBuilder::new();
            let table = builder.start_table();
            let table = builder.end_table(table);
            builder.finish_minimal(table);
            builder.finished_data().to_vec()
        };
        assert_eq!(
            output_names(&empty).unwrap_err(),
            "the converted file lists no outputs"
        );
    }
}
