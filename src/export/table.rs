//! The table shown in the terminal at the end of a run: ms per frame, and how far from the fastest.

use crate::key::SeriesKey;
use crate::plan::Timing;
use crate::record::{MeasurementRecord, Status};
use std::fmt::Write;

pub fn render(records: &[MeasurementRecord]) -> String {
    let header = [
        "model",
        "backend",
        "format",
        "threads",
        "median ms",
        "95% interval",
        "p90 ms",
        "load ms",
        "first ms",
        "vs fastest",
        "verdict",
        "parity",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in records {
        let fastest = records
            .iter()
            .filter(|o| o.plan.model == r.plan.model && o.device == r.device)
            .filter_map(|o| o.summary.as_ref().map(|s| s.median_ms))
            .fold(f64::INFINITY, f64::min);
        let row = match (&r.summary, r.status) {
            (Some(s), Status::Ok) => vec![
                format!("{:.3}", s.median_ms),
                format!("{:.3}–{:.3}", s.median_low_ms, s.median_high_ms),
                match s.supported_p90() {
                    Ok(p90) => format!("{p90:.3}"),
                    Err(needed) => format!("(needs {needed} runs)"),
                },
                r.load_ms.map_or(String::new(), |v| format!("{v:.1}")),
                r.first_run_ms.map_or(String::new(), |v| format!("{v:.2}")),
                format!("×{:.2}", s.median_ms / fastest),
                r.validity
                    .as_ref()
                    .map_or("", |v| v.verdict.as_str())
                    .to_string(),
                r.parity
                    .as_ref()
                    .map_or("", |p| p.verdict.as_str())
                    .to_string(),
            ],
            _ => {
                let mut cells = vec![String::new(); 6];
                cells.push(r.status.as_str().to_string());
                cells.push(String::new());
                cells
            }
        };
        let mut full = vec![
            r.plan.model.clone(),
            r.plan.backend.clone(),
            match r.plan.timing {
                Timing::Inference => r.plan.format.to_string(),
                Timing::EndToEnd => format!("{} end-to-end", r.plan.format),
            },
            if records.iter().any(|o| o.plan.round > 0) {
                format!("{} r{}", r.plan.threads, r.plan.round + 1)
            } else {
                r.plan.threads.to_string()
            },
        ];
        full.extend(row);
        rows.push(full);
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    // Text left-aligned, numbers right-aligned.
    let mut out = aligned(&header, &rows, ("", "  "), |i| (3..10).contains(&i));
    out.push_str(&notes(records));
    out
}

/// `header` and `rows` in columns as wide as their widest cell, each line starting with `indent` and its cells
/// separated by `gap`; the columns `right_aligned` says are padded on the left.
pub fn aligned(
    header: &[String],
    rows: &[Vec<String>],
    (indent, gap): (&str, &str),
    right_aligned: impl Fn(usize) -> bool,
) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for cells in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                let pad = " ".repeat(width - cell.chars().count());
                if right_aligned(i) {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect();
        let _ = writeln!(out, "{indent}{}", padded.join(gap).trim_end());
    }
    out
}

/// The lines under the table: parity per measurement, drift between rounds, adapted models, errors and
/// validity warnings.
fn notes(records: &[MeasurementRecord]) -> String {
    let mut out = String::new();
    for r in records {
        if let Some(line) = agreement_line(r) {
            let _ = writeln!(out, "{line}");
        }
    }
    for line in drift_lines(records) {
        let _ = writeln!(out, "{line}");
    }
    for r in records {
        if let Some(how) = r.setting("model_adaptation").filter(|how| *how != "none") {
            let _ = writeln!(
                out,
                "* {} {} {} threads={} ran an adapted model: {}",
                r.plan.model, r.plan.backend, r.plan.format, r.plan.threads, how
            );
        }
        if let Some(error) = &r.error {
            let _ = writeln!(
                out,
                "! {} {} {} threads={}: {error}",
                r.plan.model, r.plan.backend, r.plan.format, r.plan.threads
            );
        }
        if let Some(v) = r.validity.as_ref().filter(|v| !v.reasons.is_empty()) {
            let _ = writeln!(
                out,
                "~ {} {} {} threads={} is {}: {}",
                r.plan.model,
                r.plan.backend,
                r.plan.format,
                r.plan.threads,
                v.verdict.as_str(),
                v.reasons.join("; ")
            );
        }
    }
    out
}

/// One compact line per measurement: how its answers compare with the reference's.
fn agreement_line(r: &MeasurementRecord) -> Option<String> {
    let parity = r.parity.as_ref()?;
    let who = format!(
        "{} {} {} threads={}",
        r.plan.model, r.plan.backend, r.plan.format, r.plan.threads
    );
    let Some(a) = &parity.agreement else {
        return Some(format!(
            "= {who}: parity {}: {}",
            parity.verdict.as_str(),
            parity.reasons.join("; ")
        ));
    };
    let mut figures = Vec::new();
    if let (Some(top1), Some(top5)) = (a.top1_agree, a.top5_agree) {
        figures.push(format!("top-1 {top1}/{n}, top-5 {top5}/{n}", n = a.inputs));
    }
    figures.push(format!("cosine {:.6}", a.min_cosine));
    figures.push(format!("max |diff| {:.2e}", a.max_abs_diff));
    let mut line = format!(
        "= {who}: parity {} against {}: {}",
        parity.verdict.as_str(),
        parity.reference,
        figures.join(", ")
    );
    if !parity.reasons.is_empty() {
        line.push_str(&format!(" ({})", parity.reasons.join("; ")));
    }
    Some(line)
}

/// For measurements repeated in rounds: each round's median and the drift, (slowest − fastest) / fastest.
pub fn drift_lines(records: &[MeasurementRecord]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut seen: Vec<SeriesKey> = Vec::new();
    for r in records.iter().filter(|r| r.plan.round == 0) {
        let series = r.key().series;
        if seen.contains(&series) {
            continue;
        }
        let medians: Vec<f64> = records
            .iter()
            .filter(|o| o.key().series == series)
            .filter_map(|o| o.summary.as_ref().map(|s| s.median_ms))
            .collect();
        seen.push(series);
        if medians.len() < 2 {
            continue;
        }
        let (low, high) = medians
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(l, h), &m| (l.min(m), h.max(m)));
        let rounds: Vec<String> = medians.iter().map(|m| format!("{m:.3}")).collect();
        lines.push(format!(
            "≈ {} {} {} threads={}: medians by round {} ms, drift {:.1}%",
            r.plan.model,
            r.plan.backend,
            r.plan.format,
            r.plan.threads,
            rounds.join(", "),
            (high - low) / low * 100.0
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summarize;
    use crate::inputs::InputDescription;
    use crate::measure::MeasureRules;
    use crate::plan::MeasurementPlan;
    use harness_backend_api::ModelFormat;

    fn record(round: u32, median_ms: f64) -> MeasurementRecord {
        let plan = MeasurementPlan {
            model: "m".into(),
            baseline: None,
            quantized: false,
            model_path: "/nonexistent/m.onnx".into(),
            format: ModelFormat::Onnx,
            backend: "b".into(),
            engine: "b".into(),
            threads: 1,
            timing: Timing::Inference,
            round,
            options: Default::default(),
            inputs: vec![InputDescription {
                shape: vec![1],
                ..InputDescription::default()
            }],
            pin: None,
            rules: MeasureRules::default(),
        };
        let mut r = MeasurementRecord::failed(&plan, "d", "1", Status::Ok, String::new());
        r.error = None;
        r.summary = summarize(&[(median_ms * 1e6) as u64]);
        r
    }

    #[test]
    fn drift_between_rounds_is_reported() {
        let lines = drift_lines(&[record(0, 10.0), record(1, 11.0), record(2, 10.5)]);
        assert_eq!(
            lines,
            ["≈ m b onnx threads=1: medians by round 10.000, 11.000, 10.500 ms, drift 10.0%"]
        );
        assert!(
            drift_lines(&[record(0, 10.0)]).is_empty(),
            "one round has no drift"
        );
    }
}
