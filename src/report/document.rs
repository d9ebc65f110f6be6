//! The text of a report: the same sections rendered as Markdown (charts linked as PNG) and as one HTML file
//! (charts embedded as SVG, styles inline, nothing fetched).

use super::Report;
use crate::export::csv::{ProfileRow, SummaryRow};
use crate::export::fleet_json::{FleetStatus, TargetState};
use crate::report::charts::significant;
use crate::results::EngineProfile;
use std::fmt::Write;

/// A table given once and rendered in both formats.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn markdown(&self) -> String {
        let escape = |cell: &str| cell.replace('|', "\\|").replace('\n', " ");
        let mut out = format!("| {} |\n", self.header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(self.header.len()));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    fn html(&self) -> String {
        let mut out = String::from("<table>\n<thead><tr>");
        for cell in &self.header {
            let _ = write!(out, "<th>{}</th>", escape_html(cell));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape_html(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A section: a heading, paragraphs, then tables or charts.
enum Block {
    Heading(String),
    Paragraph(String),
    List(Vec<String>),
    Table(Table),
    /// Index into the report's charts.
    Chart(usize),
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(String::new, significant)
}

/// What ended a row's timed runs and how precisely its median is known: "precision (±0.8%)".
fn stopped(row: &SummaryRow) -> String {
    let by = row.stopped_by.replace('_', " ");
    match row.median_precision_pct {
        Some(pct) if !by.is_empty() => format!("{by} (±{pct:.1}%)"),
        Some(pct) => format!("±{pct:.1}%"),
        None => by,
    }
}

fn summary_table(report: &Report) -> Table {
    let rows: Vec<&SummaryRow> = report.folders.iter().flat_map(|f| &f.rows).collect();
    let several_rounds = rows.iter().any(|r| r.round > 0);
    let fastest = |row: &SummaryRow| {
        rows.iter()
            .filter(|o| o.device == row.device && o.model == row.model && o.measured())
            .filter_map(|o| o.median_ms)
            .fold(f64::INFINITY, f64::min)
    };
    // Achieved multiply-accumulates per second, and their share of the device's measured peak for the
    // row's thread count.
    let achieved = |row: &SummaryRow| {
        let Some(gmacs) = row.gmac_per_s else {
            return String::new();
        };
        let peak = report
            .folders
            .iter()
            .find(|f| f.rows.iter().any(|r| r.device == row.device))
            .and_then(|f| f.peak_gmacs_per_core());
        match peak {
            Some(peak) => format!(
                "{gmacs:.1} ({:.0}%)",
                100.0 * gmacs / (peak * row.threads as f64)
            ),
            None => format!("{gmacs:.1}"),
        }
    };
    Table {
        header: vec![
            "device",
            "model",
            "engine",
            "threads",
            "median ms",
            "95% interval",
            "stopped by",
            "vs fastest",
            "GMAC/s (of peak)",
            "p99 ms",
            "load ms",
            "first run ms",
            "peak MB",
            "verdict",
            "parity",
        ],
        rows: rows
            .iter()
            .map(|r| {
                let threads = if several_rounds {
                    format!("{} (round {})", r.threads, r.round + 1)
                } else {
                    r.threads.to_string()
                };
                let mut cells = vec![
                    r.device.clone(),
                    r.model.clone(),
                    r.series().engine_label(),
                    threads,
                ];
                match r.median_ms.filter(|_| r.measured()) {
                    Some(median) => cells.extend([
                        significant(median),
                        match (r.median_low_ms, r.median_high_ms) {
                            (Some(low), Some(high)) => {
                                format!("{}–{}", significant(low), significant(high))
                            }
                            _ => String::new(),
                        },
                        stopped(r),
                        format!("×{:.2}", median / fastest(r)),
                        achieved(r),
                        match (r.p99_ms, r.p99_runs_needed) {
                            (None, Some(needed)) => format!("(needs {needed} runs)"),
                            (p99, _) => optional(p99),
                        },
                        optional(r.load_ms),
                        optional(r.first_run_ms),
                        optional(r.peak_rss_mb),
                        r.validity.clone(),
                        r.parity.clone(),
                    ]),
                    None => {
                        cells.extend(std::iter::repeat_n(String::new(), 9));
                        cells.push(r.status.replace('_', " "));
                        cells.push(String::new());
                    }
                }
                cells
            })
            .collect(),
    }
}

fn parity_table(report: &Report) -> Option<Table> {
    let rows: Vec<&SummaryRow> = report
        .folders
        .iter()
        .flat_map(|f| &f.rows)
        .filter(|r| !r.parity.is_empty() && r.timing == "inference" && r.round == 0)
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(Table {
        header: vec![
            "device",
            "model",
            "engine",
            "threads",
            "parity",
            "against",
            "min cosine",
            "max abs diff",
            "top-1",
            "top-5",
            "why",
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.device.clone(),
                    r.model.clone(),
                    r.series().engine_label(),
                    r.threads.to_string(),
                    r.parity.clone(),
                    r.parity_reference.clone(),
                    r.min_cosine.map_or_else(String::new, |c| format!("{c:.6}")),
                    r.max_abs_diff
                        .map_or_else(String::new, |d| format!("{d:.2e}")),
                    r.agreement_text(false),
                    r.agreement_text(true),
                    r.parity_reasons.clone(),
                ]
            })
            .collect(),
    })
}

fn study_table(report: &Report, baseline: &str) -> Table {
    Table {
        header: vec![
            "device",
            "baseline",
            "variant",
            "engine",
            "threads",
            "baseline ms",
            "variant ms",
            "speed-up",
            "variant is",
            "MAC ratio",
            "top-1",
            "top-5",
            "min cosine",
            "note",
        ],
        rows: report
            .studies
            .iter()
            .filter(|r| r.baseline == baseline)
            .map(|r| {
                let note = if r.status == "ok" {
                    String::new()
                } else {
                    format!("{}: {}", r.status.replace('_', " "), r.error)
                };
                vec![
                    r.key.device.clone(),
                    baseline.to_string(),
                    r.key.model.clone(),
                    r.key.engine_label(),
                    r.key.threads.to_string(),
                    optional(r.baseline_ms),
                    optional(r.variant_ms),
                    r.speedup.map_or_else(String::new, |s| format!("×{s:.2}")),
                    match (r.verdict, r.speedup) {
                        (Some(v), _) => v.as_str().to_string(),
                        (None, Some(_)) => "(one round: not judged)".to_string(),
                        (None, None) => String::new(),
                    },
                    r.mac_ratio.map_or_else(String::new, |m| format!("×{m:.2}")),
                    r.top1.clone(),
                    r.top5.clone(),
                    r.min_cosine.map_or_else(String::new, |c| format!("{c:.4}")),
                    note,
                ]
            })
            .collect(),
    }
}

/// What a reader must not miss: unfinished runs, failed rows, untrustworthy timings, wrong answers. Each once:
/// the same warning for several rounds or thread counts is one line that lists the thread counts.
fn warnings(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    // (who, what happened) → the thread counts it happened at.
    let mut rows: Vec<((String, String), Vec<usize>)> = Vec::new();
    for folder in &report.folders {
        if folder.run_state() != "complete" {
            out.push(format!(
                "{}: the run is {}: some planned measurements are missing.",
                folder.path.display(),
                folder.run_state()
            ));
        }
        for r in &folder.rows {
            let who = format!("{} · {} · {}", r.device, r.model, r.series().engine_label());
            let mut found = Vec::new();
            if r.status != "ok" {
                found.push(format!("{}: {}", r.status.replace('_', " "), r.error));
            } else if r.validity != "valid" {
                found.push(format!("timing {}: {}", r.validity, r.validity_reasons));
            }
            if !r.disturbed.is_empty() {
                found.push(format!("disturbed: {}", r.disturbed));
            }
            if r.parity == "fail" && r.timing == "inference" {
                found.push(format!(
                    "answers differ from {}: {}",
                    r.parity_reference, r.parity_reasons
                ));
            }
            for what in found {
                let key = (who.clone(), what);
                match rows.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, threads)) if !threads.contains(&r.threads) => threads.push(r.threads),
                    Some(_) => {}
                    None => rows.push((key, vec![r.threads])),
                }
            }
        }
    }
    for shared in &report.shared_machines {
        out.push(if shared.at_once {
            format!(
                "{} are one machine (the same running kernel) and were measured at the same time: each disturbed \
                 the others' figures. For figures to compare, measure them on machines of their own, or one at a time.",
                shared.devices.join(", ")
            )
        } else {
            format!(
                "{} are one machine (the same running kernel), measured one after the other.",
                shared.devices.join(", ")
            )
        });
    }
    for ((who, what), mut threads) in rows {
        threads.sort_unstable();
        let threads: Vec<String> = threads.into_iter().map(super::threads_label).collect();
        out.push(format!("{who} · {}: {what}", threads.join(", ")));
    }
    out
}

