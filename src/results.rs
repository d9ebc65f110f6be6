//! Reading results folders back: the input of `harness report` and `harness compare`, which work from the
//! files a run wrote (possibly on another device), never from a run's memory.

use crate::analysis::operators::OperatorClass;
use crate::export::csv::{read_rows, ProfileRow, SampleRow, SummaryRow};
use crate::export::run_status::RunStatus;
use crate::key::SeriesKey;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether two paths name one folder (compared once resolved, so `x` and `./x/` are the same).
pub fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A results folder as written by `harness run`.
#[derive(Clone, Debug)]
pub struct ResultFolder {
    pub path: PathBuf,
    pub rows: Vec<SummaryRow>,
    /// Every latency of each measurement, all rounds pooled, in run order.
    pub samples: BTreeMap<SeriesKey, Vec<f64>>,
    /// environment.json as written: shown in reports field by field.
    pub environment: serde_json::Value,
    /// run.json, or None when the run never wrote it (it ended before it could).
    pub run: Option<RunStatus>,
    /// profile.csv's rows; none when the run did not profile.
    pub profile: Vec<ProfileRow>,
}

impl ResultFolder {
    /// One core's measured multiply-accumulate peak on the device, in GMAC/s (environment.json's `fma_peak`).
    pub fn peak_gmacs_per_core(&self) -> Option<f64> {
        self.environment["fma_peak"]["gmacs_per_core"].as_f64()
    }

    pub fn load(path: &Path) -> Result<ResultFolder> {
        let summary_path = path.join("summary.csv");
        if !summary_path.is_file() {
            anyhow::bail!(
                "{} is not a results folder: it has no summary.csv",
                path.display()
            );
        }
        let rows: Vec<SummaryRow> = read_rows(&summary_path)?;
        let mut samples: BTreeMap<SeriesKey, Vec<f64>> = BTreeMap::new();
        let samples_path = path.join("samples.csv");
        if samples_path.is_file() {
            for sample in read_rows::<SampleRow>(&samples_path)? {
                samples
                    .entry(sample.key().series)
                    .or_default()
                    .push(sample.latency_ms);
            }
        }
        let environment = match std::fs::read_to_string(path.join("environment.json")) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!("{}: environment.json is not valid JSON", path.display())
            })?,
            Err(_) => serde_json::Value::Null,
        };
        let run = std::fs::read_to_string(path.join("run.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<RunStatus>(&text).ok());
        let profile_path = path.join("profile.csv");
        let profile = if profile_path.is_file() {
            read_rows(&profile_path)?
        } else {
            Vec::new()
        };
        Ok(ResultFolder {
            path: path.to_path_buf(),
            rows,
            samples,
            environment,
            run,
            profile,
        })
    }

    /// run.json's status (`complete`, `interrupted`), or `unfinished` when the run never wrote it.
    pub fn run_state(&self) -> &'static str {
        self.run
            .as_ref()
            .map_or("unfinished", |r| r.status.as_str())
    }

    /// The device names of the rows, in first-seen order.
    pub fn devices(&self) -> Vec<String> {
        let mut devices: Vec<String> = Vec::new();
        for row in &self.rows {
            if !devices.contains(&row.device) {
                devices.push(row.device.clone());
            }
        }
        devices
    }
}

/// The medians of one measurement's rounds, across `folders`.
pub fn round_medians(folders: &[ResultFolder], key: &SeriesKey) -> Vec<f64> {
    folders
        .iter()
        .flat_map(|f| &f.rows)
        .filter(|r| r.measured() && r.series() == *key)
        .filter_map(|r| r.median_ms)
        .collect()
}

/// One measurement with its rounds merged: what charts and comparisons show.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub key: SeriesKey,
    pub scenario: String,
    pub engine_version: String,
    /// The median of the rounds' medians.
    pub median_ms: f64,
    /// The 95% interval of the median; over several rounds, the span of the rounds' intervals (wider, never
    /// narrower than any round's own).
    pub low_ms: f64,
    pub high_ms: f64,
    pub load_ms: Option<f64>,
    /// Model conversion for the engine, when one ran (e.g. pnnx for NCNN; a cached conversion costs nothing).
    pub conversion_ms: Option<f64>,
    pub first_run_ms: Option<f64>,
    pub rounds: usize,
    /// The worst validity verdict of the rounds.
    pub validity: String,
    pub parity: String,
}

