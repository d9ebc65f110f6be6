//! `summary.csv` (one tidy row per measurement), `samples.csv` (every latency, long format) and
//! `predictions.csv` (classifiers' top-5), all starting with the same key columns. Each measurement's rows are
//! written as soon as it ends, so that a crash or Ctrl-C keeps what was measured.

use crate::record::MeasurementRecord;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The columns that say which measurement a row belongs to: the first ones of every file.
const KEY_COLUMNS: [&str; 8] = [
    "scenario", "device", "model", "backend", "format", "threads", "timing", "round",
];

/// summary.csv: the key, then these.
const SUMMARY_VALUES: &[&str] = &[
    "target",
    "engine_version",
    "status",
    "validity",
    "validity_reasons",
    "runs",
    "mean_ms",
    "median_ms",
    "median_low_ms",
    "median_high_ms",
    "min_ms",
    "max_ms",
    "std_ms",
    "p90_ms",
    "p99_ms",
    "outliers",
    "throughput_per_s",
    "load_ms",
    "conversion_ms",
    "first_run_ms",
    "warmup_runs",
    "peak_rss_mb",
    "model_file_mb",
    "model_macs",
    "gmac_per_s",
    "observed_threads",
    "pinned_cpus",
    "inputs",
    "input_adaptation",
    "model_adaptation",
    "settings",
    "baseline_model",
    "parity",
    "parity_reference",
    "max_abs_diff",
    "max_rel_diff",
    "min_cosine",
    "top1_agreement",
    "top5_agreement",
    "parity_reasons",
    "error",
];

/// predictions.csv: the key, then these.
const PREDICTION_VALUES: &[&str] = &["input", "rank", "class", "label", "score"];

/// samples.csv: the key, then these.
const SAMPLE_VALUES: &[&str] = &["run", "input", "latency_ms"];

pub fn summary_columns() -> Vec<&'static str> {
    KEY_COLUMNS.iter().chain(SUMMARY_VALUES).copied().collect()
}

pub fn sample_columns() -> Vec<&'static str> {
    KEY_COLUMNS.iter().chain(SAMPLE_VALUES).copied().collect()
}

pub fn prediction_columns() -> Vec<&'static str> {
    KEY_COLUMNS
        .iter()
        .chain(PREDICTION_VALUES)
        .copied()
        .collect()
}

/// The key cells of a row, in the order of `KEY_COLUMNS`.
fn key_cells(scenario: &str, r: &MeasurementRecord) -> Vec<String> {
    vec![
        scenario.to_string(),
        r.device.clone(),
        r.plan.model.clone(),
        r.plan.backend.clone(),
        r.plan.format.to_string(),
        r.plan.threads.to_string(),
        r.plan.timing.as_str().to_string(),
        r.plan.round.to_string(),
    ]
}

/// A CSV file created new (never overwriting), written a measurement at a time: its rows are encoded in memory
/// and then written in one go. When the write fails (disk full, file too large) the file is cut back to the end
/// of the last complete write, so that what is there stays valid CSV.
pub struct RowWriter {
    path: PathBuf,
    file: File,
    pending: ::csv::Writer<Vec<u8>>,
    /// Bytes of the file known to be complete.
    written: u64,
}

impl RowWriter {
    pub fn create(path: &Path, columns: &[&str]) -> Result<RowWriter> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = RowWriter {
            path: path.to_path_buf(),
            file,
            pending: ::csv::Writer::from_writer(Vec::new()),
            written: 0,
        };
        writer.write(columns.iter().map(|c| c.to_string()))?;
        writer.flush()?;
        Ok(writer)
    }

    fn write(&mut self, row: impl IntoIterator<Item = String>) -> Result<()> {
        self.pending
            .write_record(row.into_iter().collect::<Vec<_>>())?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let pending = std::mem::replace(&mut self.pending, ::csv::Writer::from_writer(Vec::new()));
        let bytes = pending
            .into_inner()
            .map_err(|e| anyhow::anyhow!("encoding rows: {}", e.error()))?;
        match self.file.write_all(&bytes).and_then(|()| self.file.flush()) {
            Ok(()) => {
                self.written += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A partial row would make the file invalid CSV: cut back to the last complete one.
                let _ = self.file.set_len(self.written);
                Err(anyhow::anyhow!(
                    "cannot write {}: {e}; the rows written before are kept intact",
                    self.path.display()
                ))
            }
        }
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v:.6}"))
}

