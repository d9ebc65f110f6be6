//! `harness profile A B`: two profiled measurements side by side by operator class (two engines, two formats
//! of one network, or a technique study's variant against its baseline), from results folders' profile.csv.

use crate::analysis::operators::OperatorClass;
use crate::report::charts::significant;
use crate::results::{profiles, EngineProfile, ResultFolder};
use anyhow::{bail, Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which profiled measurement: `[MODEL/]BACKEND[:FORMAT][@THREADS]`, each part left out matching any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub model: Option<String>,
    pub backend: String,
    pub format: Option<String>,
    pub threads: Option<usize>,
}

impl FromStr for Selector {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Selector> {
        let (model, rest) = match text.split_once('/') {
            Some((model, rest)) => (Some(model.to_string()), rest),
            None => (None, text),
        };
        let (rest, threads) = match rest.split_once('@') {
            Some((rest, threads)) => (
                rest,
                Some(threads.parse().with_context(|| {
                    format!("`{text}`: `{threads}` after @ is not a thread count")
                })?),
            ),
            None => (rest, None),
        };
        let (backend, format) = match rest.split_once(':') {
            Some((backend, format)) => (backend, Some(format.to_string())),
            None => (rest, None),
        };
        if backend.is_empty() {
            bail!("`{text}` names no backend: write [MODEL/]BACKEND[:FORMAT][@THREADS], e.g. ort:onnx@1");
        }
        Ok(Selector {
            model,
            backend: backend.to_string(),
            format,
            threads,
        })
    }
}

impl Selector {
    fn matches(&self, profile: &EngineProfile) -> bool {
        let key = &profile.key;
        key.backend == self.backend
            && self.model.as_ref().is_none_or(|m| *m == key.model)
            && self.format.as_ref().is_none_or(|f| *f == key.format)
            && self.threads.is_none_or(|t| t == key.threads)
    }

    /// The one profiled measurement this selects, or why there is not exactly one.
    fn pick<'a>(&self, text: &str, all: &'a [EngineProfile]) -> Result<&'a EngineProfile> {
        let matching: Vec<&EngineProfile> = all.iter().filter(|p| self.matches(p)).collect();
        match matching.as_slice() {
            [one] => Ok(one),
            [] => bail!(
                "no profiled measurement matches `{text}`; the folders hold: {}",
                all.iter().map(name).collect::<Vec<_>>().join(", ")
            ),
            several => bail!(
                "`{text}` matches {} profiled measurements ({}): add the model (MODEL/), the format (:FORMAT) or the \
                 thread count (@THREADS)",
                several.len(),
                several.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A profiled measurement as a selector that picks it.
fn name(profile: &EngineProfile) -> String {
    let key = &profile.key;
    format!(
        "{}/{}:{}@{}",
        key.model, key.backend, key.format, key.threads
    )
}

/// The newest folder under `results` that holds a profile.
pub fn newest_profiled(results: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(results)
        .with_context(|| format!("cannot read {}: name a results folder", results.display()))?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("profile.csv").is_file())
        .collect();
    // Folder names start with their UTC time stamp: the last in order is the newest.
    folders.sort();
    folders.pop().with_context(|| {
        format!(
            "no results folder under {} holds a profile: run with --profile first",
            results.display()
        )
    })
}

/// The comparison of `a` and `b` (selectors) in `folders`, as a table by operator class.
pub fn compare(folders: &[PathBuf], (a, b): (&str, &str)) -> Result<String> {
    let loaded = folders
        .iter()
        .map(|f| ResultFolder::load(f))
        .collect::<Result<Vec<_>>>()?;
    let all = profiles(&loaded);
    if all.is_empty() {
        bail!("the folders hold no profile.csv: run with --profile first");
    }
    let first = a.parse::<Selector>()?.pick(a, &all)?;
    let second = b.parse::<Selector>()?.pick(b, &all)?;
    for profile in [first, second] {
        if profile.nodes.is_empty() {
            bail!(
                "{} has no profile: {} ({})",
                name(profile),
                profile.status,
                profile.error
            );
        }
    }
    Ok(render(first, second))
}

/// Both profiles' time per run by operator class, their shares, and how the second compares.
pub fn render(a: &EngineProfile, b: &EngineProfile) -> String {
    let (times_a, times_b) = (a.class_times(), b.class_times());
    let (total_a, total_b) = (a.total_us(), b.total_us());
    let mut out = format!("A: {}\nB: {}\n\n", describe(a), describe(b));
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>7} {:>10} {:>7} {:>10} {:>8}",
        "class", "A ms/run", "A %", "B ms/run", "B %", "B-A ms", "B/A"
    );
    let mut line = |class: &str, ta: f64, tb: f64| {
        let share = |t: f64, total: f64| if total > 0.0 { 100.0 * t / total } else { 0.0 };
        let ratio = if ta > 0.0 {
            format!("{:.2}", tb / ta)
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            out,
            "{class:<16} {:>10} {:>6.1}% {:>10} {:>6.1}% {:>10} {ratio:>8}",
            significant(ta / 1e3),
            share(ta, total_a),
            significant(tb / 1e3),
            share(tb, total_b),
            significant((tb - ta) / 1e3),
        );
    };
    for (i, class) in OperatorClass::ALL.iter().enumerate() {
        if times_a[i] > 0.0 || times_b[i] > 0.0 {
            line(class.as_str(), times_a[i], times_b[i]);
        }
    }
    line("all nodes", total_a, total_b);
    out
}

