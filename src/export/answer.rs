//! The short answer a run ends with: per model, one row per engine and format, one column per thread count
//! (the median, over rounds when there are several), the fastest of each column marked, and whether the
//! answers agree with the reference; then which ran fastest and by how much; then each warning once. The
//! per-round detail is `table.rs` (`run --verbose`), `report.md` and the CSV files.

use crate::export::table::aligned;
use crate::measure::StoppedBy;
use crate::plan::Timing;
use crate::record::{MeasurementRecord, Status};
use std::fmt::Write;

/// One engine · format (· end to end) of one model: a row of the answer.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    label: String,
    /// Per thread count of the model's columns: the rounds' medians, or the status when none ran.
    cells: Vec<Cell>,
    parity: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Medians(Vec<f64>),
    Failed(&'static str),
    Absent,
}

impl Cell {
    /// The median of the rounds' medians.
    fn median(&self) -> Option<f64> {
        let Cell::Medians(medians) = self else {
            return None;
        };
        let mut sorted = medians.clone();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        Some(if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        })
    }

    fn text(&self, fastest: bool) -> String {
        match self {
            Cell::Medians(medians) => {
                let median = self.median().expect("medians");
                let mut text = format!("{median:.3}");
                if medians.len() > 1 {
                    let (low, high) = medians
                        .iter()
                        .fold((f64::INFINITY, 0.0f64), |(l, h), &m| (l.min(m), h.max(m)));
                    text.push_str(&format!(" ±{:.3}", (high - low) / 2.0));
                }
                if fastest {
                    text.push('*');
                }
                text
            }
            Cell::Failed(status) => status.to_string(),
            Cell::Absent => String::new(),
        }
    }
}

fn label(record: &MeasurementRecord) -> String {
    let mut label = format!("{} · {}", record.plan.backend, record.plan.format);
    if record.plan.timing == Timing::EndToEnd {
        label.push_str(" · end to end");
    }
    label
}

