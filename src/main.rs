use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use harness::backends;
use harness::record::Status;
use harness::run::isolation::{Isolation, Workers};
use harness::scenario::Overrides;
use harness::scenario::{self, from_models, ScenarioError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Which inference engine runs my network fastest on this machine, and does it still compute the same answer?
#[derive(Parser)]
#[command(version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: boxing the large `Run` variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its results folder. Given model files (.onnx, .tflite: one network) instead
    /// of a scenario, measure them with the scenario `harness init` would write for them.
    Run {
        #[arg(required = true, value_name = "SCENARIO | MODEL...")]
        scenario: Vec<PathBuf>,
        #[command(flatten)]
        models: ModelOptions,
        /// Only these backends (comma-separated), of those the scenario configures.
        #[arg(long, value_delimiter = ',')]
        backends: Option<Vec<String>>,
        /// Thread counts to sweep (comma-separated), instead of the scenario's.
        #[arg(long, value_delimiter = ',')]
        threads: Option<Vec<usize>>,
        /// Short warm-up and measurement, for a first look.
        #[arg(long)]
        quick: bool,
        /// After each measurement, a profiled pass with the engine's own profiler: where the time goes, node
        /// by node and by operator class (profile.csv, and charts in the report).
        #[arg(long)]
        profile: bool,
        /// Every round's row, parity line and drift in the terminal, before the short answer.
        #[arg(long)]
        verbose: bool,
        /// Also write the short answer as a Markdown table to FILE (for a README or a pull request).
        #[arg(long, value_name = "FILE")]
        export_markdown: Option<PathBuf>,
        /// Parent folder for the results, instead of the scenario's `output`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Measure inside this process instead of one worker process per measurement (for debugging: an
        /// engine that crashes then ends the run).
        #[arg(long)]
        in_process: bool,
        /// Tag every row with this device name instead of the host name (or the target's name).
        #[arg(long)]
        device: Option<String>,
        /// Run on this target (a board over ssh, or `emulated-aarch64`), defined in the targets file, and
        /// copy its results folder back here. Several (`pi5,rk3588,local`) or a fleet (`@NAME`, a
        /// `[fleets.NAME]` list) measure at once, into one fleet folder with one report.
        #[arg(long, value_name = "TARGET[,TARGET...] | @FLEET")]
        target: Option<String>,
        /// A fleet copies bundles and jobs to at most this many targets at once.
        #[arg(long, default_value_t = 4, value_name = "N")]
        jobs: usize,
        /// The targets file; default: targets.toml here, else ~/.config/harness/targets.toml.
        #[arg(long)]
        targets: Option<PathBuf>,
        /// Measure only what this earlier, unfinished results folder of the scenario lacks (rows it never
        /// wrote, or wrote as interrupted), into a new folder whose report covers both. With --target, the
        /// folder is one copied back from that target, or a fleet folder: its targets named by --target that
        /// did not complete are resumed into it.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Pin every worker process to these cores: a list (`4,5,6,7`), or `big` for the cluster with the
        /// highest top frequency of the machine that measures (a big.LITTLE board's big cores).
        #[arg(long)]
        cpus: Option<String>,
        /// How this machine was reached, set by the harness that drives a run on a target.
        #[arg(long, hide = true)]
        target_kind: Option<harness::machine::Access>,
        /// Stop as after Ctrl-C when standard input closes: how the driving harness stops this one.
        #[arg(long, hide = true)]
        stop_on_eof: bool,
    },
    /// Merge one or more results folders (e.g. a PC run and a board run) into charts, report.md and
    /// report.html.
    Report {
        #[arg(required = true)]
        folders: Vec<PathBuf>,
        /// Where to write the report: by default the folder itself when there is one, otherwise a new
        /// `<timestamp>-report` folder beside the first.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare a new run with a baseline run: faster, slower or no change per measurement. Exit status 0 when
    /// nothing is slower, 1 when something is, 2 on an error.
    Compare {
        baseline: PathBuf,
        new: PathBuf,
        /// Changes of the median smaller than this many percent are never reported.
        #[arg(long, default_value_t = 5.0)]
        threshold: f64,
        /// Where to write comparison.md, comparison.csv and the chart; by default `compare-<baseline>` inside
        /// the new folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the comparison as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Compare two profiled measurements (`run --profile`) by operator class: where one engine, format or
    /// variant spends its time against the other. A and B are `[MODEL/]BACKEND[:FORMAT][@THREADS]`, e.g.
    /// `ort tract`, `tract:onnx tract:tflite`, `mobilenet_v2_classic/ort mobilenet_v2/ort`.
    Profile {
        a: String,
        b: String,
        /// The results folders to read (repeatable); by default the newest folder under results/ with a
        /// profile.
        #[arg(long = "results", value_name = "FOLDER")]
        folders: Vec<PathBuf>,
    },
    /// Print a commented scenario for one network's model files (.onnx, .tflite), to edit and run.
    Init {
        #[arg(required = true)]
        models: Vec<PathBuf>,
        #[command(flatten)]
        options: ModelOptions,
    },
    /// Check a scenario without running it.
    Check {
        scenario: PathBuf,
        /// Print the verdict as JSON: `valid`, `measurements`, or where the scenario is wrong.
        #[arg(long)]
        json: bool,
    },
    /// List the compiled-in backends, their engine versions, runtimes and formats.
    Backends {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a model's inputs and outputs as each capable backend sees them.
    Inspect {
        model: PathBuf,
        /// Print the inspection as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell's completion script: `harness completions bash > /etc/bash_completion.d/harness`.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): `harness man > harness.1 && man ./harness.1`.
    Man,
    /// Run one measurement job from standard input and print its record (used by `run`).
    #[command(hide = true)]
    Worker {
        /// Load nothing and print this process's peak resident memory and peak address space in kB: the
        /// harness's own share of every worker's figures.
        #[arg(long)]
        baseline: bool,
    },
}

/// The release and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HARNESS_GIT_COMMIT"),
    ")"
);

/// How model files given without a scenario are measured.
#[derive(clap::Args)]
struct ModelOptions {
    /// The size of an input's free dimensions: NAME=1x3x640x640 (repeatable).
    #[arg(long = "shape", value_parser = from_models::parse_shape, value_name = "NAME=DIMS")]
    shapes: Vec<(String, Vec<usize>)>,
    /// An input's values: NAME=16000 (a constant) or NAME=0..30522 (a range) (repeatable).
    #[arg(long = "input", value_parser = from_models::parse_fill, value_name = "NAME=VALUES")]
    fills: Vec<(String, from_models::InputFill)>,
}

impl ModelOptions {
    fn request(self) -> from_models::ModelRequest {
        from_models::ModelRequest {
            files: Vec::new(),
            shapes: self.shapes,
            fills: self.fills,
        }
    }
}

/// Exit status for a scenario that does not pass its checks.
const INVALID_SCENARIO: u8 = 2;
/// Exit status of `compare` when something got slower, and when it could not compare (as `diff`).
const COMPARE_SLOWER: u8 = 1;
const COMPARE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A file-size limit (`ulimit -f`) makes the write that passes it fail with EFBIG instead of killing the
    // process mid-row: results written so far are then cut back to their last whole row, as on a full disk.
    // SAFETY: setting a signal's disposition, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    if !matches!(cli.command, Command::Run { .. } | Command::Worker { .. }) {
        // Commands that only print end quietly when their reader goes away (`harness compare a b | head`), as
        // Unix tools do. `run` keeps Rust's default: it writes jobs to worker processes that may have died, and
        // must see that as an error, not be killed by it.
        // SAFETY: setting a signal's disposition to the default, before any other thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Command::Run {
            scenario,
            models,
            backends,
            threads,
            quick,
            profile,
            verbose,
            export_markdown,
            out,
            in_process,
            device,
            target,
            jobs,
            targets,
            target_kind,
            stop_on_eof,
            resume,
            cpus,
        } => {
            if stop_on_eof {
                harness::interrupt::stop_when_stdin_closes();
            }
            let overrides = Overrides {
                backends,
                threads,
                quick,
                profile,
                verbose,
                out,
                device,
                target: target_kind,
                resume,
                cpus,
            };
            match (target, scenario.as_slice()) {
                (Some(_), _) if export_markdown.is_some() => Err(anyhow::anyhow!(
                    "--export-markdown writes the answer of a run on this machine; with --target, \
                     `harness report` the folder it copies back"
                )),
                (Some(names), [file])
                    if from_models::model_format(file).is_none()
                        && harness::fleet::is_fleet(&names, overrides.resume.as_deref()) =>
                {
                    run_fleet(&harness::fleet::FleetRequest {
                        scenario: file,
                        overrides: &overrides,
                        targets: &names,
                        targets_file: targets.as_deref(),
                        jobs,
                    })
                }
                (Some(name), [file]) if from_models::model_format(file).is_none() => {
                    run_on_target(file, &overrides, &name, targets.as_deref())
                }
                (Some(_), _) => Err(anyhow::anyhow!(
                    "--target runs a scenario file: `harness init MODEL... > my.toml` writes one"
                )),
                (None, paths) => run(
                    paths,
                    models.request(),
                    (overrides, in_process),
                    export_markdown.as_deref(),
                ),
            }
        }
        Command::Report { folders, out } => report(&folders, out),
        Command::Compare {
            baseline,
            new,
            threshold,
            out,
            json,
        } => compare((&baseline, &new), threshold, out, json).or_else(|e| {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(COMPARE_ERROR))
        }),
        Command::Profile { a, b, folders } => profile(&a, &b, folders),
        Command::Init { models, options } => init(&models, options.request()),
        Command::Check { scenario, json } => check(&scenario, json),
        Command::Backends { json } => list_backends(json),
        Command::Inspect { model, json } => inspect(&model, json),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "harness",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
        Command::Worker { baseline } => worker(baseline),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<ScenarioError>() {
                Some(_) => ExitCode::from(INVALID_SCENARIO),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn run(
    paths: &[PathBuf],
    request: from_models::ModelRequest,
    (overrides, in_process): (Overrides, bool),
    export_markdown: Option<&Path>,
) -> Result<ExitCode> {
    let compiled = backends::compiled_in();
    let mut scenario = scenario::load_or_write(paths, request, &backends::infos(&compiled))?;
    overrides.apply(&mut scenario)?;
    let isolation = if in_process {
        Isolation::InProcess
    } else {
        Isolation::Subprocess(Workers::new(
            std::env::current_exe().context("cannot find the harness executable")?,
            std::env::var_os(harness::machine::WORKER_LAUNCHER_VARIABLE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        ))
    };
    harness::interrupt::install();
    let outcome = harness::run::run(&scenario, &compiled, &isolation, &mut std::io::stderr())?;
    if let Some(file) = export_markdown {
        std::fs::write(file, harness::export::answer::markdown(&outcome.records))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    // The folder alone on stdout, so that `dir=$(harness run …)` works; everything else went to stderr.
    println!("{}", outcome.folder.display());
    if outcome.interrupted {
        // As shells report a death by the signal: 130 after Ctrl-C, 143 after SIGTERM.
        return Ok(ExitCode::from(harness::interrupt::exit_status()));
    }
    if outcome.records.iter().any(|r| r.status == Status::Ok) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: nothing could be measured");
        Ok(ExitCode::FAILURE)
    }
}

fn run_on_target(
    scenario: &Path,
    overrides: &Overrides,
    name: &str,
    targets: Option<&Path>,
) -> Result<ExitCode> {
    harness::interrupt::install();
    let outcome = harness::remote::run(scenario, overrides, name, targets)?;
    for folder in &outcome.folders {
        println!("{}", folder.display());
    }
    // The remote harness's own verdict: 0, 1 (nothing measured), 2 (bad scenario), 130 or 143 (interrupted).
    Ok(match outcome.status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn run_fleet(request: &harness::fleet::FleetRequest) -> Result<ExitCode> {
    use harness::export::fleet_json::TargetState;
    harness::interrupt::install();
    let outcome = harness::fleet::run(request)?;
    let status = &outcome.status;
    eprintln!();
    for target in &status.targets {
        eprintln!(
            "{}: {}{}",
            target.name,
            target.state.as_str(),
            target
                .seconds
                .map_or(String::new(), |s| format!(" ({s:.0} s)"))
        );
        if target.state != TargetState::Complete && !target.error.is_empty() {
            eprintln!("  {}\n  resume it with: {}", target.error, target.resume);
        }
    }
    if let Some(wall) = status.wall_seconds {
        eprintln!(
            "fleet: {wall:.0} s, against {:.0} s for its targets one after the other",
            status.sequential_seconds()
        );
    }
    if let Some(report) = &outcome.report {
        eprintln!("report: {}", report.display());
    }
    println!("{}", outcome.folder.display());
    let complete = status.complete();
    Ok(if harness::interrupt::requested() {
        ExitCode::from(harness::interrupt::exit_status())
    } else if complete == status.targets.len() {
        ExitCode::SUCCESS
    } else if complete > 0 {
        eprintln!(
            "fleet: partial, {complete} of {} targets complete (exit status {})",
            status.targets.len(),
            harness::fleet::PARTIAL
        );
        ExitCode::from(harness::fleet::PARTIAL)
    } else {
        eprintln!("error: no target of the fleet completed");
        ExitCode::FAILURE
    })
}

fn profile(a: &str, b: &str, mut folders: Vec<PathBuf>) -> Result<ExitCode> {
    if folders.is_empty() {
        folders.push(harness::profile::newest_profiled(Path::new("results"))?);
    }
    print!("{}", harness::profile::compare(&folders, (a, b))?);
    Ok(ExitCode::SUCCESS)
}

fn report(folders: &[PathBuf], out: Option<PathBuf>) -> Result<ExitCode> {
    if let ([fleet], None) = (folders, &out) {
        if harness::export::fleet_json::FleetStatus::is_fleet(fleet) {
            let written = harness::report::fleet_report(fleet)?;
            println!("{}", written.markdown.display());
            println!("{}", written.html.display());
            return Ok(ExitCode::SUCCESS);
        }
    }
    for (i, folder) in folders.iter().enumerate() {
        let same = |other: &PathBuf| harness::results::same_folder(folder, other);
        if folders[..i].iter().any(same) {
            bail!(
                "{} is given twice: its rows would be counted twice",
                folder.display()
            );
        }
    }
    let out = match (out, folders) {
        (Some(out), _) => {
            let reported = |folder: &PathBuf| harness::results::same_folder(folder, &out);
            if out.join("run.json").is_file() && !folders.iter().any(reported) {
                bail!(
                    "--out {} is another results folder: its own report would be overwritten by this one; give \
                     --out a folder of its own",
                    out.display()
                );
            }
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            out
        }
        // A report is written into the folder only when the harness made that folder.
        (None, [only]) if !only.join("run.json").is_file() => bail!(
            "{} is not a results folder written by `harness run` (it has no run.json): give --out for the \
             report's folder",
            only.display()
        ),
        (None, [only]) => only.clone(),
        (None, [first, ..]) => {
            let parent = first.parent().unwrap_or(Path::new("."));
            harness::export::folder::create_run_folder(
                parent,
                "report",
                std::time::SystemTime::now(),
            )?
        }
        (None, []) => bail!("name at least one results folder"),
    };
    let written = harness::report::report(folders, &out)?;
    println!("{}", written.markdown.display());
    println!("{}", written.html.display());
    Ok(ExitCode::SUCCESS)
}

fn compare(
    (baseline, new): (&Path, &Path),
    threshold: f64,
    out: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    if !(threshold >= 0.0 && threshold.is_finite()) {
        bail!("--threshold must be a percentage of zero or more, not {threshold}");
    }
    let rules = harness::compare::CompareRules {
        noise_threshold: threshold / 100.0,
        ..Default::default()
    };
    if harness::results::same_folder(baseline, new) {
        eprintln!(
            "note: both sides are the same folder ({}): every difference below is noise between its own rounds",
            baseline.display()
        );
    }
    let before = harness::results::ResultFolder::load(baseline)?;
    let after = harness::results::ResultFolder::load(new)?;
    let outcome = harness::compare::compare(&before, &after, &rules);
    if outcome.comparisons.is_empty() {
        bail!(
            "{} and {} have no measurement in common (same device, model, engine, format, threads)",
            baseline.display(),
            new.display()
        );
    }
    let table = harness::compare::table(&outcome, &rules);
    let out = out.unwrap_or_else(|| {
        let name = baseline
            .file_name()
            .map_or("baseline".into(), |n| n.to_string_lossy().into_owned());
        new.join(format!("compare-{name}"))
    });
    let written = harness::compare::write(&outcome, &table, baseline, new, &out)?;
    if json {
        let rows: Vec<_> = outcome
            .comparisons
            .iter()
            .map(harness::compare::ComparisonRow::of)
            .collect();
        let document = serde_json::json!({
            "comparisons": rows, "only_in_baseline": outcome.only_in_baseline,
            "only_in_new": outcome.only_in_new, "written": written,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print!("{table}");
        println!("{}", written.display());
    }
    Ok(if outcome.any_slower() {
        ExitCode::from(COMPARE_SLOWER)
    } else {
        ExitCode::SUCCESS
    })
}

fn worker(baseline: bool) -> Result<ExitCode> {
    if baseline {
        let status = harness::measure::ProcessStatus::read();
        let peaks = status.and_then(|s| Some((s.peak_resident_kb()?, s.peak_address_space_kb()?)));
        let (resident, address_space) =
            peaks.context("cannot read this process's memory from /proc/self/status")?;
        println!("{resident} {address_space}");
        return Ok(ExitCode::SUCCESS);
    }
    harness::run::isolation::serve()?;
    Ok(ExitCode::SUCCESS)
}

fn init(models: &[PathBuf], request: from_models::ModelRequest) -> Result<ExitCode> {
    let request = from_models::ModelRequest {
        files: models.to_vec(),
        ..request
    };
    let compiled = backends::compiled_in();
    print!(
        "{}",
        from_models::write(&request, &backends::infos(&compiled))?
    );
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path, json: bool) -> Result<ExitCode> {
    let compiled = backends::compiled_in();
    let loaded = scenario::load(path, &backends::infos(&compiled));
    let scenario = match (loaded, json) {
        (Ok(scenario), _) => scenario,
        (Err(e), true) => {
            let (line, column) = e.position.unzip();
            let verdict = serde_json::json!({
                "scenario": path, "valid": false, "file": e.file, "line": line, "column": column,
                "field": e.field, "message": e.message,
            });
            println!("{verdict}");
            return Ok(ExitCode::from(INVALID_SCENARIO));
        }
        (Err(e), false) => return Err(e.into()),
    };
    // The files first: a shape they cannot take is said before inputs of that shape are made.
    scenario.check_files_exist()?;
    for model in &scenario.models {
        harness::model_info::check_files(model)?;
    }
    harness::run::prepare_models(&scenario)?;
    harness::run::check_cpus(scenario.measure.cpus.as_deref())?;
    let count = harness::plan::expand(&scenario).len();
    if json {
        let verdict = serde_json::json!({ "scenario": path, "valid": true, "measurements": count });
        println!("{verdict}");
    } else {
        let noun = if count == 1 {
            "measurement"
        } else {
            "measurements"
        };
        println!("{}: valid, {count} {noun}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn list_backends(json: bool) -> Result<ExitCode> {
    let infos: Vec<_> = backends::compiled_in()
        .iter()
        .map(|backend| {
            // Whether it loads shows in `info().runtime`.
            let _ = backend.load_runtime();
            backend.info()
        })
        .collect();
    if json {
        let list: Vec<serde_json::Value> = infos
            .iter()
            .map(|info| {
                serde_json::json!({
                    "name": info.name, "engine_version": info.engine_version, "formats": info.formats,
                    "runtime": info.runtime.as_ref().ok(), "runtime_error": info.runtime.as_ref().err(),
                    "threads": info.threads_note,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    for info in infos {
        let formats: Vec<&str> = info.formats.iter().map(|f| f.as_str()).collect();
        println!("{} {}", info.name, info.engine_version);
        println!("  formats: {}", formats.join(", "));
        match &info.runtime {
            Ok(runtime) => println!("  runtime: {runtime}"),
            Err(why) => println!("  runtime: NOT AVAILABLE: {why}"),
        }
        println!("  threads: {}", info.threads_note);
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(model: &Path, json: bool) -> Result<ExitCode> {
    // Engines load in this process: what they print goes to standard error, not into the answer.
    let mut out = harness::stdout::reserve()?;
    let inspection = harness::inspect::Inspection::of(model, &backends::compiled_in())?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&inspection)?)?;
    } else {
        write!(out, "{}", inspection.text())?;
    }
    Ok(if inspection.loaded_anywhere() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
