//! Reports: one or more results folders (a PC run, a board run) merged into charts, `report.md` and a
//! self-contained `report.html`. Everything here reads the folders' files, so a report can be made again, or
//! on another machine, from what a run left behind.

pub mod charts;
mod document;

use crate::analysis::change::{judge, welch_change, Change, NOISE_THRESHOLD};
use crate::analysis::operators::OperatorClass;
use crate::export::answer::threads_label;
use crate::export::csv::SummaryRow;
use crate::export::fleet_json::FleetStatus;
use crate::export::run_status::RunState;
use crate::key::SeriesKey;
use crate::record::Status;
use crate::results::{
    measurements, profiles, round_medians, same_folder, EngineProfile, Measurement, ResultFolder,
};
use anyhow::{Context, Result};
use charts::{
    Bar, BarSeries, Distribution, GroupedBars, Rendered, Scaling, ScalingLine, Spread, StackedBars,
};
use std::path::{Path, PathBuf};

/// What a report was made from, and the charts drawn for it.
pub struct Report {
    pub folders: Vec<ResultFolder>,
    pub measurements: Vec<Measurement>,
    pub studies: Vec<StudyRow>,
    /// Profiled passes, where the runs profiled.
    pub profiles: Vec<EngineProfile>,
    /// Devices that are one machine.
    pub shared_machines: Vec<SharedMachine>,
    /// The fleet the folders came from, for a fleet's report.
    pub fleet: Option<FleetStatus>,
    pub charts: Vec<Rendered>,
}

/// Devices whose folders report the same running kernel (environment.json's `boot_id`): one physical machine,
/// such as a fleet's targets reached over the loopback, or containers on one host.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedMachine {
    pub devices: Vec<String>,
    /// Whether measurements of different devices ran at the same time (their windows overlap), so that each
    /// disturbed the others' figures.
    pub at_once: bool,
}

/// The devices that share a machine, from the folders' boot ids and their rows' measurement windows.
fn shared_machines(folders: &[ResultFolder]) -> Vec<SharedMachine> {
    let boot_ids = distinct(
        folders
            .iter()
            .filter_map(|f| f.environment["boot_id"].as_str()),
    );
    boot_ids
        .into_iter()
        .filter_map(|boot_id| {
            let on_it: Vec<&ResultFolder> = folders
                .iter()
                .filter(|f| f.environment["boot_id"].as_str() == Some(boot_id))
                .collect();
            let devices = distinct(on_it.iter().flat_map(|f| f.devices()));
            if devices.len() < 2 {
                return None;
            }
            let windows: Vec<(&str, &str, &str)> = on_it
                .iter()
                .flat_map(|f| &f.rows)
                .filter(|r| !r.started_utc.is_empty() && !r.ended_utc.is_empty())
                .map(|r| {
                    (
                        r.device.as_str(),
                        r.started_utc.as_str(),
                        r.ended_utc.as_str(),
                    )
                })
                .collect();
            // ISO 8601 UTC times of one format compare as text.
            let at_once = windows.iter().any(|(device, start, end)| {
                windows
                    .iter()
                    .any(|(other, s, e)| other != device && s < end && start < e)
            });
            Some(SharedMachine { devices, at_once })
        })
        .collect()
}

/// A variant of a technique study measured on one engine, beside its baseline on the same engine.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyRow {
    pub baseline: String,
    /// The variant's own key (its model is the variant).
    pub key: SeriesKey,
    pub baseline_ms: Option<f64>,
    pub variant_ms: Option<f64>,
    /// Baseline time over variant time: above 1 is faster.
    pub speedup: Option<f64>,
    /// The baseline's multiply-accumulates over the variant's.
    pub mac_ratio: Option<f64>,
    pub top1: String,
    pub top5: String,
    pub min_cosine: Option<f64>,
    /// Whether the variant is significantly faster or slower than the baseline (as `harness compare` judges,
    /// from the rounds' medians); None with fewer than two rounds on either side.
    pub verdict: Option<Change>,
    /// `ok`, or why the engine could not run the variant.
    pub status: String,
    pub error: String,
}

