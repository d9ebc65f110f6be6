//! `summary.csv` (one tidy row per measurement), `samples.csv` (every latency, long format),
//! `predictions.csv` (classifiers' top-5) and `profile.csv` (profiled passes, a row per engine node), all
//! starting with the same key columns. Each file has one row type
//! here, which writes it and reads it back (`results`), so the two can never disagree. Each measurement's rows
//! are written as soon as it ends, so that a crash or Ctrl-C keeps what was measured.

use crate::analysis::operators::{Graph, OperatorClass};
use crate::analysis::Summary;
use crate::key::{MeasurementKey, SeriesKey};
use crate::record::{MeasurementRecord, ProfileRecord, Status};
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Defines a row type whose columns start with the key columns every file shares (`scenario, device, model,
/// backend, format, threads, timing, round`), with `key()` and `keyed()` (a row holding only them).
macro_rules! keyed_row {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            pub scenario: String,
            pub device: String,
            pub model: String,
            pub backend: String,
            pub format: String,
            pub threads: usize,
            pub timing: String,
            pub round: usize,
            $($(#[$field_meta])* pub $field: $type,)*
        }

        impl $name {
            /// The measurement this row belongs to.
            pub fn key(&self) -> MeasurementKey {
                MeasurementKey {
                    series: SeriesKey {
                        device: self.device.clone(),
                        model: self.model.clone(),
                        backend: self.backend.clone(),
                        format: self.format.clone(),
                        threads: self.threads,
                        timing: self.timing.clone(),
                    },
                    round: self.round,
                }
            }

            /// A row of `record`'s measurement with only its key columns filled.
            fn keyed(scenario: &str, record: &MeasurementRecord) -> $name {
                let plan = &record.plan;
                $name {
                    scenario: scenario.to_string(),
                    device: record.device.clone(),
                    model: plan.model.clone(),
                    backend: plan.backend.clone(),
                    format: plan.format.to_string(),
                    threads: plan.threads,
                    timing: plan.timing.as_str().to_string(),
                    round: plan.round as usize,
                    ..$name::default()
                }
            }
        }
    };
}

keyed_row! {
    /// One row of summary.csv. Reading tolerates columns it does not know and fills columns an older folder
    /// lacks with their defaults, so that older and newer folders load.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct SummaryRow {
        /// `local`, `ssh` or `emulated`; empty in folders from before targets.
        pub target: String,
        pub engine_version: String,
        pub status: String,
        pub validity: String,
        pub validity_reasons: String,
        pub runs: Option<usize>,
        #[serde(serialize_with = "fixed6")]
        pub mean_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub median_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub median_low_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub median_high_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub min_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub max_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub std_ms: Option<f64>,
        /// Blank where the runs are too few to support them (analysis::evidence); the count they need is then
        /// in the `_runs_needed` column.
        #[serde(serialize_with = "fixed6")]
        pub p90_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub p99_ms: Option<f64>,
        pub p90_runs_needed: Option<u64>,
        pub p99_runs_needed: Option<u64>,
        pub outliers: Option<usize>,
        /// What ended the timed runs: `minimums`, `precision` (the target was met) or `time_cap`.
        pub stopped_by: String,
        /// How precisely the median is known: the 95% interval's half-width, in % of the median.
        #[serde(serialize_with = "fixed6")]
        pub median_precision_pct: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub throughput_per_s: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub load_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub conversion_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub first_run_ms: Option<f64>,
        /// Handing tensors to and from the worker process, both sides (not part of any timing).
        #[serde(serialize_with = "fixed6")]
        pub handover_ms: Option<f64>,
        /// When the measurement began and ended, UTC (empty in folders from before they were recorded).
        pub started_utc: String,
        pub ended_utc: String,
        pub warmup_runs: u64,
        #[serde(serialize_with = "fixed6")]
        pub peak_rss_mb: Option<f64>,
        /// The worker's resident memory after the load and after the timed runs.
        #[serde(serialize_with = "fixed6")]
        pub rss_after_load_mb: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub rss_after_runs_mb: Option<f64>,
        /// Other processes' and the hypervisor's share of the machine's CPU time during the timed runs, and
        /// what disturbed the row in words (empty when nothing did).
        #[serde(serialize_with = "fixed6")]
        pub others_cpu_percent: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub steal_percent: Option<f64>,
        pub disturbed: String,
        #[serde(serialize_with = "fixed6")]
        pub model_file_mb: Option<f64>,
        pub model_macs: Option<u64>,
        /// Achieved multiply-accumulates per second at the median latency.
        #[serde(serialize_with = "fixed6")]
        pub gmac_per_s: Option<f64>,
        pub observed_threads: Option<u64>,
        /// The cores the worker was pinned to, space-separated.
        pub pinned_cpus: String,
        /// How many prepared inputs the measurement cycled through.
        pub inputs: usize,
        pub input_adaptation: String,
        pub model_adaptation: String,
        /// The settings the engine applied, `key=value; key=value`.
        pub settings: String,
        /// The model this row's model is a variant of (technique studies); empty otherwise.
        pub baseline_model: String,
        pub parity: String,
        pub parity_reference: String,
        pub max_abs_diff: Option<f64>,
        pub max_rel_diff: Option<f64>,
        #[serde(serialize_with = "fixed8")]
        pub min_cosine: Option<f64>,
        /// Inputs whose top-1 class (top-5 set) equals the reference's, of `parity_inputs`; classifiers only.
        pub top1_agreed: Option<usize>,
        pub top5_agreed: Option<usize>,
        /// The inputs the parity check compared.
        pub parity_inputs: Option<usize>,
        pub parity_reasons: String,
        pub error: String,
    }
}