fn environment_table(report: &Report) -> Table {
    const FIELDS: [&str; 10] = [
        "cpu_model",
        "logical_cores",
        "frequency_governor",
        "kernel",
        "os",
        "target",
        "rustc",
        "harness_version",
        "git_commit",
        "scenario",
    ];
    let mut rows = Vec::new();
    for folder in &report.folders {
        let env = &folder.environment;
        let device = env["device"]
            .as_str()
            .map_or_else(|| folder.devices().join(", "), str::to_string);
        let scenario = folder
            .rows
            .first()
            .map_or(String::new(), |r| r.scenario.clone());
        for field in FIELDS {
            let value = match field {
                "scenario" => scenario.clone(),
                _ => match &env[field] {
                    serde_json::Value::Null => "unknown".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            };
            rows.push(vec![device.clone(), field.replace('_', " "), value]);
        }
        for engine in env["engines"].as_array().into_iter().flatten() {
            let runtime = match (&engine["runtime"]["Ok"], &engine["runtime"]["Err"]) {
                (serde_json::Value::String(ok), _) => ok.clone(),
                (_, serde_json::Value::String(err)) => format!("not available: {err}"),
                _ => String::new(),
            };
            rows.push(vec![
                device.clone(),
                format!("engine {}", engine["name"].as_str().unwrap_or("?")),
                format!(
                    "{} — {runtime}",
                    engine["engine_version"].as_str().unwrap_or("?")
                ),
            ]);
        }
        if let Some(peak) = folder.peak_gmacs_per_core() {
            let method = env["fma_peak"]["method"].as_str().unwrap_or_default();
            rows.push(vec![
                device.clone(),
                "FMA peak per core".into(),
                format!("{peak:.1} GMAC/s ({method})"),
            ]);
        }
        if let Some(baseline) = env["worker_baseline_mb"].as_f64() {
            rows.push(vec![
                device.clone(),
                "worker baseline".into(),
                format!(
                    "{baseline:.1} MB: the peak memory of a worker that loads no engine, part of every row's peak"
                ),
            ]);
        }
        rows.push(vec![
            device,
            "results folder".into(),
            folder.path.display().to_string(),
        ]);
    }
    Table {
        header: vec!["device", "property", "value"],
        rows,
    }
}

fn blocks(report: &Report) -> Vec<Block> {
    let mut blocks = Vec::new();
    let devices = report.devices();
    blocks.push(Block::Paragraph(format!(
        "{} result folder{} · device{}: {} · {} measurement{}. Times are milliseconds per inference on one input \
         (ms/frame), the median of the timed runs with its distribution-free 95% interval; \"vs fastest\" is \
         relative to the fastest engine on the same device and model.",
        report.folders.len(),
        if report.folders.len() == 1 { "" } else { "s" },
        if devices.len() == 1 { "" } else { "s" },
        devices.join(", "),
        report.measurements.len(),
        if report.measurements.len() == 1 { "" } else { "s" },
    )));
    // A fleet's table first: which targets are in the figures below, and which are not.
    if let Some(fleet) = &report.fleet {
        blocks.extend(fleet_blocks(fleet));
    }
    let warnings = warnings(report);
    if !warnings.is_empty() {
        blocks.push(Block::Heading("Warnings".into()));
        blocks.push(Block::List(warnings));
    }
    blocks.push(Block::Heading("Speed".into()));
    for (i, chart) in report.charts.iter().enumerate() {
        if chart.name.starts_with("speed-") {
            blocks.push(Block::Chart(i));
        }
    }
    if let Some(parity) = parity_table(report) {
        blocks.push(Block::Heading(
            "Do the engines compute the same answer?".into(),
        ));
        blocks.push(Block::Paragraph(
            "Each engine's outputs on the same inputs against the reference engine's (see docs/parity-and-studies.md \
             for the thresholds)."
                .into(),
        ));
        blocks.push(Block::Table(parity));
    }
    let baselines = super::distinct(report.studies.iter().map(|r| r.baseline.clone()));
    if !baselines.is_empty() {
        blocks.push(Block::Heading("Technique studies".into()));
        blocks.push(Block::Paragraph(
            "Each variant against its baseline on the same engine, format and thread count: speed-up is the \
             baseline's median over the variant's; \"variant is\" says faster or slower only when the difference \
             is significant over the rounds and above 5% (as harness compare judges); agreement compares the \
             variant's outputs with the baseline's reference outputs on the same inputs. In a merged-BatchNorm \
             study, \"no change\" means merging bought nothing measurable on that engine: it folds BatchNorm \
             itself, or BatchNorm costs it little."
                .into(),
        ));
    }
    for baseline in baselines {
        blocks.push(Block::Table(study_table(report, &baseline)));
        if let Some(i) = report
            .charts
            .iter()
            .position(|c| c.name == format!("study-{}", crate::export::folder::slug(&baseline)))
        {
            blocks.push(Block::Chart(i));
        }
    }
    if !report.profiles.is_empty() {
        blocks.extend(profile_blocks(report));
    }
    blocks.push(Block::Heading("All measurements".into()));
    blocks.push(Block::Table(summary_table(report)));
    for (prefix, heading) in [
        ("distribution-", "Latency distribution"),
        ("scaling-", "Thread scaling"),
        ("startup-", "Start-up"),
    ] {
        let charts: Vec<usize> = (0..report.charts.len())
            .filter(|&i| report.charts[i].name.starts_with(prefix))
            .collect();
        if !charts.is_empty() {
            blocks.push(Block::Heading(heading.into()));
            blocks.extend(charts.into_iter().map(Block::Chart));
        }
    }
    blocks.push(Block::Heading("Environment".into()));
    blocks.push(Block::Table(environment_table(report)));
    blocks
}

/// A fleet's targets: what each did, for how long, and how to resume those that did not complete.
fn fleet_blocks(fleet: &FleetStatus) -> Vec<Block> {
    let complete = fleet.complete();
    let mut text = format!(
        "{} target{} measured at once, {complete} complete.",
        fleet.targets.len(),
        if fleet.targets.len() == 1 { "" } else { "s" },
    );
    if let Some(wall) = fleet.wall_seconds {
        let _ = write!(
            text,
            " The fleet took {wall:.0} s; its targets' own times add up to {:.0} s (each from connecting to its \
             results being back).",
            fleet.sequential_seconds()
        );
    }
    let rows = fleet
        .targets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.device.clone(),
                t.kind.clone(),
                t.state.as_str().to_string(),
                t.seconds.map_or(String::new(), |s| format!("{s:.0} s")),
                t.folders.join(", "),
                match t.state {
                    TargetState::Complete => String::new(),
                    _ => format!("{} — resume: {}", t.error, t.resume),
                },
            ]
        })
        .collect();
    vec![
        Block::Heading("Fleet".into()),
        Block::Paragraph(text),
        Block::Table(Table {
            header: vec![
                "target",
                "device",
                "reached by",
                "state",
                "time",
                "results folder",
                "what happened",
            ],
            rows,
        }),
    ]
}

