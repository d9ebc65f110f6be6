//! ONNX → NCNN conversion with the `pnnx` binary from the pinned PyPI wheel, cached under the model file's
//! hash and input shapes so that an unchanged model is converted once.

use harness_backend_api::runtime::locate_library;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
    let bytes = std::fs::read(model).map_err(|e| format!("cannot read the file: {e}"))?;
    let shape = input_shape_argument(shapes);
    let key = format!(
        "{:x}",
        Sha256::new()
            .chain_update(&bytes)
            .chain_update(shape.as_bytes())
            .finalize()
    );
    let folder = cache.join(format!("pnnx-{PNNX_VERSION}")).join(&key[..32]);
    let (param, bin) = (
        folder.join("model.ncnn.param"),
        folder.join("model.ncnn.bin"),
    );
    if param.is_file() && bin.is_file() {
        return Ok(Converted {
            param,
            bin,
            conversion: None,
        });
    }
    let pnnx = locate_library(PNNX_VARIABLE, "pnnx", "pnnx")?;
    std::fs::create_dir_all(folder.parent().expect("the folder has a parent")).map_err(|e| {
        format!(
            "cannot create the conversion cache {}: {e}",
            cache.display()
        )
    })?;
    // pnnx writes a handful of files beside its input; it works in a scratch folder that becomes the cache
    // entry only once the pair is complete, so an interrupted conversion never leaves half a model behind.
    let scratch = folder.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = run_pnnx(&pnnx, &bytes, &shape, &scratch);
    let finished = result.and_then(|elapsed| {
        for name in ["model.ncnn.param", "model.ncnn.bin"] {
            if !scratch.join(name).is_file() {
                return Err(format!("pnnx reported success but wrote no {name}"));
            }
        }
        keep_only(
            &scratch,
            &["model.ncnn.param", "model.ncnn.bin", "pnnx.log"],
        );
        match std::fs::rename(&scratch, &folder) {
            // Another process converted the same model meanwhile: its pair is as good as ours.
            Err(_) if param.is_file() && bin.is_file() => Ok(elapsed),
            Err(e) => Err(format!(
                "cannot move the conversion into {}: {e}",
                folder.display()
            )),
            Ok(()) => Ok(elapsed),
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    finished.map(|elapsed| Converted {
        param,
        bin,
        conversion: Some(elapsed),
    })
}

fn run_pnnx(pnnx: &Path, model: &[u8], shape: &str, scratch: &Path) -> Result<Duration, String> {
    std::fs::write(scratch.join("model.onnx"), model)
        .map_err(|e| format!("cannot copy the model into {}: {e}", scratch.display()))?;
    let started = Instant::now();
    let output = Command::new(pnnx)
        .current_dir(scratch)
        .arg("model.onnx")
        .arg(format!("inputshape={shape}"))
        .arg("fp16=0")
        .output()
        .map_err(|e| format!("cannot start {}: {e}", pnnx.display()))?;
    let elapsed = started.elapsed();
    let log = [output.stdout, output.stderr].concat();
    let _ = std::fs::write(scratch.join("pnnx.log"), &log);
    if output.status.success() {
        Ok(elapsed)
    } else {
        Err(format!(
            "pnnx {PNNX_VERSION} could not convert it ({}): {}",
            output.status,
            last_lines(&String::from_utf8_lossy(&log), 4)
        ))
    }
}

/// The end of pnnx's log, where it says what went wrong, on one line and without terminal colours.
fn last_lines(log: &str, count: usize) -> String {
    let plain = strip_colour_codes(log);
    let lines: Vec<&str> = plain
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

/// Drops ANSI escape sequences (`ESC [ … letter`), which ONNX Runtime inside pnnx prints around warnings.
fn strip_colour_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn keep_only(folder: &Path, keep: &[&str]) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        if !keep.iter().any(|k| entry.file_name() == *k) {
            let _ = std::fs::remove_file(entry.path());
        }
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

    #[test]
    fn the_end_of_the_log_skips_blank_and_pass_banner_lines_and_colours() {
        let log = "############# pass_level0\n\u{1b}[0;93mopen failed m.onnx\u{1b}[m\n\nread_proto_from_binary failed\n";
        assert_eq!(
            last_lines(log, 4),
            "open failed m.onnx | read_proto_from_binary failed"
        );
    }
}