keyed_row! {
    /// One row of samples.csv: one timed run.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct SampleRow {
        pub run: usize,
        /// Which prepared input the run used.
        pub input: usize,
        #[serde(serialize_with = "fixed6_value")]
        pub latency_ms: f64,
    }
}

keyed_row! {
    /// One row of predictions.csv: one of an input's top-5 classes.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct PredictionRow {
        pub input: String,
        pub rank: usize,
        pub class: usize,
        pub label: String,
        #[serde(serialize_with = "fixed6_value")]
        pub score: f64,
    }
}

keyed_row! {
    /// One row of profile.csv: one node of the graph an engine executed, in a measurement's profiled pass
    /// (`[measure] profile`); or, with an empty node, why the pass has no nodes (`status`, `error`).
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ProfileRow {
        /// `ok`, or how the profiled pass failed (`unsupported` where the engine cannot profile).
        pub status: String,
        /// The node's name and operator as the engine reports them.
        pub node: String,
        pub op_type: String,
        /// The operator class, the same for every engine (see `analysis::operators`).
        pub class: String,
        /// Calls over the profiled runs, and the node's time over them.
        pub calls: u64,
        #[serde(serialize_with = "fixed6_value")]
        pub total_us: f64,
        #[serde(serialize_with = "fixed6_value")]
        pub mean_us: f64,
        /// The node's time in one run.
        #[serde(serialize_with = "fixed6_value")]
        pub per_run_us: f64,
        /// The node's share of the time of all the engine's nodes.
        #[serde(serialize_with = "fixed6_value")]
        pub share: f64,
        pub profiled_runs: usize,
        /// One profiled run, profiler included, against the measurement's unprofiled median: their ratio is
        /// what profiling cost.
        #[serde(serialize_with = "fixed6")]
        pub profiled_run_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub unprofiled_median_ms: Option<f64>,
        #[serde(serialize_with = "fixed6")]
        pub profiling_overhead: Option<f64>,
        /// Why a node took no time, or that the engine fused nodes.
        pub note: String,
        pub error: String,
    }
}

impl ProfileRow {
    /// The rows of `record`'s profiled pass `profile`, its nodes classified against the model file's `graph`.
    pub fn of(
        scenario: &str,
        record: &MeasurementRecord,
        profile: &ProfileRecord,
        graph: &Graph,
    ) -> Vec<ProfileRow> {
        let keyed = ProfileRow {
            status: profile.status.as_str().to_string(),
            profiled_runs: profile.runs,
            profiled_run_ms: profile.profiled_run_ms,
            unprofiled_median_ms: record.summary.as_ref().map(|s| s.median_ms),
            error: profile.error.clone().unwrap_or_default(),
            ..ProfileRow::keyed(scenario, record)
        };
        let keyed = ProfileRow {
            profiling_overhead: keyed
                .profiled_run_ms
                .zip(keyed.unprofiled_median_ms)
                .map(|(profiled, median)| profiled / median),
            ..keyed
        };
        if profile.status != Status::Ok {
            return vec![keyed];
        }
        let total: f64 = profile.nodes.iter().map(|n| n.total_us).sum();
        let runs = profile.runs.max(1) as f64;
        profile
            .nodes
            .iter()
            .map(|node| ProfileRow {
                node: node.node.clone(),
                op_type: node.op_type.clone(),
                class: graph
                    .classify(&node.node, &node.op_type)
                    .as_str()
                    .to_string(),
                calls: node.calls,
                total_us: node.total_us,
                mean_us: node.total_us / node.calls.max(1) as f64,
                per_run_us: node.total_us / runs,
                share: if total > 0.0 {
                    node.total_us / total
                } else {
                    0.0
                },
                note: graph.note(&node.node, &node.op_type, node.calls, node.total_us),
                ..keyed.clone()
            })
            .collect()
    }