/// Every variant row (first round, inference timing) with its baseline's time on the same engine.
fn studies(folders: &[ResultFolder], measurements: &[Measurement]) -> Vec<StudyRow> {
    let median = |key: &SeriesKey| {
        measurements
            .iter()
            .find(|m| &m.key == key)
            .map(|m| m.median_ms)
    };
    let macs = |model: &str, format: &str| {
        folders
            .iter()
            .flat_map(|f| &f.rows)
            .find(|r| r.model == model && r.format == format)
            .and_then(|r| r.model_macs)
    };
    folders
        .iter()
        .flat_map(|f| &f.rows)
        .filter(|r| !r.baseline_model.is_empty() && r.round == 0 && r.timing == "inference")
        .map(|r| {
            let key = r.series();
            let baseline_key = SeriesKey {
                model: r.baseline_model.clone(),
                ..key.clone()
            };
            let (baseline_ms, variant_ms) = (median(&baseline_key), median(&key));
            let (before, after) = (
                round_medians(folders, &baseline_key),
                round_medians(folders, &key),
            );
            let verdict = (before.len() >= 2 && after.len() >= 2).then(|| {
                let (change, interval) = welch_change(&before, &after);
                judge(change, interval, NOISE_THRESHOLD)
            });
            StudyRow {
                baseline: r.baseline_model.clone(),
                speedup: baseline_ms.zip(variant_ms).map(|(b, v)| b / v),
                mac_ratio: macs(&r.baseline_model, &r.format)
                    .zip(r.model_macs)
                    .map(|(b, v)| b as f64 / v as f64),
                baseline_ms,
                variant_ms,
                verdict,
                top1: r.agreement_text(false),
                top5: r.agreement_text(true),
                min_cosine: r.min_cosine,
                status: r.status.clone(),
                error: r.error.clone(),
                key,
            }
        })
        .collect()
}

/// Speed-up against agreement with the baseline's outputs, one point per variant, engine and thread count.
fn study_chart(baseline: &str, rows: &[&StudyRow]) -> Option<charts::Scatter> {
    let variants = distinct(rows.iter().map(|r| r.key.model.clone()));
    let points: Vec<charts::Point> = rows
        .iter()
        .filter_map(|r| {
            Some(charts::Point {
                label: format!("{} · {}t", r.key.engine_label(), r.key.threads),
                series: variants.iter().position(|v| *v == r.key.model)?,
                x: r.speedup?,
                y: r.min_cosine?,
            })
        })
        .collect();
    (!points.is_empty()).then(|| charts::Scatter {
        title: format!("Variants of {baseline}: speed-up against agreement"),
        x_axis: format!("speed-up over {baseline} on the same engine (right is faster)"),
        y_axis: format!("lowest cosine similarity to {baseline}'s outputs"),
        points,
        series: variants,
        x_reference: Some(1.0),
    })
}

/// The files a written report consists of.
pub struct Written {
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub charts: Vec<PathBuf>,
}

impl Report {
    pub fn build(folders: Vec<ResultFolder>) -> Result<Report> {
        let measurements = measurements(&folders);
        let studies = studies(&folders, &measurements);
        let profiles = profiles(&folders);
        let mut charts = Vec::new();
        for baseline in distinct(studies.iter().map(|r| r.baseline.clone())) {
            let rows: Vec<&StudyRow> = studies.iter().filter(|r| r.baseline == baseline).collect();
            if let Some(scatter) = study_chart(&baseline, &rows) {
                charts.push(charts::render(
                    &format!("study-{}", crate::export::folder::slug(&baseline)),
                    &format!("variants of {baseline}: speed-up against agreement"),
                    &scatter,
                )?);
            }
        }
        for model in distinct(measurements.iter().map(|m| m.key.model.clone())) {
            let of_model: Vec<&Measurement> = measurements
                .iter()
                .filter(|m| m.key.model == model)
                .collect();
            let slug = crate::export::folder::slug(&model);
            charts.push(charts::render(
                &format!("speed-{slug}"),
                &format!("{model}: ms per frame"),
                &speed_chart(&model, &of_model),
            )?);
            if let Some(distribution) = distribution_chart(&model, &of_model, &folders) {
                charts.push(charts::render(
                    &format!("distribution-{slug}"),
                    &format!("{model}: latency distribution"),
                    &distribution,
                )?);
            }
            if let Some(scaling) = scaling_chart(&model, &of_model) {
                charts.push(charts::render(
                    &format!("scaling-{slug}"),
                    &format!("{model}: thread scaling"),
                    &scaling,
                )?);
            }
            if let Some(startup) = startup_chart(&model, &of_model) {
                charts.push(charts::render(
                    &format!("startup-{slug}"),
                    &format!("{model}: start-up"),
                    &startup,
                )?);
            }
        }
        for model in distinct(profiles.iter().map(|p| p.key.model.clone())) {
            let of_model: Vec<&EngineProfile> = profiles
                .iter()
                .filter(|p| p.key.model == model && !p.nodes.is_empty())
                .collect();
            if !of_model.is_empty() {
                charts.push(charts::render(
                    &format!("profile-{}", crate::export::folder::slug(&model)),
                    &format!("{model}: where the time goes"),
                    &profile_chart(&model, &of_model),
                )?);
            }
        }
        Ok(Report {
            shared_machines: shared_machines(&folders),
            folders,
            measurements,
            studies,
            profiles,
            fleet: None,
            charts,
        })
    }

