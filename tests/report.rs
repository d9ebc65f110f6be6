//! Charts, reports and comparisons, made from real results folders written by `harness run`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .unwrap()
}

/// A short tract-only scenario over both formats of MobileNetV2.
fn scenario(dir: &Path) -> PathBuf {
    common::tract_scenario(dir, "report-test", 12)
}

/// Runs the scenario through the CLI, as `device`, and returns its results folder.
fn run(scenario: &Path, device: &str, threads: &str) -> PathBuf {
    let out = harness(&[
        "run",
        scenario.to_str().unwrap(),
        "--device",
        device,
        "--threads",
        threads,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.trim())
}

/// Parses an SVG document and returns the text of all its `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(svg).expect("the chart is well-formed SVG");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    document
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| n.text().unwrap_or_default().trim().to_string())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_run_writes_its_charts_and_both_reports() {
    let dir = tempfile::tempdir().unwrap();
    let folder = run(&scenario(dir.path()), "pc", "1,2");

    for kind in ["speed", "distribution", "scaling", "startup"] {
        for extension in ["svg", "png"] {
            let path = folder.join(format!("charts/{kind}-mobilenet_v2.{extension}"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
        let png = image::open(folder.join(format!("charts/{kind}-mobilenet_v2.png"))).unwrap();
        assert!(
            png.width() >= 800 && png.height() >= 250,
            "{kind}: {}×{}",
            png.width(),
            png.height()
        );
    }

    let speed = svg_texts(&read(&folder.join("charts/speed-mobilenet_v2.svg")));
    for expected in [
        "mobilenet_v2: median ms per frame (lower is better)",
        "ms per frame: median, with its 95% interval",
        "tract · onnx",
        "tract · tflite",
        "1 thread",
        "2 threads",
    ] {
        assert!(
            speed.iter().any(|t| t == expected),
            "`{expected}` not in {speed:?}"
        );
    }
    // Every bar carries its value.
    let values = speed
        .iter()
        .filter(|t| t.ends_with(" ms") || t.contains(" ms ("))
        .count();
    assert_eq!(values, 4, "{speed:?}");
    // tract's TFLite answers differ from the reference: its bars say so, as the tables do.
    let differ = speed
        .iter()
        .filter(|t| t.contains(" ms (answers differ"))
        .count();
    assert_eq!(differ, 2, "{speed:?}");

    let scaling = svg_texts(&read(&folder.join("charts/scaling-mobilenet_v2.svg")));
    assert!(scaling.iter().any(|t| t == "ideal (linear)"), "{scaling:?}");
    assert!(scaling.iter().any(|t| t == "threads"), "{scaling:?}");
    let startup = svg_texts(&read(&folder.join("charts/startup-mobilenet_v2.svg")));
    assert!(startup.iter().any(|t| t == "load") && startup.iter().any(|t| t == "first run"));

    let markdown = read(&folder.join("report.md"));
    assert!(markdown.contains("![mobilenet_v2: ms per frame](charts/speed-mobilenet_v2.png)"));
    assert!(
        markdown.contains("| pc | mobilenet_v2 | tract · onnx | 1 |"),
        "{markdown}"
    );
    assert!(markdown.contains("## Do the engines compute the same answer?"));
    assert!(markdown.contains("## Environment"));
    // tract's TFLite answers differ at both thread counts: one warning says so, once.
    let differ: Vec<&str> = markdown
        .lines()
        .filter(|l| l.contains("answers differ from"))
        .collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
    assert!(
        differ[0]
            .contains("pc · mobilenet_v2 · tract · tflite · 1 thread, 2 threads: answers differ"),
        "{differ:?}"
    );
    // Achieved multiply-accumulates per second and their share of the measured peak.
    assert!(markdown.contains("| GMAC/s (of peak) |"), "{markdown}");
    // Each row says what stopped its runs (the fixed rules here) and how precise its median is; a dozen runs
    // support no p99.
    assert!(markdown.contains("| stopped by |"), "{markdown}");
    assert!(markdown.contains("| minimums (±"), "{markdown}");
    assert!(markdown.contains("| (needs 662 runs) |"), "{markdown}");
    assert!(markdown.contains("| FMA peak per core |"), "{markdown}");
    // The row of the measurements table (it has the "vs fastest" factor), not the parity table's.
    let tract_row = markdown
        .lines()
        .find(|l| l.starts_with("| pc | mobilenet_v2 | tract · onnx | 1 |") && l.contains('×'))
        .unwrap();
    assert!(tract_row.contains("%) |"), "{tract_row}");

    let html = read(&folder.join("report.html"));
    // Self-contained: every chart inline, nothing fetched.
    for forbidden in ["src=\"http", "href=\"http", "<img", "<script", "<link"] {
        assert!(
            !html.contains(forbidden),
            "the report refers to `{forbidden}`"
        );
    }
    let charts: Vec<&str> = html.split("<svg").skip(1).collect();
    assert_eq!(charts.len(), 4, "one inline SVG per chart");
    for chart in charts {
        let end = chart.find("</svg>").expect("the inline SVG is closed") + "</svg>".len();
        svg_texts(&format!("<svg{}", &chart[..end]));
    }
    for engine in ["tract · onnx", "tract · tflite"] {
        assert!(html.contains(engine), "{engine} is not in the report");
    }
}

#[test]
fn a_report_of_two_devices_has_one_grouped_chart_with_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    let pc = run(&path, "pc", "1");
    let board = run(&path, "board", "1");
    let out = dir.path().join("merged");
    let result = harness(&[
        "report",
        pc.to_str().unwrap(),
        board.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );

    let speed_charts: Vec<_> = std::fs::read_dir(out.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("speed-") && n.ends_with(".svg"))
        .collect();
    assert_eq!(speed_charts, ["speed-mobilenet_v2.svg"]);
    let texts = svg_texts(&read(&out.join("charts/speed-mobilenet_v2.svg")));
    for series in ["pc · 1 thread", "board · 1 thread"] {
        assert!(
            texts.iter().any(|t| t == series),
            "`{series}` not in {texts:?}"
        );
    }
    let markdown = read(&out.join("report.md"));
    assert!(markdown.contains("devices: pc, board"), "{markdown}");
    for device in ["pc", "board"] {
        assert!(
            markdown.contains(&format!("| {device} | cpu model |")),
            "{markdown}"
        );
    }
    // A merged report written elsewhere leaves each folder's own report alone.
    let own = read(&pc.join("report.md"));
    assert!(
        own.contains("device: pc ") && !own.contains("board"),
        "{own}"
    );

    // One folder given twice would count its rows twice.
    let twice = harness(&[
        "report",
        pc.to_str().unwrap(),
        &format!("{}/", pc.display()),
    ]);
    assert!(!twice.status.success());
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(stderr.contains("is given twice"), "{stderr}");
    // A folder the harness did not write (a summary.csv copied elsewhere) gets no report files without --out.
    let stray = dir.path().join("stray");
    std::fs::create_dir(&stray).unwrap();
    std::fs::copy(pc.join("summary.csv"), stray.join("summary.csv")).unwrap();
    let refused = harness(&["report", stray.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is not a results folder written by `harness run`")
            && stderr.contains("--out"),
        "{stderr}"
    );
    let written: Vec<_> = std::fs::read_dir(&stray).unwrap().collect();
    assert_eq!(
        written.len(),
        1,
        "nothing written beside the stray summary.csv"
    );
}

/// `harness compare` on two folders: its exit status and its table.
fn compare(baseline: &Path, new: &Path) -> (Option<i32>, String) {
    let out = harness(&["compare", baseline.to_str().unwrap(), new.to_str().unwrap()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A copy of a results folder whose latencies are replaced by steady synthetic ones: every round of a measurement
/// at `factor` times its first round's median, give or take 1%. Real files, controlled numbers.
fn steady_copy(folder: &Path, to: &Path, factor: f64) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for file in ["environment.json", "run.json", "scenario.toml"] {
        std::fs::copy(folder.join(file), to.join(file)).unwrap();
    }
    let key = |header: &csv::StringRecord, record: &csv::StringRecord| {
        ["backend", "format", "threads"]
            .map(|c| record[header.iter().position(|h| h == c).unwrap()].to_string())
    };
    let mut reader = csv::Reader::from_path(folder.join("summary.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let base = |k: &[String; 3]| -> f64 {
        records
            .iter()
            .find(|r| &key(&header, r) == k && &r[column("round")] == "0")
            .unwrap()[column("median_ms")]
        .parse()
        .unwrap()
    };
    let mut writer = csv::Writer::from_path(to.join("summary.csv")).unwrap();
    writer.write_record(&header).unwrap();
    for record in &records {
        let median = base(&key(&header, record)) * factor;
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        for (name, value) in [
            ("median_ms", median),
            ("median_low_ms", median * 0.99),
            ("median_high_ms", median * 1.01),
        ] {
            cells[column(name)] = format!("{value:.6}");
        }
        writer.write_record(&cells).unwrap();
    }
    let mut reader = csv::Reader::from_path(folder.join("samples.csv")).unwrap();
    let sample_header = reader.headers().unwrap().clone();
    let (run, latency) = (
        sample_header.iter().position(|h| h == "run").unwrap(),
        sample_header
            .iter()
            .position(|h| h == "latency_ms")
            .unwrap(),
    );
    let mut writer = csv::Writer::from_path(to.join("samples.csv")).unwrap();
    writer.write_record(&sample_header).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let jitter = 1.0 + 0.01 * (record[run].parse::<f64>().unwrap() % 5.0 - 2.0) / 2.0;
        let value = base(&key(&sample_header, &record)) * factor * jitter;
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        cells[latency] = format!("{value:.6}");
        writer.write_record(&cells).unwrap();
    }
    to.to_path_buf()
}

#[test]
fn compare_flags_a_twenty_percent_slowdown_and_nothing_for_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    // Two rounds: the comparison's interval comes from the spread of the rounds.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[measure]\n", "[measure]\nrounds = 2\n");
    std::fs::write(&path, text).unwrap();
    let measured = run(&path, "pc", "1");
    // The same folder twice: nothing changed, and the command says what was compared.
    let (code, table) = compare(&measured, &measured);
    assert_eq!(code, Some(0), "{table}");
    let same = harness(&[
        "compare",
        measured.to_str().unwrap(),
        &format!("{}/", measured.display()),
    ]);
    let stderr = String::from_utf8_lossy(&same.stderr);
    assert!(
        stderr.contains("note: both sides are the same folder"),
        "{stderr}"
    );
    assert_eq!(
        table.matches("| rounds | no change |").count(),
        2,
        "{table}"
    );

    // Steady synthetic latencies, then the same 20% slower and 20% faster.
    let baseline = steady_copy(&measured, &dir.path().join("baseline"), 1.0);
    let slower = steady_copy(&measured, &dir.path().join("slower"), 1.2);
    let faster = steady_copy(&measured, &dir.path().join("faster"), 1.0 / 1.2);
    let (code, table) = compare(&baseline, &slower);
    assert_eq!(code, Some(1), "a slowdown fails the command: {table}");
    assert_eq!(table.matches("| slower |").count(), 2, "{table}");
    assert!(table.contains("+20.0%"), "{table}");
    let written = slower.join(format!(
        "compare-{}",
        baseline.file_name().unwrap().to_string_lossy()
    ));
    assert!(written.join("comparison.svg").is_file());
    // comparison.csv and `--json`: the same rows, read back by the type that writes them.
    let rows: Vec<harness::compare::ComparisonRow> =
        csv::Reader::from_path(written.join("comparison.csv"))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.verdict == "slower" && (r.change - 0.2).abs() < 0.01),
        "{rows:?}"
    );
    let json = harness(&[
        "compare",
        "--json",
        baseline.to_str().unwrap(),
        slower.to_str().unwrap(),
    ]);
    assert_eq!(json.status.code(), Some(1));
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let from_json: Vec<harness::compare::ComparisonRow> =
        serde_json::from_value(document["comparisons"].clone()).unwrap();
    assert_eq!(from_json, rows);

    let (code, table) = compare(&baseline, &faster);
    assert_eq!(code, Some(0), "{table}");
    assert_eq!(table.matches("| faster |").count(), 2, "{table}");

    let missing = harness(&[
        "compare",
        baseline.to_str().unwrap(),
        dir.path().join("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere"));
}

#[test]
fn a_study_checks_variants_against_the_baseline_and_reports_their_speed_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    let bn = common::root().join("models/variants/mobilenet_v2_bn.onnx");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[inputs]",
        &format!(
            "[[models]]\nname = \"with_bn\"\nbaseline = \"mobilenet_v2\"\nonnx = \"{}\"\n\n[models.input]\nshape = [1, 3, 224, 224]\nlayout = \"NCHW\"\n\n[inputs]",
            bn.display()
        ),
    );
    std::fs::write(&path, text).unwrap();
    let folder = run(&path, "pc", "1");

    let mut reader = csv::Reader::from_path(folder.join("summary.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let variant = reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[column("model")] == "with_bn")
        .expect("the variant is measured");
    assert_eq!(&variant[column("baseline_model")], "mobilenet_v2");
    // Checked against the baseline's reference outputs: the same network, so the float thresholds hold.
    assert_eq!(
        &variant[column("parity_reference")],
        "mobilenet_v2 · tract onnx 1 thread"
    );
    assert_eq!(
        &variant[column("parity")],
        "pass",
        "{:?}",
        &variant[column("parity_reasons")]
    );
    assert!(variant[column("model_macs")].parse::<u64>().unwrap() > 290_000_000);

    let markdown = read(&folder.join("report.md"));
    assert!(markdown.contains("## Technique studies"), "{markdown}");
    assert!(
        markdown.contains("| pc | mobilenet_v2 | with_bn | tract · onnx | 1 |"),
        "{markdown}"
    );
    let chart = svg_texts(&read(&folder.join("charts/study-mobilenet_v2.svg")));
    assert!(chart.iter().any(|t| t == "with_bn"), "{chart:?}");
    assert!(chart.iter().any(|t| t == "tract · onnx · 1t"), "{chart:?}");
}

#[test]
fn report_refuses_an_empty_summary_a_bad_cell_and_another_folders_report() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::tract_scenario(dir.path(), "report-refusals", 3);
    let first = run(&scenario, "pc", "1");
    let second = run(&scenario, "pc", "1");
    let refused = |args: &[&str], words: &str| {
        let out = harness(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(words), "`{words}` in: {stderr}");
    };

    // `--out` naming another results folder would overwrite that folder's own report.
    let theirs = read(&second.join("report.md"));
    let first_arg = first.to_str().unwrap();
    refused(
        &["report", first_arg, "--out", second.to_str().unwrap()],
        "is another results folder: its own report would be overwritten by this one",
    );
    assert_eq!(read(&second.join("report.md")), theirs);
    // Its own folder, named as --out, is fine.
    let own = harness(&["report", first_arg, "--out", first_arg]);
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );

    // A cell that is not what its column holds is named by its column.
    let summary = first.join("summary.csv");
    let mut reader = csv::Reader::from_path(&summary).unwrap();
    let header = reader.headers().unwrap().clone();
    let runs = header.iter().position(|c| c == "runs").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut writer = csv::Writer::from_path(&summary).unwrap();
    writer.write_record(&header).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let cells = row.iter().enumerate().map(|(column, cell)| {
            if i == 0 && column == runs {
                "many"
            } else {
                cell
            }
        });
        writer.write_record(cells).unwrap();
    }
    writer.flush().unwrap();
    let out_dir = dir.path().join("out");
    let out = out_dir.to_str().unwrap();
    refused(
        &["report", first_arg, "--out", out],
        &format!(
            "{}: line 2: column `runs`: invalid digit",
            summary.display()
        ),
    );

    // A summary.csv cut off before its header is not a folder of no measurements.
    std::fs::write(&summary, b"").unwrap();
    refused(
        &["report", first_arg, "--out", out],
        "summary.csv is empty: it has not even its header row",
    );
}