pub fn write_summary(out: &mut RowWriter, scenario: &str, r: &MeasurementRecord) -> Result<()> {
    let s = r.summary.as_ref();
    let stat = |f: fn(&crate::analysis::Summary) -> f64| optional(s.map(f));
    let settings: Vec<String> = r
        .settings
        .iter()
        .map(|s| format!("{}={}", s.key, s.value))
        .collect();
    let mut row = key_cells(scenario, r);
    row.push(r.target.clone());
    row.extend([
        r.engine_version.clone(),
        r.status.as_str().to_string(),
        r.validity
            .as_ref()
            .map_or("", |v| v.verdict.as_str())
            .to_string(),
        r.validity
            .as_ref()
            .map_or(String::new(), |v| v.reasons.join("; ")),
        s.map_or(String::new(), |s| s.runs.to_string()),
        stat(|s| s.mean_ms),
        stat(|s| s.median_ms),
        stat(|s| s.median_low_ms),
        stat(|s| s.median_high_ms),
        stat(|s| s.min_ms),
        stat(|s| s.max_ms),
        stat(|s| s.std_ms),
        stat(|s| s.p90_ms),
        stat(|s| s.p99_ms),
        s.map_or(String::new(), |s| s.outliers.to_string()),
        stat(|s| s.throughput_per_s),
        optional(r.load_ms),
        optional(r.conversion_ms),
        optional(r.first_run_ms),
        r.warmup_runs.to_string(),
        optional(r.peak_rss_kb.map(|kb| kb as f64 / 1024.0)),
        optional(r.model_file_bytes.map(|b| b as f64 / (1024.0 * 1024.0))),
        r.model_macs.map_or(String::new(), |m| m.to_string()),
        // Achieved throughput of multiply-accumulates at the median latency.
        optional(
            r.model_macs
                .zip(s)
                .map(|(m, s)| m as f64 / (s.median_ms * 1e-3) / 1e9),
        ),
        r.observed_threads.map_or(String::new(), |n| n.to_string()),
        r.pinned_cpus.as_ref().map_or(String::new(), |cpus| {
            cpus.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }),
        r.outputs.len().to_string(),
        serde_json::to_value(r.adaptation)?
            .as_str()
            .unwrap_or_default()
            .to_string(),
        r.setting("model_adaptation").unwrap_or("none").to_string(),
        settings.join("; "),
        r.plan.baseline.clone().unwrap_or_default(),
    ]);
    row.extend(parity_cells(r));
    row.push(r.error.clone().unwrap_or_default());
    debug_assert_eq!(row.len(), KEY_COLUMNS.len() + SUMMARY_VALUES.len());
    out.write(row)?;
    out.flush()
}

pub fn write_samples(out: &mut RowWriter, scenario: &str, r: &MeasurementRecord) -> Result<()> {
    let inputs = r.outputs.len().max(1);
    let rotation = r.plan.pin.map_or(
        crate::measure::Rotation::Cycle,
        crate::measure::Rotation::Pinned,
    );
    for (run, ns) in r.samples_ns.iter().enumerate() {
        let mut row = key_cells(scenario, r);
        row.extend([
            run.to_string(),
            rotation.index(run, inputs).to_string(),
            format!("{:.6}", *ns as f64 / 1e6),
        ]);
        out.write(row)?;
    }
    out.flush()
}

fn parity_cells(r: &MeasurementRecord) -> Vec<String> {
    let Some(parity) = &r.parity else {
        return vec![String::new(); 8];
    };
    let agreement = parity.agreement.as_ref();
    let share = |count: Option<usize>| match (count, agreement) {
        (Some(n), Some(a)) => format!("{n}/{}", a.inputs),
        _ => String::new(),
    };
    vec![
        parity.verdict.as_str().to_string(),
        parity.reference.clone(),
        agreement.map_or(String::new(), |a| format!("{:e}", a.max_abs_diff)),
        agreement.map_or(String::new(), |a| format!("{:e}", a.max_rel_diff)),
        agreement.map_or(String::new(), |a| format!("{:.8}", a.min_cosine)),
        share(agreement.and_then(|a| a.top1_agree)),
        share(agreement.and_then(|a| a.top5_agree)),
        parity.reasons.join("; "),
    ]
}

/// Each input's top-5 classes (index, label, score) from the first output of a classifier.
pub fn write_predictions(
    out: &mut RowWriter,
    scenario: &str,
    r: &MeasurementRecord,
    input_names: &[String],
    labels: Option<&[String]>,
) -> Result<()> {
    for (outputs, input) in r.outputs.iter().zip(input_names) {
        let Some(first) = outputs.first() else {
            continue;
        };
        let scores = first.data.to_f32();
        for (rank, class) in crate::analysis::parity::top_k(&scores, 5)
            .into_iter()
            .enumerate()
        {
            let mut row = key_cells(scenario, r);
            row.extend([
                input.clone(),
                (rank + 1).to_string(),
                class.to_string(),
                labels
                    .and_then(|l| l.get(class))
                    .cloned()
                    .unwrap_or_default(),
                format!("{:.6}", scores[class]),
            ]);
            out.write(row)?;
        }
    }
    out.flush()
}