    /// The row's operator class (`Other` for a class this build does not know).
    pub fn operator_class(&self) -> OperatorClass {
        OperatorClass::parse(&self.class).unwrap_or(OperatorClass::Other)
    }
}

impl SummaryRow {
    /// `agreed/inputs` for the top-1 (or, with `top5`, top-5) agreement; empty for non-classifiers.
    pub fn agreement_text(&self, top5: bool) -> String {
        let agreed = if top5 {
            self.top5_agreed
        } else {
            self.top1_agreed
        };
        match (agreed, self.parity_inputs) {
            (Some(agreed), Some(inputs)) => format!("{agreed}/{inputs}"),
            _ => String::new(),
        }
    }

    pub fn series(&self) -> SeriesKey {
        self.key().series
    }

    pub fn measured(&self) -> bool {
        self.status == "ok" && self.median_ms.is_some()
    }

    /// The row of one measurement's record.
    pub fn of(scenario: &str, r: &MeasurementRecord) -> SummaryRow {
        let s = r.summary.as_ref();
        let (p90, p99) = (s.map(Summary::supported_p90), s.map(Summary::supported_p99));
        let parity = r.parity.as_ref();
        let agreement = parity.and_then(|p| p.agreement.as_ref());
        let settings: Vec<String> = r
            .settings
            .iter()
            .map(|s| format!("{}={}", s.key, s.value))
            .collect();
        SummaryRow {
            target: r.target.clone(),
            started_utc: r.started_utc.clone(),
            ended_utc: r.ended_utc.clone(),
            engine_version: r.engine_version.clone(),
            status: r.status.as_str().to_string(),
            validity: r
                .validity
                .as_ref()
                .map_or("", |v| v.verdict.as_str())
                .to_string(),
            validity_reasons: r
                .validity
                .as_ref()
                .map_or(String::new(), |v| v.reasons.join("; ")),
            runs: s.map(|s| s.runs),
            mean_ms: s.map(|s| s.mean_ms),
            median_ms: s.map(|s| s.median_ms),
            median_low_ms: s.map(|s| s.median_low_ms),
            median_high_ms: s.map(|s| s.median_high_ms),
            min_ms: s.map(|s| s.min_ms),
            max_ms: s.map(|s| s.max_ms),
            std_ms: s.map(|s| s.std_ms),
            p90_ms: p90.and_then(Result::ok),
            p99_ms: p99.and_then(Result::ok),
            p90_runs_needed: p90.and_then(Result::err),
            p99_runs_needed: p99.and_then(Result::err),
            outliers: s.map(|s| s.outliers),
            stopped_by: r
                .stopped_by
                .map_or(String::new(), |by| by.as_str().to_string()),
            median_precision_pct: s.and_then(Summary::median_precision).map(|p| p * 100.0),
            throughput_per_s: s.map(|s| s.throughput_per_s),
            load_ms: r.load_ms,
            conversion_ms: r.conversion_ms,
            first_run_ms: r.first_run_ms,
            handover_ms: r.handover_ms,
            warmup_runs: r.warmup_runs,
            peak_rss_mb: r.peak_rss_kb.map(megabytes),
            rss_after_load_mb: r.rss_after_load_kb.map(megabytes),
            rss_after_runs_mb: r.rss_after_runs_kb.map(megabytes),
            others_cpu_percent: r.cpu_shares.map(|s| s.others_percent),
            steal_percent: r.cpu_shares.map(|s| s.steal_percent),
            disturbed: r.cpu_shares.and_then(|s| s.describe()).unwrap_or_default(),
            model_file_mb: r.model_file_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
            model_macs: r.model_macs,
            gmac_per_s: r
                .model_macs
                .zip(s)
                .map(|(m, s)| m as f64 / (s.median_ms * 1e-3) / 1e9),
            observed_threads: r.observed_threads,
            pinned_cpus: r.pinned_cpus.as_ref().map_or(String::new(), |cpus| {
                let cpus: Vec<String> = cpus.iter().map(usize::to_string).collect();
                cpus.join(" ")
            }),
            inputs: r.outputs.len(),
            input_adaptation: r.adaptation.as_str().to_string(),
            model_adaptation: r.setting("model_adaptation").unwrap_or("none").to_string(),
            settings: settings.join("; "),
            baseline_model: r.plan.baseline.clone().unwrap_or_default(),
            parity: parity.map_or("", |p| p.verdict.as_str()).to_string(),
            parity_reference: parity.map_or(String::new(), |p| p.reference.clone()),
            max_abs_diff: agreement.map(|a| a.max_abs_diff),
            max_rel_diff: agreement.map(|a| a.max_rel_diff),
            min_cosine: agreement.map(|a| a.min_cosine),
            top1_agreed: agreement.and_then(|a| a.top1_agree),
            top5_agreed: agreement.and_then(|a| a.top5_agree),
            parity_inputs: agreement.map(|a| a.inputs),
            parity_reasons: parity.map_or(String::new(), |p| p.reasons.join("; ")),
            error: r.error.clone().unwrap_or_default(),
            ..SummaryRow::keyed(scenario, r)
        }
    }
}

