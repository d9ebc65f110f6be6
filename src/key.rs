//! What identifies a measurement, defined once: rows are written under it, read back by it, resumed, merged
//! across rounds, compared between folders and checked against the parity reference with it.

use serde::{Deserialize, Serialize};

/// A measurement repeated over rounds (and over runs, and folders): device, model, engine entry, format,
/// threads and what was timed. Rounds of one series are merged in charts and comparisons.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    pub device: String,
    pub model: String,
    /// The scenario's name for the engine entry (several entries may run one engine with other options).
    pub backend: String,
    pub format: String,
    pub threads: usize,
    /// `inference` or `end_to_end`.
    pub timing: String,
}

impl SeriesKey {
    /// `backend · format`, with `end-to-end` when the row times preprocessing too: what a chart's category says.
    pub fn engine_label(&self) -> String {
        let mut label = format!("{} · {}", self.backend, self.format);
        if self.timing != "inference" {
            label.push_str(" · end-to-end");
        }
        label
    }
}

/// One measurement: one round of a series. A results folder holds at most one row per key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeasurementKey {
    pub series: SeriesKey,
    /// 0 for the first round.
    pub round: usize,
}