    /// Writes `report.md`, `report.html` and `charts/` into `out`, replacing an earlier report there (a report
    /// is derived from the folders' data, which it never touches).
    pub fn write(&self, out: &Path) -> Result<Written> {
        let chart_dir = out.join("charts");
        std::fs::create_dir_all(&chart_dir)
            .with_context(|| format!("cannot create {}", chart_dir.display()))?;
        let mut chart_files = Vec::new();
        for chart in &self.charts {
            for (extension, bytes) in [("svg", chart.svg.as_bytes()), ("png", &chart.png[..])] {
                let path = chart_dir.join(format!("{}.{extension}", chart.name));
                std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                chart_files.push(path);
            }
        }
        let markdown = out.join("report.md");
        std::fs::write(&markdown, document::markdown(self))
            .with_context(|| format!("cannot write {}", markdown.display()))?;
        let html = out.join("report.html");
        std::fs::write(&html, document::html(self))
            .with_context(|| format!("cannot write {}", html.display()))?;
        Ok(Written {
            markdown,
            html,
            charts: chart_files,
        })
    }

    /// The device names across all folders, in first-seen order.
    pub fn devices(&self) -> Vec<String> {
        distinct(self.folders.iter().flat_map(|f| f.devices()))
    }
}

/// Loads the folders and writes their report into `out`.
pub fn report(folders: &[PathBuf], out: &Path) -> Result<Written> {
    Report::build(load_resumed(folders)?)?.write(out)
}

/// Writes a fleet folder's report into it, from its targets' results folders (`fleet.json`). A target whose
/// folder holds no row yet (stopped or failed before its first) is in the fleet's table, not in the figures.
pub fn fleet_report(fleet: &Path) -> Result<Written> {
    let status = FleetStatus::read(fleet)?;
    let folders: Vec<PathBuf> = status
        .targets
        .iter()
        .flat_map(|t| &t.folders)
        .map(|f| fleet.join(f))
        .filter(|f| f.join("summary.csv").is_file())
        .collect();
    let mut report = Report::build(load_resumed(&folders)?)?;
    report.fleet = Some(status);
    report.write(fleet)
}

/// The folders read back, with each resumed run's earlier rows settled (`apply_resumes`).
fn load_resumed(folders: &[PathBuf]) -> Result<Vec<ResultFolder>> {
    let mut loaded = folders
        .iter()
        .map(|f| ResultFolder::load(f))
        .collect::<Result<Vec<_>>>()?;
    apply_resumes(&mut loaded);
    Ok(loaded)
}

/// A resumed run re-measures what its earlier folder left interrupted: in a report of both, the earlier rows
/// it re-measured are dropped, and once the resuming run finished the earlier one no longer counts as
/// interrupted. The files themselves are never changed.
fn apply_resumes(folders: &mut [ResultFolder]) {
    for i in 0..folders.len() {
        let Some(resumed) = folders[i].run.as_ref().and_then(|r| r.resumes.clone()) else {
            continue;
        };
        let finished = folders[i].run_state() == RunState::Complete.as_str();
        let measured: Vec<_> = folders[i].rows.iter().map(SummaryRow::key).collect();
        for (j, earlier) in folders.iter_mut().enumerate() {
            // A run on a target names the folder by its path there: its name is what both share.
            let named = earlier.path.file_name().is_some()
                && earlier.path.file_name() == Path::new(&resumed).file_name();
            if j == i || !(same_folder(&earlier.path, Path::new(&resumed)) || named) {
                continue;
            }
            earlier.rows.retain(|r| {
                r.status != Status::Interrupted.as_str() || !measured.contains(&r.key())
            });
            if let Some(run) = earlier.run.as_mut().filter(|_| finished) {
                run.status = RunState::Complete;
            }
        }
    }
}