/// Where the time goes: per model, the stacked chart by operator class, each pass's overhead (or why an
/// engine has no profile), and each engine's ten slowest nodes.
fn profile_blocks(report: &Report) -> Vec<Block> {
    let several_devices = report.devices().len() > 1;
    let label = |p: &EngineProfile| super::profile_label(&p.key, several_devices);
    let mut blocks = vec![
        Block::Heading("Where the time goes".into()),
        Block::Paragraph(
            "A profiled pass after each measurement's timed runs, in a session of its own, through each engine's \
             own profiler: the time of every node of the graph the engine executed, grouped into operator classes \
             (the same classes and colours for every engine; depthwise and pointwise convolutions are told apart by \
             the model file's node each engine node came from). Profilers add their own cost: each pass's \
             profiled run is shown beside the measurement's unprofiled median. Nodes an engine fused into others \
             show no time of their own, and their rows say so."
                .into(),
        ),
    ];
    for model in super::distinct(report.profiles.iter().map(|p| p.key.model.clone())) {
        let of_model: Vec<&EngineProfile> = report
            .profiles
            .iter()
            .filter(|p| p.key.model == model)
            .collect();
        blocks.push(Block::Paragraph(format!("Model {model}:")));
        if let Some(i) = report
            .charts
            .iter()
            .position(|c| c.name == format!("profile-{}", crate::export::folder::slug(&model)))
        {
            blocks.push(Block::Chart(i));
        }
        blocks.push(Block::Table(Table {
            header: vec![
                "engine",
                "profile",
                "nodes",
                "node time ms/run",
                "profiled run ms",
                "unprofiled median ms",
                "overhead",
            ],
            rows: of_model
                .iter()
                .map(|p| {
                    vec![
                        label(p),
                        if p.status == "ok" {
                            "ok".to_string()
                        } else {
                            format!("{}: {}", p.status, p.error)
                        },
                        p.nodes.len().to_string(),
                        if p.nodes.is_empty() {
                            String::new()
                        } else {
                            significant(p.total_us() / 1e3)
                        },
                        optional(p.profiled_run_ms),
                        optional(p.unprofiled_median_ms),
                        p.profiling_overhead
                            .map_or_else(String::new, |o| format!("{o:.2}×")),
                    ]
                })
                .collect(),
        }));
        for profile in of_model.iter().filter(|p| !p.nodes.is_empty()) {
            let mut nodes: Vec<&ProfileRow> = profile.nodes.iter().collect();
            nodes.sort_by(|a, b| b.per_run_us.total_cmp(&a.per_run_us));
            blocks.push(Block::Paragraph(format!(
                "{}: the ten slowest nodes",
                label(profile)
            )));
            blocks.push(Block::Table(Table {
                header: vec![
                    "node", "operator", "class", "µs/run", "share", "calls", "note",
                ],
                rows: nodes
                    .iter()
                    .take(10)
                    .map(|n| {
                        vec![
                            n.node.clone(),
                            n.op_type.clone(),
                            n.class.clone(),
                            significant(n.per_run_us),
                            format!("{:.1}%", n.share * 100.0),
                            n.calls.to_string(),
                            n.note.clone(),
                        ]
                    })
                    .collect(),
            }));
        }
    }
    blocks
}

