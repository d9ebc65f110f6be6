//! Models converted into an engine's own format by an external converter (NCNN's pnnx, MNN's mnnconvert),
//! cached under the harness cache so that an unchanged model is converted once.
//!
//! The key is a hash of the model file's bytes and whatever else changes the result (input shapes, options);
//! the converter's name and version name the folder, so a new converter converts afresh. A conversion works in
//! a scratch folder that becomes the cache entry only once every expected file is there: an interrupted
//! conversion never leaves half a model behind, and two processes converting the same model at once both end
//! with a complete entry.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One conversion to look up or carry out.
pub struct Conversion<'a> {
    /// The converter and its version, e.g. `pnnx-20261020`: the cache folder's name.
    pub converter: &'a str,
    /// The model file.
    pub model: &'a Path,
    /// What else the result depends on besides the model's bytes.
    pub key_extra: &'a [u8],
    /// The files a complete conversion leaves in its folder.
    pub outputs: &'a [&'a str],
    /// The converter's log, kept beside the outputs.
    pub log: &'a str,
}

/// A conversion's folder, and the time spent converting in this call (None when the cache held it).
#[derive(Debug)]
pub struct Converted {
    pub folder: PathBuf,
    pub conversion: Option<Duration>,
}

impl Converted {
    /// One of the conversion's files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.folder.join(name)
    }
}

impl Conversion<'_> {
    /// The cached conversion, or a new one made by `convert`, which is given the model's bytes and a scratch
    /// folder to write the outputs and the log into, and says why it failed.
    pub fn cached_in(
        &self,
        cache: &Path,
        convert: impl FnOnce(&[u8], &Path) -> Result<(), String>,
    ) -> Result<Converted, String> {
        let bytes = std::fs::read(self.model).map_err(|e| format!("cannot read the file: {e}"))?;
        let key = format!(
            "{:x}",
            Sha256::new()
                .chain_update(&bytes)
                .chain_update(self.key_extra)
                .finalize()
        );
        let folder = cache.join(self.converter).join(&key[..32]);
        let complete = |folder: &Path| self.outputs.iter().all(|f| folder.join(f).is_file());
        if complete(&folder) {
            return Ok(Converted {
                folder,
                conversion: None,
            });
        }
        std::fs::create_dir_all(folder.parent().expect("the folder has a parent")).map_err(
            |e| {
                format!(
                    "cannot create the conversion cache {}: {e}",
                    cache.display()
                )
            },
        )?;
        let scratch = folder.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        let started = Instant::now();
        let result = convert(&bytes, &scratch).and_then(|()| {
            let elapsed = started.elapsed();
            if let Some(missing) = self.outputs.iter().find(|f| !scratch.join(f).is_file()) {
                return Err(format!(
                    "{} reported success but wrote no {missing}",
                    self.converter
                ));
            }
            self.keep_only_outputs_and_log(&scratch);
            match std::fs::rename(&scratch, &folder) {
                // Another process converted the same model meanwhile: its files are as good as ours.
                Err(_) if complete(&folder) => Ok(elapsed),
                Err(e) => Err(format!(
                    "cannot move the conversion into {}: {e}",
                    folder.display()
                )),
                Ok(()) => Ok(elapsed),
            }
        });
        let _ = std::fs::remove_dir_all(&scratch);
        result.map(|elapsed| Converted {
            folder,
            conversion: Some(elapsed),
        })
    }

    fn keep_only_outputs_and_log(&self, folder: &Path) {
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        for entry in entries.flatten() {
            let keep = self.outputs.iter().chain([&self.log]);
            if !keep.into_iter().any(|k| entry.file_name() == **k) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The end of a converter's log, where it says what went wrong: the last `count` lines that are not blank,
/// not `#` banners, on one line and without terminal colours.
pub fn log_tail(log: &str, count: usize) -> String {
    let plain = strip_colour_codes(log);
    let lines: Vec<&str> = plain
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

/// Drops ANSI escape sequences (`ESC [ … letter`), which converters print around warnings.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_the_log_skips_blank_and_banner_lines_and_colours() {
        let log = "############# pass_level0\n\u{1b}[0;93mopen failed m.onnx\u{1b}[m\n\nread_proto_from_binary failed\n";
        assert_eq!(
            log_tail(log, 4),
            "open failed m.onnx | read_proto_from_binary failed"
        );
    }

    fn conversion<'a>(model: &'a Path, extra: &'a [u8]) -> Conversion<'a> {
        Conversion {
            converter: "copy-1",
            model,
            key_extra: extra,
            outputs: &["out.bin"],
            log: "copy.log",
        }
    }

    #[test]
    fn a_model_is_converted_once_per_key_and_only_outputs_and_log_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"weights").unwrap();
        let cache = dir.path().join("cache");
        let copy = |bytes: &[u8], scratch: &Path| {
            std::fs::write(scratch.join("out.bin"), bytes).unwrap();
            std::fs::write(scratch.join("copy.log"), "ok").unwrap();
            std::fs::write(scratch.join("stray.tmp"), "").unwrap();
            Ok(())
        };
        let first = conversion(&model, b"a").cached_in(&cache, copy).unwrap();
        assert!(first.conversion.is_some());
        assert_eq!(std::fs::read(first.file("out.bin")).unwrap(), b"weights");
        assert!(first.file("copy.log").is_file());
        assert!(!first.file("stray.tmp").exists());
        let again = conversion(&model, b"a")
            .cached_in(&cache, |_, _| panic!("converted twice"))
            .unwrap();
        assert_eq!(
            (again.folder, again.conversion),
            (first.folder.clone(), None)
        );
        let other = conversion(&model, b"b").cached_in(&cache, copy).unwrap();
        assert_ne!(other.folder, first.folder, "another key, another entry");
    }

    #[test]
    fn a_failed_or_incomplete_conversion_leaves_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"weights").unwrap();
        let cache = dir.path().join("cache");
        let err = conversion(&model, b"")
            .cached_in(&cache, |_, _| Err("unsupported operator X".to_string()))
            .unwrap_err();
        assert_eq!(err, "unsupported operator X");
        let err = conversion(&model, b"")
            .cached_in(&cache, |_, _| Ok(()))
            .unwrap_err();
        assert_eq!(err, "copy-1 reported success but wrote no out.bin");
        let entries = std::fs::read_dir(cache.join("copy-1")).unwrap().count();
        assert_eq!(
            entries, 0,
            "neither a cache entry nor a scratch folder is left"
        );
        let missing = conversion(&dir.path().join("none.onnx"), b"")
            .cached_in(&cache, |_, _| Ok(()))
            .unwrap_err();
        assert!(missing.starts_with("cannot read the file"), "{missing}");
    }
}