pub(crate) fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// One bar per profiled engine (format, threads and, with several, device), split by operator class: the
/// time of the engine's nodes in one profiled run.
fn profile_chart(model: &str, profiles: &[&EngineProfile]) -> StackedBars {
    let several_devices = distinct(profiles.iter().map(|p| &p.key.device)).len() > 1;
    StackedBars {
        title: format!("{model}: time per run by operator class (profiled)"),
        axis: "ms per run in the engine's nodes, as its profiler measured them".into(),
        unit: " ms".into(),
        categories: profiles
            .iter()
            .map(|p| profile_label(&p.key, several_devices))
            .collect(),
        parts: OperatorClass::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        values: profiles
            .iter()
            .map(|p| p.class_times().iter().map(|us| us / 1e3).collect())
            .collect(),
    }
}

/// How a profiled measurement is named in charts and tables.
pub fn profile_label(key: &SeriesKey, several_devices: bool) -> String {
    format!(
        "{} · {}",
        key.engine_label(),
        series_label(key, several_devices)
    )
}

/// How a series of (device, threads) is named: the device only when several devices are shown.
fn series_label(key: &SeriesKey, several_devices: bool) -> String {
    if several_devices {
        format!("{} · {}", key.device, threads_label(key.threads))
    } else {
        threads_label(key.threads)
    }
}

/// Bars of measurements whose answers differ from the reference, or that failed their validity checks, say so:
/// the chart says what the terminal's answer and the tables say.
fn bar_note(measurement: &Measurement) -> Option<&'static str> {
    let differ = measurement.parity == "fail";
    match (differ, measurement.validity.as_str()) {
        (false, "valid") => None,
        (false, "noisy") => Some("noisy"),
        (false, _) => Some("invalid"),
        (true, "valid") => Some("answers differ"),
        (true, "noisy") => Some("answers differ, noisy"),
        (true, _) => Some("answers differ, invalid"),
    }
}

/// The article's picture: ms per frame per engine, one bar per device and thread count, 95% intervals.
fn speed_chart(model: &str, rows: &[&Measurement]) -> GroupedBars {
    let several_devices = distinct(rows.iter().map(|m| &m.key.device)).len() > 1;
    let categories = distinct(rows.iter().map(|m| m.key.engine_label()));
    let series_keys = distinct(rows.iter().map(|m| (m.key.device.clone(), m.key.threads)));
    let series = series_keys
        .iter()
        .map(|(device, threads)| {
            let in_series: Vec<&&Measurement> = rows
                .iter()
                .filter(|m| &m.key.device == device && m.key.threads == *threads)
                .collect();
            BarSeries {
                label: series_label(&in_series[0].key, several_devices),
                bars: categories
                    .iter()
                    .map(|category| {
                        in_series
                            .iter()
                            .find(|m| &m.key.engine_label() == category)
                            .map(|m| Bar {
                                value: m.median_ms,
                                interval: Some((m.low_ms, m.high_ms)),
                                note: bar_note(m),
                            })
                    })
                    .collect(),
            }
        })
        .collect();
    GroupedBars {
        title: format!("{model}: median ms per frame (lower is better)"),
        axis: "ms per frame: median, with its 95% interval".to_string(),
        unit: " ms".to_string(),
        categories,
        series,
    }
}

fn distribution_chart(
    model: &str,
    rows: &[&Measurement],
    folders: &[ResultFolder],
) -> Option<Distribution> {
    let several_devices = distinct(rows.iter().map(|m| &m.key.device)).len() > 1;
    let series_keys = distinct(rows.iter().map(|m| (m.key.device.clone(), m.key.threads)));
    let mut spreads = Vec::new();
    // Grouped by engine, then by series, as the speed chart.
    for engine in distinct(rows.iter().map(|m| m.key.engine_label())) {
        for m in rows.iter().filter(|m| m.key.engine_label() == engine) {
            let samples: Vec<f64> = folders
                .iter()
                .filter_map(|f| f.samples.get(&m.key))
                .flatten()
                .copied()
                .collect();
            let series = series_keys
                .iter()
                .position(|(d, t)| *d == m.key.device && *t == m.key.threads)
                .expect("every measurement belongs to a series");
            let label = format!("{engine} · {}", series_label(&m.key, several_devices));
            spreads.extend(Spread::of(label, series, &samples));
        }
    }
    if spreads.is_empty() {
        return None;
    }
    let series = series_keys
        .iter()
        .map(|(device, threads)| {
            let key = SeriesKey {
                device: device.clone(),
                threads: *threads,
                ..rows[0].key.clone()
            };
            series_label(&key, several_devices)
        })
        .collect();
    Some(Distribution {
        title: format!("{model}: latency distribution per run"),
        spreads,
        series,
    })
}