const TITLE: &str = "harness report";

pub fn markdown(report: &Report) -> String {
    let mut out = format!("# {TITLE}\n\n");
    for block in blocks(report) {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(out, "## {h}\n");
            }
            Block::Paragraph(p) => {
                let _ = writeln!(out, "{p}\n");
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", item.replace('\n', " "));
                }
                out.push('\n');
            }
            Block::Table(t) => {
                let _ = writeln!(out, "{}", t.markdown());
            }
            Block::Chart(i) => {
                let chart = &report.charts[i];
                let _ = writeln!(out, "![{}](charts/{}.png)\n", chart.title, chart.name);
            }
        }
    }
    out
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em auto;max-width:1100px;\
color:#222;padding:0 1em}table{border-collapse:collapse;font-size:0.85em;margin:1em 0}\
th,td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:left}th{background:#f2f2f2}\
tbody tr:nth-child(even){background:#fafafa}figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}\
.warnings li{color:#8a3b00}";

pub fn html(report: &Report) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{TITLE}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{TITLE}</h1>\n"
    );
    let mut in_warnings = false;
    for block in blocks(report) {
        match block {
            Block::Heading(h) => {
                in_warnings = h == "Warnings";
                let _ = writeln!(out, "<h2>{}</h2>", escape_html(&h));
            }
            Block::Paragraph(p) => {
                let _ = writeln!(out, "<p>{}</p>", escape_html(&p));
            }
            Block::List(items) => {
                let class = if in_warnings {
                    " class=\"warnings\""
                } else {
                    ""
                };
                let _ = writeln!(out, "<ul{class}>");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", escape_html(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(t) => out.push_str(&t.html()),
            Block::Chart(i) => {
                let chart = &report.charts[i];
                let _ = writeln!(
                    out,
                    "<figure id=\"{}\" aria-label=\"{}\">\n{}\n</figure>",
                    chart.name,
                    escape_html(&chart.title),
                    inline_svg(&chart.svg)
                );
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// An SVG document as an element inside HTML: without its XML declaration.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => svg,
    }
}