impl SampleRow {
    /// Every timed run of one measurement's record.
    pub fn of(scenario: &str, r: &MeasurementRecord) -> Vec<SampleRow> {
        let inputs = r.outputs.len().max(1);
        let rotation = r.plan.pin.map_or(
            crate::measure::Rotation::Cycle,
            crate::measure::Rotation::Pinned,
        );
        r.samples_ns
            .iter()
            .enumerate()
            .map(|(run, ns)| SampleRow {
                run,
                input: rotation.index(run, inputs),
                latency_ms: *ns as f64 / 1e6,
                ..SampleRow::keyed(scenario, r)
            })
            .collect()
    }
}

impl PredictionRow {
    /// Each input's top-5 classes (index, label, score) from the first output of a classifier.
    pub fn of(
        scenario: &str,
        r: &MeasurementRecord,
        input_names: &[String],
        labels: Option<&[String]>,
    ) -> Vec<PredictionRow> {
        let mut rows = Vec::new();
        for (outputs, input) in r.outputs.iter().zip(input_names) {
            let Some(first) = outputs.first() else {
                continue;
            };
            let scores = first.data.to_f32();
            for (rank, class) in crate::analysis::parity::top_k(&scores, 5)
                .into_iter()
                .enumerate()
            {
                rows.push(PredictionRow {
                    input: input.clone(),
                    rank: rank + 1,
                    class,
                    label: labels
                        .and_then(|l| l.get(class))
                        .cloned()
                        .unwrap_or_default(),
                    score: scores[class] as f64,
                    ..PredictionRow::keyed(scenario, r)
                });
            }
        }
        rows
    }
}

/// Rounded to `decimals` places: the files carry what was resolved, not float noise. A number, so that the
/// same row serialises as a CSV cell and as a JSON number (results.json).
pub fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn fixed6<S: Serializer>(value: &Option<f64>, out: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => out.serialize_f64(rounded(*v, 6)),
        None => out.serialize_none(),
    }
}

fn fixed6_value<S: Serializer>(value: &f64, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_f64(rounded(*value, 6))
}

fn fixed8<S: Serializer>(value: &Option<f64>, out: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => out.serialize_f64(rounded(*v, 8)),
        None => out.serialize_none(),
    }
}

/// The columns of a row type, in file order.
pub fn columns<T: Serialize + Default>() -> Vec<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer
        .serialize(T::default())
        .expect("a default row serialises");
    let bytes = writer.into_inner().expect("writing to memory");
    let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers().expect("the header just written");
    header.iter().map(str::to_string).collect()
}

pub fn summary_columns() -> Vec<String> {
    columns::<SummaryRow>()
}

pub fn sample_columns() -> Vec<String> {
    columns::<SampleRow>()
}

/// Reads every row of a CSV file written by a [`RowWriter`] of `T`; an error names the file, the line and the
/// column. A file without even its header row (cut off before its first write) is an error, not a file of no rows.
pub fn read_rows<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut reader = ::csv::Reader::from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = reader
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .clone();
    if header.is_empty() {
        anyhow::bail!(
            "{} is empty: it has not even its header row (the run that wrote it may have been cut off before \
             its first write)",
            path.display()
        );
    }
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| {
            // Line 1 is the header.
            row.map_err(|e| in_words(e, &header))
                .with_context(|| format!("{}: line {}", path.display(), i + 2))
        })
        .collect()
}

/// A CSV error with the column's name where the csv crate gives its position ("field 5").
fn in_words(error: ::csv::Error, header: &::csv::StringRecord) -> anyhow::Error {
    if let ::csv::ErrorKind::Deserialize { err, .. } = error.kind() {
        if let Some(column) = err.field().and_then(|f| header.get(f as usize)) {
            return anyhow::anyhow!("column `{column}`: {}", err.kind());
        }
    }
    error.into()
}