/// Speed-up over each engine's fewest threads; only when some engine ran at two or more thread counts.
fn scaling_chart(model: &str, rows: &[&Measurement]) -> Option<Scaling> {
    let several_devices = distinct(rows.iter().map(|m| &m.key.device)).len() > 1;
    let mut lines = Vec::new();
    for (device, engine) in distinct(
        rows.iter()
            .map(|m| (m.key.device.clone(), m.key.engine_label())),
    ) {
        let mut points: Vec<(usize, f64)> = rows
            .iter()
            .filter(|m| m.key.device == device && m.key.engine_label() == engine)
            .map(|m| (m.key.threads, m.median_ms))
            .collect();
        if points.len() < 2 {
            continue;
        }
        points.sort_by_key(|p| p.0);
        let base = points[0].1;
        lines.push(ScalingLine {
            label: if several_devices {
                format!("{device} · {engine}")
            } else {
                engine
            },
            points: points.into_iter().map(|(t, ms)| (t, base / ms)).collect(),
        });
    }
    (!lines.is_empty()).then(|| Scaling {
        title: format!("{model}: speed-up with more threads"),
        lines,
    })
}

/// Load time (read and prepare the model) and the first inference, per engine at its fewest threads.
fn startup_chart(model: &str, rows: &[&Measurement]) -> Option<GroupedBars> {
    let several_devices = distinct(rows.iter().map(|m| &m.key.device)).len() > 1;
    let mut firsts: Vec<&Measurement> = Vec::new();
    for m in rows {
        let same = |o: &&Measurement| {
            o.key.device == m.key.device && o.key.engine_label() == m.key.engine_label()
        };
        match firsts.iter().position(same) {
            Some(i) if firsts[i].key.threads > m.key.threads => firsts[i] = m,
            Some(_) => {}
            None => firsts.push(m),
        }
    }
    firsts.retain(|m| m.load_ms.is_some() || m.first_run_ms.is_some());
    if firsts.is_empty() {
        return None;
    }
    let categories = firsts
        .iter()
        .map(|m| {
            let label = format!(
                "{} · {}",
                m.key.engine_label(),
                threads_label(m.key.threads)
            );
            if several_devices {
                format!("{}: {label}", m.key.device)
            } else {
                label
            }
        })
        .collect();
    let bars = |value: fn(&Measurement) -> Option<f64>| {
        firsts
            .iter()
            .map(|m| {
                value(m).map(|v| Bar {
                    value: v,
                    interval: None,
                    note: None,
                })
            })
            .collect::<Vec<_>>()
    };
    Some(GroupedBars {
        title: format!("{model}: start-up cost (lower is better)"),
        axis: "ms (load = read and prepare the model; model conversion = e.g. pnnx for NCNN, when not cached; first run = the first inference, not part of the per-frame figures)"
            .to_string(),
        unit: " ms".to_string(),
        categories,
        series: [
            ("load", bars(|m| m.load_ms)),
            ("model conversion", bars(|m| m.conversion_ms)),
            ("first run", bars(|m| m.first_run_ms)),
        ]
        .into_iter()
        // Conversion appears only where an engine converted the model in this run.
        .filter(|(_, bars)| bars.iter().any(Option::is_some))
        .map(|(label, bars)| BarSeries {
            label: label.to_string(),
            bars,
        })
        .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::csv::SummaryRow;
    use crate::export::run_status::{RunState, RunStatus};

    /// A measured row of `model` on tract/onnx, 1 thread, in `round`.
    fn row(model: &str, baseline: &str, round: usize, median_ms: f64, macs: u64) -> SummaryRow {
        SummaryRow {
            scenario: "study".into(),
            device: "pc".into(),
            model: model.into(),
            backend: "tract".into(),
            format: "onnx".into(),
            threads: 1,
            timing: "inference".into(),
            round,
            target: "local".into(),
            engine_version: "0".into(),
            status: "ok".into(),
            validity: "valid".into(),
            runs: Some(30),
            median_ms: Some(median_ms),
            median_low_ms: Some(median_ms * 0.99),
            median_high_ms: Some(median_ms * 1.01),
            model_macs: Some(macs),
            baseline_model: baseline.into(),
            parity: if baseline.is_empty() {
                "reference"
            } else {
                "pass"
            }
            .into(),
            min_cosine: Some(if baseline.is_empty() { 1.0 } else { 0.98 }),
            top1_agreed: Some(6),
            top5_agreed: Some(5),
            parity_inputs: Some(6),
            ..SummaryRow::default()
        }
    }

    fn folder(rows: Vec<SummaryRow>) -> ResultFolder {
        let count = rows.len();
        ResultFolder {
            path: "/synthetic".into(),
            rows,
            samples: Default::default(),
            environment: serde_json::Value::Null,
            profile: Vec::new(),
            run: Some(RunStatus {
                status: RunState::Complete,
                measurements_planned: count,
                measurements_done: count,
                resumes: None,
                scenario_fingerprint: String::new(),
            }),
        }
    }

    /// A folder of `device` on the machine `boot_id`, its one row measured from `start` to `end` (seconds).
    fn on_machine(device: &str, boot_id: &str, (start, end): (u32, u32)) -> ResultFolder {
        let mut row = row("m", "", 0, 1.0, 1);
        row.device = device.into();
        row.started_utc = format!("2026-12-02T10:00:{start:02}.000Z");
        row.ended_utc = format!("2026-12-02T10:00:{end:02}.000Z");
        ResultFolder {
            environment: serde_json::json!({ "boot_id": boot_id }),
            ..folder(vec![row])
        }
    }

    #[test]
    fn devices_on_one_running_kernel_are_one_machine_and_say_whether_they_overlapped() {
        let folders = [
            on_machine("board-a", "k1", (0, 10)),
            on_machine("board-b", "k1", (5, 20)),
            on_machine("pi", "k2", (0, 20)),
        ];
        assert_eq!(
            shared_machines(&folders),
            [SharedMachine {
                devices: vec!["board-a".into(), "board-b".into()],
                at_once: true
            }]
        );
        // One after the other: still one machine, but neither disturbed the other.
        let folders = [
            on_machine("board-a", "k1", (0, 10)),
            on_machine("board-b", "k1", (10, 20)),
        ];
        assert!(!shared_machines(&folders)[0].at_once);
        // Machines of their own, or no boot id: nothing to say.
        let folders = [
            on_machine("board-a", "k1", (0, 10)),
            on_machine("board-b", "k2", (0, 10)),
            folder(vec![row("m", "", 0, 1.0, 1)]),
        ];
        assert!(shared_machines(&folders).is_empty());
    }

    #[test]
    fn a_study_row_sets_the_variant_beside_its_baseline_on_the_same_engine() {
        // Three rounds each: the variant takes about half the time, with a seventh of the MACs.
        let rows = vec![
            row("base", "", 0, 10.0, 700),
            row("fast", "base", 0, 5.0, 100),
            row("base", "", 1, 10.4, 700),
            row("fast", "base", 1, 5.1, 100),
            row("base", "", 2, 9.8, 700),
            row("fast", "base", 2, 4.9, 100),
        ];
        let folders = vec![folder(rows)];
        let studies = studies(&folders, &measurements(&folders));
        assert_eq!(
            studies.len(),
            1,
            "one row per variant, engine and threads (round 0 carries it)"
        );
        let s = &studies[0];
        assert_eq!(
            (s.baseline.as_str(), s.key.model.as_str()),
            ("base", "fast")
        );
        assert_eq!((s.baseline_ms, s.variant_ms), (Some(10.0), Some(5.0)));
        assert_eq!(s.speedup, Some(2.0));
        assert_eq!(s.mac_ratio, Some(7.0));
        assert_eq!(s.verdict, Some(Change::Faster));
        assert_eq!((s.top1.as_str(), s.min_cosine), ("6/6", Some(0.98)));
    }

    #[test]
    fn a_variant_an_engine_could_not_run_keeps_its_reason_and_no_figures() {
        let mut failed = row("fast", "base", 0, 0.0, 100);
        failed.status = "load_failed".into();
        failed.median_ms = None;
        failed.error = "tract could not load fast.onnx: no QuantizeLinear".into();
        let folders = vec![folder(vec![row("base", "", 0, 10.0, 700), failed])];
        let studies = studies(&folders, &measurements(&folders));
        let s = &studies[0];
        assert_eq!((s.variant_ms, s.speedup, s.verdict), (None, None, None));
        assert_eq!(s.status, "load_failed");
        assert!(s.error.contains("QuantizeLinear"));
    }
}
