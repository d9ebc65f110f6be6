//! One run of a scenario: plan → measurements → records → results folder and terminal table.
//!
//! The loop: expand the scenario into plans, leave out what a resumed folder already holds, run each model's
//! parity reference, then measure each plan (in a worker process: `isolation`, `execute`), complete its
//! record with what only this process knows, and write its rows at once (`folder`).

pub mod execute;
mod folder;
mod handover;
pub mod isolation;
mod prepare;
mod profile;
mod progress;
mod reference;

pub use prepare::{prepare_models, PreparedModel};

use crate::analysis::operators::Graph;
use crate::analysis::parity;
use crate::export::run_status::{RunState, RunStatus};
use crate::plan::{self, MeasurementPlan, Timing};
use crate::record::{MeasurementRecord, Status};
use crate::results::ResultFolder;
use crate::scenario::Scenario;
use anyhow::{bail, Result};
use folder::{Classes, RunFolder};
use harness_backend_api::Backend;
use isolation::{measure, profile_pass, Isolation};
use prepare::MacCounts;
use progress::Progress;
use reference::References;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

pub struct RunOutcome {
    pub folder: PathBuf,
    pub records: Vec<MeasurementRecord>,
    /// The user stopped the run before every plan was measured.
    pub interrupted: bool,
}

/// Measures every plan of `scenario`, writing each row as soon as it is measured.
pub fn run(
    scenario: &Scenario,
    backends: &[Box<dyn Backend>],
    isolation: &Isolation,
    out: &mut dyn Write,
) -> Result<RunOutcome> {
    // The earlier folder of a resumed run is read, never written.
    let earlier = match &scenario.resume_from {
        Some(path) => Some(ResultFolder::load(path)?),
        None => None,
    };
    let device = scenario
        .device
        .clone()
        .unwrap_or_else(crate::export::environment::device_name);
    check_thread_counts(&scenario.threads, out)?;
    check_cpus(scenario.measure.cpus.as_deref())?;
    let plans = pending(scenario, earlier.as_ref(), &device)?;
    for model in &scenario.models {
        crate::model_info::check_shapes(model)?;
    }
    let prepared = prepare_models(scenario)?;
    let mut environment = folder::environment(scenario, backends);
    if let Isolation::Subprocess(workers) = isolation {
        let baseline = workers.baseline();
        if let (Some(baseline), Some(limit)) = (baseline, scenario.measure.memory_limit_mb) {
            let needed_mb = baseline.address_space_kb.div_ceil(1024);
            if limit < needed_mb {
                bail!(
                    "memory_limit_mb = {limit} is too small for a worker to start here: one that loads no \
                     engine already takes {needed_mb} MB of address space"
                );
            }
        }
        environment.worker_baseline_mb = baseline.map(|b| b.resident_kb as f64 / 1024.0);
    }
    let mut folder = RunFolder::create(scenario, &environment)?;
    let mut progress = Progress::new(out, plans.len());
    progress.start(&scenario.name, &folder.path)?;
    let context = (device.as_str(), isolation);
    let references = References::run(scenario, &prepared, backends, context, &mut progress)?;
    let macs = MacCounts::count(scenario, &mut progress)?;

    let mut graphs = Graphs::default();
    let mut records = Vec::new();
    // A result file that cannot be written (a full disk, a file-size limit) stops the run: what is on disk
    // stays valid, and run.json says why it ended.
    let mut write_failure = None;
    for (i, plan) in plans.iter().enumerate() {
        let index = scenario.model_index(&plan.model);
        let (model, prepared) = (&scenario.models[index], &prepared[index]);
        progress.begin(i, plan)?;
        if i > 0 && plan.rules.cooldown_seconds > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(plan.rules.cooldown_seconds));
        }
        let started = Instant::now();
        let started_utc = crate::export::folder::utc_time(SystemTime::now());
        let backend = crate::backends::find(backends, &plan.engine);
        let mut record = measure(plan, backend, &prepared.inputs, &device, isolation);
        record.started_utc = started_utc;
        record.ended_utc = crate::export::folder::utc_time(SystemTime::now());
        complete(&mut record, (scenario, index), &references, &macs);
        progress.end(&record, started.elapsed())?;
        // End-to-end rows compute the same outputs as their inference rows: their predictions are listed once.
        let classes = (model.classifier && plan.timing == Timing::Inference).then(|| Classes {
            input_names: &prepared.inputs.names,
            labels: prepared.labels.as_deref(),
        });
        if let Err(e) = folder.add(&record, classes) {
            write_failure = Some(e);
            break;
        }
        // After the timed rows are on disk: a profiled pass that crashes costs only its own rows.
        if is_profiled(plan, &record) {
            progress.profiling(plan)?;
            let profile = profile_pass(plan, backend, &prepared.inputs, &device, isolation);
            progress.profiled(&profile)?;
            if let Err(e) = folder.add_profile(&record, &profile, graphs.of(plan)) {
                write_failure = Some(e);
            }
        }
        records.push(record);
        if write_failure.is_some() {
            break;
        }
        if crate::interrupt::requested() {
            break;
        }
    }
    let interrupted = crate::interrupt::requested();
    // The measurement the stop cut short is a row, but not a measurement done.
    let done = records
        .iter()
        .filter(|r| r.status != Status::Interrupted)
        .count();
    if interrupted {
        progress.interrupted(crate::interrupt::cause(), done)?;
    }
    folder.finish(
        &RunStatus {
            status: if write_failure.is_some() {
                RunState::WriteFailed
            } else if interrupted {
                RunState::Interrupted
            } else {
                RunState::Complete
            },
            measurements_planned: plans.len(),
            measurements_done: done,
            resumes: earlier.as_ref().map(|e| e.path.display().to_string()),
            scenario_fingerprint: scenario.fingerprint(),
        },
        crate::export::answer::warnings(&records),
    )?;
    if let Some(failure) = write_failure {
        return Err(failure.context(format!(
            "the run stopped after {done} of {} measurements: {} keeps those, for `harness report` and \
             `harness run --resume`",
            plans.len(),
            folder.path.display()
        )));
    }
    // The measurements are on disk already: a report that cannot be drawn costs only the report. A resumed
    // run's report covers the earlier folder's rows too.
    let reported: Vec<PathBuf> = earlier
        .iter()
        .map(|e| e.path.clone())
        .chain(std::iter::once(folder.path.clone()))
        .collect();
    let report = crate::report::report(&reported, &folder.path);
    progress.finish(
        &records,
        report.as_ref().map(|w| w.html.as_path()),
        scenario.verbose,
    )?;
    Ok(RunOutcome {
        folder: folder.path,
        records,
        interrupted,
    })
}