/// The answer for `records` (one run, or several merged).
pub fn render(records: &[MeasurementRecord]) -> String {
    let mut out = String::new();
    for (device, model, threads, rows) in models(records) {
        let _ = writeln!(
            out,
            "{model} on {device}: ms per inference, median (* the fastest of its column)"
        );
        out.push_str(&table(&rows, &threads));
        for (column, &count) in threads.iter().enumerate() {
            if let Some(line) = ranking(&rows, column, count) {
                let _ = writeln!(out, "{line}");
            }
        }
        out.push('\n');
    }
    for line in warnings(records) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The same answer as Markdown, for a README or a pull request (`run --export-markdown FILE`).
pub fn markdown(records: &[MeasurementRecord]) -> String {
    let mut out = String::new();
    for (device, model, threads, rows) in models(records) {
        let _ = writeln!(
            out,
            "**{model}** on {device}: ms per inference, median (**bold**: the fastest of its column)\n"
        );
        let columns: Vec<String> = threads.iter().map(|&n| threads_label(n)).collect();
        let _ = writeln!(
            out,
            "| engine · format | {} | parity |",
            columns.join(" | ")
        );
        let _ = writeln!(out, "|---|{}---|", "---:|".repeat(threads.len()));
        let fastest = fastest_per_column(&rows, threads.len());
        for row in &rows {
            let cells: Vec<String> = row
                .cells
                .iter()
                .enumerate()
                .map(|(column, cell)| {
                    let text = cell.text(false);
                    if cell.median().is_some() && cell.median() == fastest[column] {
                        format!("**{text}**")
                    } else {
                        text
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                row.label,
                cells.join(" | "),
                row.parity
            );
        }
        out.push('\n');
        for (column, &count) in threads.iter().enumerate() {
            if let Some(line) = ranking(&rows, column, count) {
                let _ = writeln!(out, "- {line}");
            }
        }
        out.push('\n');
    }
    out
}

/// Per device and model, in first-seen order: its thread counts and its rows.
fn models(records: &[MeasurementRecord]) -> Vec<(&str, &str, Vec<usize>, Vec<Row>)> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in records {
        let key = (r.device.as_str(), r.plan.model.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(device, model)| {
            let of_model: Vec<&MeasurementRecord> = records
                .iter()
                .filter(|r| r.device == device && r.plan.model == model)
                .collect();
            let mut threads: Vec<usize> = of_model.iter().map(|r| r.plan.threads).collect();
            threads.sort_unstable();
            threads.dedup();
            let rows = rows(&of_model, &threads);
            (device, model, threads, rows)
        })
        .collect()
}

/// "1 thread", "2 threads": how columns, series and warnings name a thread count.
pub fn threads_label(threads: usize) -> String {
    format!("{threads} thread{}", if threads == 1 { "" } else { "s" })
}

fn fastest_per_column(rows: &[Row], columns: usize) -> Vec<Option<f64>> {
    (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.cells[column].median())
                .min_by(f64::total_cmp)
        })
        .collect()
}

fn rows(records: &[&MeasurementRecord], threads: &[usize]) -> Vec<Row> {
    let mut labels: Vec<String> = Vec::new();
    for r in records {
        let label = label(r);
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
        .into_iter()
        .map(|label_text| {
            let of_row: Vec<&&MeasurementRecord> =
                records.iter().filter(|r| label(r) == label_text).collect();
            let cells = threads
                .iter()
                .map(|&count| {
                    let runs: Vec<&&&MeasurementRecord> =
                        of_row.iter().filter(|r| r.plan.threads == count).collect();
                    let medians: Vec<f64> = runs
                        .iter()
                        .filter(|r| r.status == Status::Ok)
                        .filter_map(|r| r.summary.as_ref().map(|s| s.median_ms))
                        .collect();
                    match runs.first() {
                        None => Cell::Absent,
                        Some(_) if !medians.is_empty() => Cell::Medians(medians),
                        Some(first) => Cell::Failed(first.status.as_str()),
                    }
                })
                .collect();
            Row {
                label: label_text,
                cells,
                parity: parity_word(&of_row),
            }
        })
        .collect()
}

/// The row's parity in a word or a few: the worst verdict of its measurements, with a failure's first reason.
fn parity_word(records: &[&&MeasurementRecord]) -> String {
    let parities: Vec<_> = records.iter().filter_map(|r| r.parity.as_ref()).collect();
    if let Some(failed) = parities.iter().find(|p| p.verdict.as_str() == "fail") {
        let reason = failed.reasons.first().map_or("", String::as_str);
        let short: String = reason
            .split(';')
            .next()
            .unwrap_or("")
            .chars()
            .take(48)
            .collect();
        return format!("fail: {short}");
    }
    for word in ["unchecked", "reference", "pass"] {
        if parities.iter().any(|p| p.verdict.as_str() == word) {
            return word.to_string();
        }
    }
    String::new()
}

fn table(rows: &[Row], threads: &[usize]) -> String {
    let fastest = fastest_per_column(rows, threads.len());
    let mut header = vec!["engine · format".to_string()];
    header.extend(threads.iter().map(|&n| threads_label(n)));
    header.push("parity".to_string());
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.label.clone()];
            cells.extend(row.cells.iter().enumerate().map(|(column, cell)| {
                cell.text(cell.median().is_some() && cell.median() == fastest[column])
            }));
            cells.push(row.parity.clone());
            cells
        })
        .collect();
    let last = header.len() - 1;
    // Numbers right-aligned, names and words left-aligned.
    aligned(&header, &lines, ("  ", "   "), |i| i != 0 && i != last)
}

/// "1 thread: ort · onnx ran 1.07× faster than tract · onnx, 1.52× than candle · onnx"; rows whose answers
/// differ from the reference are marked.
fn ranking(rows: &[Row], column: usize, threads: usize) -> Option<String> {
    let mut timed: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|row| row.cells[column].median().map(|m| (row, m)))
        .collect();
    if timed.len() < 2 {
        return None;
    }
    timed.sort_by(|a, b| a.1.total_cmp(&b.1));
    let name = |row: &Row| {
        if row.parity.starts_with("fail") {
            format!("{} (answers differ)", row.label)
        } else {
            row.label.clone()
        }
    };
    let (winner, best) = timed[0];
    let others: Vec<String> = timed[1..]
        .iter()
        .enumerate()
        .map(|(i, (row, median))| {
            let than = if i == 0 { "faster than " } else { "than " };
            format!("{:.2}× {than}{}", median / best, name(row))
        })
        .collect();
    let unit = if threads == 1 { "thread" } else { "threads" };
    Some(format!(
        "{threads} {unit}: {} ran {}",
        name(winner),
        others.join(", ")
    ))
}