/// Merges the measured rows of several folders into one measurement per key, in first-seen order.
pub fn measurements(folders: &[ResultFolder]) -> Vec<Measurement> {
    let mut grouped: Vec<(SeriesKey, Vec<&SummaryRow>)> = Vec::new();
    for row in folders
        .iter()
        .flat_map(|f| &f.rows)
        .filter(|r| r.measured())
    {
        let key = row.series();
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, rows)) => rows.push(row),
            None => grouped.push((key, vec![row])),
        }
    }
    grouped
        .into_iter()
        .map(|(key, rows)| {
            let mut medians: Vec<f64> = rows.iter().filter_map(|r| r.median_ms).collect();
            medians.sort_by(f64::total_cmp);
            let median = crate::analysis::percentile(&medians, 50.0);
            let low = rows
                .iter()
                .filter_map(|r| r.median_low_ms)
                .fold(median, f64::min);
            let high = rows
                .iter()
                .filter_map(|r| r.median_high_ms)
                .fold(median, f64::max);
            let first = rows[0];
            Measurement {
                scenario: first.scenario.clone(),
                engine_version: first.engine_version.clone(),
                median_ms: median,
                low_ms: low,
                high_ms: high,
                load_ms: mean(rows.iter().filter_map(|r| r.load_ms)),
                conversion_ms: mean(rows.iter().filter_map(|r| r.conversion_ms)),
                first_run_ms: mean(rows.iter().filter_map(|r| r.first_run_ms)),
                rounds: rows.len(),
                validity: worst_validity(rows.iter().map(|r| r.validity.as_str())),
                parity: first.parity.clone(),
                key,
            }
        })
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (count > 0).then(|| sum / count as f64)
}

fn worst_validity<'a>(verdicts: impl Iterator<Item = &'a str>) -> String {
    let rank = |v: &str| match v {
        "valid" => 0,
        "noisy" => 1,
        _ => 2,
    };
    verdicts
        .max_by_key(|v| rank(v))
        .unwrap_or("invalid")
        .to_string()
}

/// One measurement's profiled pass read back: its nodes (none when it failed, with why).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineProfile {
    pub key: SeriesKey,
    /// `ok`, or how the pass failed; `error` says why.
    pub status: String,
    pub error: String,
    pub nodes: Vec<ProfileRow>,
    pub profiled_run_ms: Option<f64>,
    pub unprofiled_median_ms: Option<f64>,
    /// What profiling cost, as profile.csv states it: a profiled run's time over the unprofiled median.
    pub profiling_overhead: Option<f64>,
}

impl EngineProfile {
    /// Time in one run per operator class, in microseconds, in `OperatorClass::ALL`'s order.
    pub fn class_times(&self) -> [f64; OperatorClass::ALL.len()] {
        let mut times = [0.0; OperatorClass::ALL.len()];
        for node in &self.nodes {
            let at = OperatorClass::ALL
                .iter()
                .position(|&c| c == node.operator_class())
                .expect("ALL holds every class");
            times[at] += node.per_run_us;
        }
        times
    }

    /// The nodes' time in one run, in microseconds.
    pub fn total_us(&self) -> f64 {
        self.nodes.iter().map(|n| n.per_run_us).sum()
    }
}

/// Every profiled pass in the folders, in the order they were written.
pub fn profiles(folders: &[ResultFolder]) -> Vec<EngineProfile> {
    let mut profiles: Vec<EngineProfile> = Vec::new();
    for row in folders.iter().flat_map(|f| &f.profile) {
        let key = row.key().series;
        let at = match profiles.iter().position(|p| p.key == key) {
            Some(at) => at,
            None => {
                profiles.push(EngineProfile {
                    key,
                    status: row.status.clone(),
                    error: row.error.clone(),
                    nodes: Vec::new(),
                    profiled_run_ms: row.profiled_run_ms,
                    unprofiled_median_ms: row.unprofiled_median_ms,
                    profiling_overhead: row.profiling_overhead,
                });
                profiles.len() - 1
            }
        };
        if !row.node.is_empty() {
            profiles[at].nodes.push(row.clone());
        }
    }
    profiles
}