/// Whether `plan`'s measurement gets a profiled pass: when the scenario asks, once per series (its first
/// round's inference timing), and only where the measurement itself worked.
fn is_profiled(plan: &MeasurementPlan, record: &MeasurementRecord) -> bool {
    plan.rules.profile
        && plan.round == 0
        && plan.timing == Timing::Inference
        && record.status == Status::Ok
        && !crate::interrupt::requested()
}

/// Each model file's graph, read the first time a profile of it is classified.
#[derive(Default)]
struct Graphs(Vec<(PathBuf, Graph)>);

impl Graphs {
    fn of(&mut self, plan: &MeasurementPlan) -> &Graph {
        let at = match self.0.iter().position(|(path, _)| *path == plan.model_path) {
            Some(at) => at,
            None => {
                // A graph that cannot be read leaves the classes to what each engine's operators say.
                let nodes = crate::model_info::file_nodes(&plan.model_path, plan.format)
                    .unwrap_or_default();
                self.0.push((plan.model_path.clone(), Graph::new(&nodes)));
                self.0.len() - 1
            }
        };
        &self.0[at].1
    }
}

/// The scenario's plans, less those an earlier folder holds already (rows it wrote, but not as interrupted).
fn pending(
    scenario: &Scenario,
    earlier: Option<&ResultFolder>,
    device: &str,
) -> Result<Vec<MeasurementPlan>> {
    let mut plans = plan::expand(scenario);
    if plans.is_empty() {
        bail!(
            "{}: nothing to measure (no model has a file in the formats the backends run)",
            scenario.path.display()
        );
    }
    let Some(earlier) = earlier else {
        return Ok(plans);
    };
    if let Some(other) = earlier.rows.iter().find(|r| r.device != device) {
        bail!(
            "{} was measured on device `{}`, and this run is `{device}`: resume a folder of the same device",
            earlier.path.display(),
            other.device
        );
    }
    let fingerprint = earlier
        .run
        .as_ref()
        .map(|r| r.scenario_fingerprint.as_str());
    let differs = match fingerprint.filter(|f| !f.is_empty()) {
        Some(fingerprint) => fingerprint != scenario.fingerprint(),
        // An older folder without a fingerprint: its rows name their scenario.
        None => earlier.rows.iter().any(|r| r.scenario != scenario.name),
    };
    if differs {
        bail!(
            "{} was measured with another scenario than {} (its models, inputs or measurement rules differ): \
             resume only a folder of the same scenario",
            earlier.path.display(),
            scenario.path.display()
        );
    }
    plans.retain(|p| {
        let key = p.key(device);
        !earlier
            .rows
            .iter()
            .any(|r| r.status != Status::Interrupted.as_str() && r.key() == key)
    });
    if plans.is_empty() {
        bail!(
            "{} already holds every measurement of {}: nothing to resume",
            earlier.path.display(),
            scenario.path.display()
        );
    }
    Ok(plans)
}