/// A profile's measurement, its profiled and unprofiled times.
fn describe(profile: &EngineProfile) -> String {
    let times = match (profile.profiled_run_ms, profile.unprofiled_median_ms) {
        (Some(profiled), Some(median)) => format!(
            "; a profiled run {} ms against the unprofiled median {} ms",
            significant(profiled),
            significant(median)
        ),
        _ => String::new(),
    };
    format!(
        "{} on {}, {} nodes{times}",
        name(profile),
        profile.key.device,
        profile.nodes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::csv::ProfileRow;
    use crate::key::SeriesKey;

    fn profile(backend: &str, format: &str, nodes: &[(&str, f64)]) -> EngineProfile {
        EngineProfile {
            key: SeriesKey {
                device: "pc".into(),
                model: "m".into(),
                backend: backend.into(),
                format: format.into(),
                threads: 1,
                timing: "inference".into(),
            },
            status: "ok".into(),
            error: String::new(),
            nodes: nodes
                .iter()
                .map(|(class, us)| ProfileRow {
                    class: class.to_string(),
                    per_run_us: *us,
                    ..ProfileRow::default()
                })
                .collect(),
            profiled_run_ms: None,
            unprofiled_median_ms: None,
            profiling_overhead: None,
        }
    }

    #[test]
    fn selectors_name_model_backend_format_and_threads() {
        assert_eq!(
            "dw/ort:onnx@2".parse::<Selector>().unwrap(),
            Selector {
                model: Some("dw".into()),
                backend: "ort".into(),
                format: Some("onnx".into()),
                threads: Some(2)
            }
        );
        assert_eq!("tract".parse::<Selector>().unwrap().format, None);
        assert!("ort@x".parse::<Selector>().is_err());
        assert!("m/".parse::<Selector>().is_err());
    }

    #[test]
    fn a_selector_picks_exactly_one_profile_or_says_why() {
        let all = [
            profile("tract", "onnx", &[]),
            profile("tract", "tflite", &[]),
        ];
        let pick = |text: &str| text.parse::<Selector>().unwrap().pick(text, &all).map(name);
        assert_eq!(pick("tract:tflite").unwrap(), "m/tract:tflite@1");
        let err = pick("tract").unwrap_err().to_string();
        assert!(err.contains("matches 2"), "{err}");
        let err = pick("ort").unwrap_err().to_string();
        assert!(err.contains("m/tract:onnx@1, m/tract:tflite@1"), "{err}");
    }

    #[test]
    fn the_comparison_lists_each_class_with_both_times_and_their_ratio() {
        let a = profile(
            "ort",
            "onnx",
            &[("depthwise conv", 300.0), ("pointwise conv", 700.0)],
        );
        let b = profile(
            "tract",
            "onnx",
            &[
                ("depthwise conv", 900.0),
                ("pointwise conv", 700.0),
                ("layout", 400.0),
            ],
        );
        let text = render(&a, &b);
        let line = |class: &str| {
            text.lines()
                .find(|l| l.starts_with(class))
                .unwrap_or_else(|| panic!("no {class} line in\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            line("depthwise"),
            "depthwise conv 0.300 30.0% 0.900 45.0% 0.600 3.00"
        );
        assert_eq!(line("layout"), "layout 0.000 0.0% 0.400 20.0% 0.400 -");
        assert_eq!(
            line("all nodes"),
            "all nodes 1.00 100.0% 2.00 100.0% 1.00 2.00"
        );
        assert!(!text.contains("\ngemm"), "{text}");
    }
}