/// A CSV file of `T` rows created new (never overwriting), written a measurement at a time: its rows are
/// encoded in memory and then written in one go. When the write fails (disk full, file too large) the file is
/// cut back to the end of the last complete write, so that what is there stays valid CSV.
pub struct RowWriter<T> {
    path: PathBuf,
    file: File,
    /// Bytes of the file known to be complete.
    written: u64,
    rows: PhantomData<T>,
}

impl<T: Serialize + Default> RowWriter<T> {
    pub fn create(path: &Path) -> Result<RowWriter<T>> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = RowWriter {
            path: path.to_path_buf(),
            file,
            written: 0,
            rows: PhantomData,
        };
        let mut header = ::csv::Writer::from_writer(Vec::new());
        header.write_record(columns::<T>())?;
        writer.write_bytes(
            header
                .into_inner()
                .map_err(|e| anyhow::anyhow!("{}", e.error()))?,
        )?;
        Ok(writer)
    }

    /// Writes one measurement's rows in one write.
    pub fn add(&mut self, rows: &[T]) -> Result<()> {
        let mut pending = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        for row in rows {
            pending.serialize(row)?;
        }
        let bytes = pending
            .into_inner()
            .map_err(|e| anyhow::anyhow!("encoding rows: {}", e.error()))?;
        self.write_bytes(bytes)
    }

    /// How many bytes of the file are complete rows: a mark to cut back to.
    pub fn mark(&self) -> u64 {
        self.written
    }

    /// Cuts the file back to `mark`: the rows written since then go (another file of the same measurement
    /// could not be written, and a measurement is on disk whole or not at all).
    pub fn cut_back(&mut self, mark: u64) {
        if self.file.set_len(mark).is_ok() {
            self.written = mark;
        }
    }

    fn write_bytes(&mut self, bytes: Vec<u8>) -> Result<()> {
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

fn megabytes(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file formats are what other tools read: a column renamed or moved is a change to announce.
    #[test]
    fn the_files_keep_their_columns() {
        let key = "scenario device model backend format threads timing round";
        let summary = "target engine_version status validity validity_reasons runs mean_ms median_ms \
            median_low_ms median_high_ms min_ms max_ms std_ms p90_ms p99_ms p90_runs_needed p99_runs_needed outliers stopped_by median_precision_pct throughput_per_s load_ms \
            conversion_ms first_run_ms handover_ms started_utc ended_utc warmup_runs peak_rss_mb rss_after_load_mb rss_after_runs_mb others_cpu_percent steal_percent disturbed model_file_mb model_macs gmac_per_s \
            observed_threads pinned_cpus inputs input_adaptation model_adaptation settings baseline_model parity \
            parity_reference max_abs_diff max_rel_diff min_cosine top1_agreed top5_agreed parity_inputs parity_reasons \
            error";
        let words =
            |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_string).collect() };
        assert_eq!(summary_columns(), words(&format!("{key} {summary}")));
        assert_eq!(
            sample_columns(),
            words(&format!("{key} run input latency_ms"))
        );
        assert_eq!(
            columns::<PredictionRow>(),
            words(&format!("{key} input rank class label score"))
        );
        assert_eq!(
            columns::<ProfileRow>(),
            words(&format!(
                "{key} status node op_type class calls total_us mean_us per_run_us share profiled_runs \
                 profiled_run_ms unprofiled_median_ms profiling_overhead note error"
            ))
        );
    }

    #[test]
    fn a_row_reads_back_as_it_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        let row = SummaryRow {
            scenario: "s".into(),
            model: "m".into(),
            threads: 2,
            round: 1,
            median_ms: Some(1.5),
            max_abs_diff: Some(3.1e-5),
            min_cosine: Some(0.99999999),
            settings: "a=1; b=2".into(),
            error: "line one, with a comma".into(),
            ..SummaryRow::default()
        };
        let mut writer = RowWriter::<SummaryRow>::create(&path).unwrap();
        writer.add(std::slice::from_ref(&row)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(",1.5,"), "{text}");
        assert!(text.contains(",0.000031,"), "{text}");
        assert!(text.contains(",0.99999999,"), "{text}");
        assert_eq!(read_rows::<SummaryRow>(&path).unwrap(), [row]);
        assert!(
            RowWriter::<SummaryRow>::create(&path).is_err(),
            "an existing file is never overwritten"
        );
    }
}