/// Adds to a record what only the harness that drives the run knows: how the device was reached, the model
/// file's multiply-accumulates, the outputs in real units for a model with integer outputs, and parity.
fn complete(
    record: &mut MeasurementRecord,
    (scenario, index): (&Scenario, usize),
    references: &References,
    macs: &MacCounts,
) {
    let model = &scenario.models[index];
    record.target = scenario.target.as_str().to_string();
    record.model_macs = macs.of(&record.plan.model, record.plan.format);
    if let Some(q) = model.output_quantization {
        for outputs in &mut record.outputs {
            *outputs = outputs.iter().map(|t| q.dequantize_tensor(t)).collect();
        }
    }
    if record.error.is_none() && model.compare_answers {
        let is_reference = references.is_reference(index, &record.plan, &record.device);
        record.parity = Some(parity::check(
            (&record.outputs, &record.output_names),
            references.outputs(index),
            is_reference,
            record.reduced_precision(),
            model.classifier,
            &scenario.parity,
        ));
    }
}

/// A CPU list may name only CPUs this process may run on; otherwise pinning fails in every worker with the
/// OS's "Invalid argument".
pub fn check_cpus(cpus: Option<&[usize]>) -> Result<()> {
    let Some(cpus) = cpus else {
        return Ok(());
    };
    let usable = usable_cpus();
    if usable.is_empty() {
        // The kernel did not say; the workers' pinning will.
        return Ok(());
    }
    let missing: Vec<String> = cpus
        .iter()
        .filter(|c| !usable.contains(c))
        .map(usize::to_string)
        .collect();
    if !missing.is_empty() {
        let usable: Vec<String> = usable.iter().map(usize::to_string).collect();
        bail!(
            "cpus names {}, which this machine does not have or does not let the harness use (its CPUs: {})",
            missing.join(", "),
            usable.join(", ")
        );
    }
    Ok(())
}

/// The CPUs this process may run on.
fn usable_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the kernel fills it for this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Thread counts above this machine's logical cores measure oversubscription, which is said; past four times
/// the cores they are refused (a typo such as 1000 would otherwise run for minutes). Checked where the
/// measurements run, so a board's own cores count.
fn check_thread_counts(threads: &[usize], out: &mut dyn Write) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let above: Vec<String> = threads
        .iter()
        .filter(|&&t| t > cores)
        .map(usize::to_string)
        .collect();
    let most = threads.iter().copied().max().unwrap_or(1);
    if most > 4 * cores {
        bail!(
            "{most} threads is more than 4 times this machine's {cores} logical cores; measure at most {} \
             threads here",
            4 * cores
        );
    }
    if !above.is_empty() {
        writeln!(
            out,
            "note: threads {} exceed this machine's {cores} logical cores: those rows measure engines sharing \
             cores between their own threads",
            above.join(", ")
        )?;
    }
    Ok(())
}