/// One kind of warning about one row, with the thread counts it was seen at.
struct Warning {
    /// Failures first, then differing answers, adapted models, disturbed rows, and timing validity last.
    order: u8,
    head: String,
    subject: String,
    detail: String,
    threads: Vec<usize>,
}

impl Warning {
    fn subject_and_threads(&self) -> String {
        let counts: Vec<String> = self.threads.iter().map(usize::to_string).collect();
        format!("{} (threads {})", self.subject, counts.join(", "))
    }
}

/// Each warning once: a measurement that failed, a parity failure, a model run adapted (each a line per row,
/// for all its thread counts and rounds), and timing validity (a line per verdict, listing its rows).
pub fn warnings(records: &[MeasurementRecord]) -> Vec<String> {
    let mut found: Vec<Warning> = Vec::new();
    let mut add = |order: u8, head: &str, subject: String, detail: &str, threads: usize| {
        let same = |w: &&mut Warning| w.head == head && w.subject == subject && w.detail == detail;
        match found.iter_mut().find(same) {
            Some(w) if !w.threads.contains(&threads) => w.threads.push(threads),
            Some(_) => {}
            None => found.push(Warning {
                order,
                head: head.to_string(),
                subject,
                detail: detail.to_string(),
                threads: vec![threads],
            }),
        }
    };
    for r in records {
        let who = format!("{} {}", r.plan.model, label(r));
        let threads = r.plan.threads;
        if let Some(error) = r.error_line() {
            add(
                0,
                &format!("! {}", r.status.as_str()),
                who.clone(),
                &error,
                threads,
            );
        }
        if let Some(parity) = r.parity.as_ref().filter(|p| p.verdict.as_str() == "fail") {
            let reason = parity.reasons.first().map_or("", String::as_str);
            let short = reason.split(';').next().unwrap_or("");
            add(1, "! answers differ", who.clone(), short, threads);
        }
        if let Some(how) = r.setting("model_adaptation").filter(|how| *how != "none") {
            add(2, "* adapted model", who.clone(), how, threads);
        }
        if let Some(cause) = r.cpu_shares.and_then(|s| s.describe()) {
            add(3, "~ disturbed", who.clone(), &cause, threads);
        }
        let targeted = r.plan.rules.target_interval_fraction.is_some();
        if targeted && r.stopped_by == Some(StoppedBy::TimeCap) {
            // What `noisy` means once a precision target is set, in its own words.
            add(
                4,
                "~ the time cap came before the precision target",
                who,
                "",
                threads,
            );
        } else if let Some(v) = r.validity.as_ref().filter(|v| !v.reasons.is_empty()) {
            add(4, &format!("~ {}", v.verdict.as_str()), who, "", threads);
        }
    }
    found.sort_by_key(|w| w.order);
    for w in &mut found {
        w.threads.sort_unstable();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut listed: Vec<&str> = Vec::new();
    for w in &found {
        if !w.detail.is_empty() {
            lines.push(format!(
                "{}: {}: {}",
                w.head,
                w.subject_and_threads(),
                w.detail
            ));
        } else if !listed.contains(&w.head.as_str()) {
            listed.push(&w.head);
            let rows: Vec<String> = found
                .iter()
                .filter(|o| o.head == w.head && o.detail.is_empty())
                .map(Warning::subject_and_threads)
                .collect();
            lines.push(format!("{}: {}", w.head, rows.join("; ")));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(medians: &[f64]) -> Cell {
        Cell::Medians(medians.to_vec())
    }

    fn row(label: &str, cells: Vec<Cell>, parity: &str) -> Row {
        Row {
            label: label.into(),
            cells,
            parity: parity.into(),
        }
    }

    #[test]
    fn the_fastest_of_each_column_is_marked_and_rounds_show_their_spread() {
        let rows = [
            row(
                "ort · onnx",
                vec![cell(&[5.0]), cell(&[3.0, 3.2, 3.1])],
                "reference",
            ),
            row(
                "tract · onnx",
                vec![cell(&[4.0]), Cell::Failed("crashed")],
                "pass",
            ),
        ];
        let text = table(&rows, &[1, 2]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].split_whitespace().next(), Some("engine"));
        assert!(
            lines[1].contains("5.000 ") && lines[1].contains("3.100 ±0.100*"),
            "{text}"
        );
        assert!(
            lines[2].contains("4.000*") && lines[2].contains("crashed"),
            "{text}"
        );
    }

    #[test]
    fn the_ranking_says_how_much_faster_and_marks_differing_answers() {
        let rows = [
            row("ort · onnx", vec![cell(&[5.0])], "reference"),
            row("tract · tflite", vec![cell(&[4.0])], "fail: cosine 0.97"),
            row("candle · onnx", vec![cell(&[10.0])], "pass"),
            row("ncnn · onnx", vec![Cell::Failed("load_failed")], ""),
        ];
        assert_eq!(
            ranking(&rows, 0, 1).unwrap(),
            "1 thread: tract · tflite (answers differ) ran 1.25× faster than ort · onnx, 2.50× than candle · onnx"
        );
        assert_eq!(
            ranking(&rows[2..], 0, 1),
            None,
            "one timed row ranks nothing"
        );
    }

    #[test]
    fn each_warning_is_said_once_for_all_its_thread_counts_and_rounds() {
        use crate::analysis::{Validity, Verdict};
        use crate::inputs::InputDescription;
        use crate::measure::MeasureRules;
        use crate::plan::MeasurementPlan;
        use harness_backend_api::ModelFormat;
        let record = |backend: &str, threads: usize, round: u32, status: Status, error: &str| {
            let plan = MeasurementPlan {
                model: "m".into(),
                baseline: None,
                quantized: false,
                model_path: "/nonexistent/m.onnx".into(),
                format: ModelFormat::Onnx,
                backend: backend.into(),
                engine: backend.into(),
                threads,
                timing: Timing::Inference,
                round,
                options: Default::default(),
                inputs: vec![InputDescription::default()],
                pin: None,
                rules: MeasureRules::default(),
            };
            let mut r = MeasurementRecord::failed(&plan, "d", "1", status, error.to_string());
            if error.is_empty() {
                r.error = None;
                r.validity = Some(Validity {
                    verdict: Verdict::Noisy,
                    reasons: vec!["wide".into()],
                });
            }
            r
        };
        let records = [
            record("a", 1, 0, Status::Ok, ""),
            record("a", 1, 1, Status::Ok, ""),
            record("a", 2, 0, Status::Ok, ""),
            record("b", 2, 0, Status::Ok, ""),
            record(
                "c",
                1,
                0,
                Status::LoadFailed,
                "c could not load m.onnx: no\nmore",
            ),
            record(
                "c",
                2,
                0,
                Status::LoadFailed,
                "c could not load m.onnx: no\nmore",
            ),
        ];
        assert_eq!(
            warnings(&records),
            [
                "! load_failed: m c · onnx (threads 1, 2): c could not load m.onnx: no",
                "~ noisy: m a · onnx (threads 1, 2); m b · onnx (threads 2)",
            ]
        );
        // With a precision target, a row the cap stopped says so instead of `noisy`.
        let mut capped = record("d", 1, 0, Status::Ok, "");
        capped.plan.rules.target_interval_fraction = Some(0.01);
        capped.stopped_by = Some(StoppedBy::TimeCap);
        assert_eq!(
            warnings(&[capped]),
            ["~ the time cap came before the precision target: m d · onnx (threads 1)"]
        );
        // An engine that prints a whole operator in one line: the terminal gets its start, the file all of it.
        let dump = format!(
            "d could not load m.onnx: Conv {{ weights: [{}] }}",
            "0.5, ".repeat(500)
        );
        let long = record("d", 1, 0, Status::LoadFailed, &dump);
        let line = long.error_line().unwrap();
        assert_eq!(
            line.chars().count(),
            200 + "… (in full in summary.csv)".chars().count()
        );
        assert!(line.starts_with("d could not load m.onnx: Conv { weights: [0.5, "));
        assert_eq!(long.error.as_deref(), Some(dump.as_str()));
    }
}
