//! One run of a scenario: plan → measurements → records → results folder and terminal table.

use crate::analysis::parity::{self, ReferenceOutputs};
use crate::execute::execute;
use crate::export::csv::{
    prediction_columns, sample_columns, summary_columns, write_predictions, write_samples,
    write_summary, RowWriter,
};
use crate::export::environment::Environment;
use crate::export::{folder, table};
use crate::inputs::ModelInputs;
use crate::isolation::{run_in_child, Isolation, Limits, WorkerJob};
use crate::measure::MonotonicClock;
use crate::model_info::ModelInfo;
use crate::plan;
use crate::plan::{MeasurementPlan, ReferencePlan};
use crate::record::MeasurementRecord;
use crate::scenario::{Model, Scenario};
use anyhow::{bail, Context, Result};
use harness_backend_api::{Backend, ModelFormat};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

/// Command-line adjustments to a scenario.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub backends: Option<Vec<String>>,
    pub threads: Option<Vec<usize>>,
    pub quick: bool,
    pub out: Option<PathBuf>,
    pub device: Option<String>,
    /// Set by the harness that drives this run on a target (`run --target`), for the rows' `target` column.
    pub target: Option<crate::target::TargetKind>,
    /// An earlier, unfinished results folder of this scenario: only what it lacks is measured.
    pub resume: Option<PathBuf>,
    /// Pin the workers: a list of cores (`0,1`) or `big` (the fastest cluster of the machine that measures).
    pub cpus: Option<String>,
}

impl Overrides {
    /// The command-line options a harness driving a target passes on to the harness there.
    pub fn passed_on(&self) -> Vec<String> {
        let mut arguments = Vec::new();
        if let Some(backends) = &self.backends {
            arguments.extend(["--backends".to_string(), backends.join(",")]);
        }
        if let Some(threads) = &self.threads {
            let threads: Vec<String> = threads.iter().map(usize::to_string).collect();
            arguments.extend(["--threads".to_string(), threads.join(",")]);
        }
        if self.quick {
            arguments.push("--quick".to_string());
        }
        if let Some(cpus) = &self.cpus {
            arguments.extend(["--cpus".to_string(), cpus.clone()]);
        }
        arguments
    }

    pub fn apply(&self, scenario: &mut Scenario) -> Result<()> {
        if let Some(names) = &self.backends {
            if let Some(unknown) = names
                .iter()
                .find(|n| !scenario.backends.iter().any(|b| &b.name == *n))
            {
                let listed: Vec<&str> = scenario.backends.iter().map(|b| b.name.as_str()).collect();
                bail!(
                    "--backends names `{unknown}`, which {} does not configure (it has: {})",
                    scenario.path.display(),
                    listed.join(", ")
                );
            }
            scenario.backends.retain(|b| names.contains(&b.name));
        }
        if let Some(threads) = &self.threads {
            if threads.is_empty() || threads.contains(&0) {
                bail!("--threads needs one or more thread counts, each at least 1");
            }
            scenario.threads = threads.clone();
        }
        if self.quick {
            scenario.measure = scenario.measure.quick();
        }
        if let Some(out) = &self.out {
            scenario.output_dir = out.clone();
        }
        if let Some(target) = self.target {
            scenario.target = target;
        }
        if let Some(cpus) = &self.cpus {
            scenario.measure.cpus = Some(if cpus == "big" {
                crate::export::environment::big_cores(&crate::export::environment::cpu_clusters())
            } else {
                cpus.split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .filter(|list| !list.is_empty())
                    .with_context(|| {
                        format!("--cpus takes core numbers such as 0,1 or `big`, not `{cpus}`")
                    })?
            });
        }
        if let Some(earlier) = &self.resume {
            scenario.resume_from = Some(earlier.clone());
        }
        if let Some(device) = &self.device {
            // Emulated timings carry the mark in the device name itself, so that no table or chart shows
            // them as a device without it.
            let marked = scenario.target == crate::target::TargetKind::Emulated
                && !device.contains("emulated");
            scenario.device = Some(if marked {
                format!("{device} (emulated)")
            } else {
                device.clone()
            });
        }
        Ok(())
    }
}

/// A model's inputs, made once and shared by every backend, and its class names.
pub struct PreparedModel {
    pub inputs: ModelInputs,
    pub labels: Option<Vec<String>>,
}

/// Decodes and preprocesses every model's inputs and reads its labels: the part of a run that can fail on
/// bad input files, done before anything is measured (and by `harness check`).
pub fn prepare_models(scenario: &Scenario) -> Result<Vec<PreparedModel>> {
    scenario
        .models
        .iter()
        .map(|model| {
            let inputs = scenario
                .inputs
                .prepare(&model.input, model.preprocess.as_ref())
                .with_context(|| format!("{}: model `{}`", scenario.path.display(), model.name))?;
            let labels = match &model.labels {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the labels file {}", path.display()))?
                        .lines()
                        .map(|l| l.trim().to_string())
                        .collect(),
                ),
                None => None,
            };
            Ok(PreparedModel { inputs, labels })
        })
        .collect()
}

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
    progress: &mut dyn Write,
) -> Result<RunOutcome> {
    let mut plans = plan::expand(scenario);
    if plans.is_empty() {
        bail!(
            "{}: nothing to measure (no model has a file in the formats the backends run)",
            scenario.path.display()
        );
    }
    // A resumed run measures only what the earlier folder lacks: rows it never wrote, or wrote as
    // interrupted. The earlier folder is read, never written.
    let earlier = match &scenario.resume_from {
        Some(path) => Some(crate::results::ResultFolder::load(path)?),
        None => None,
    };
    if let Some(earlier) = &earlier {
        plans.retain(|p| {
            !earlier.rows.iter().any(|r| {
                r.status != "interrupted"
                    && r.model == p.model
                    && r.backend == p.backend
                    && r.format == p.format.as_str()
                    && r.threads == p.threads
                    && r.timing == p.timing.as_str()
                    && r.round == p.round as usize
            })
        });
        if plans.is_empty() {
            bail!(
                "{} already holds every measurement of {}: nothing to resume",
                earlier.path.display(),
                scenario.path.display()
            );
        }
    }
    let prepared = prepare_models(scenario)?;
    let folder =
        folder::create_run_folder(&scenario.output_dir, &scenario.name, SystemTime::now())?;
    // Shown to the user and stored: an absolute path reads better than `scenarios/../results/...`.
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    std::fs::write(folder.join("scenario.toml"), &scenario.source)
        .context("cannot copy the scenario")?;
    let mut environment = Environment::capture(crate::backends::infos(backends));
    if let Some(device) = &scenario.device {
        environment.device = device.clone();
    }
    environment.target_kind = scenario.target.as_str();
    if scenario.target == crate::target::TargetKind::Emulated {
        let variable = |name: &str| std::env::var(name).unwrap_or_else(|_| "unknown".into());
        environment.emulation = Some(format!(
            "qemu-user: {}, CPU model {}",
            variable(crate::target::WORKER_LAUNCHER_VARIABLE),
            variable("QEMU_CPU")
        ));
    }
    // A third of a second, before anything else runs: the share of peak in reports is measured against it.
    environment.fma_peak = Some(harness_peak::measure(0.3));
    std::fs::write(
        folder.join("environment.json"),
        serde_json::to_string_pretty(&environment)?,
    )
    .context("cannot write environment.json")?;
    let mut summary = RowWriter::create(&folder.join("summary.csv"), &summary_columns())?;
    let mut samples = RowWriter::create(&folder.join("samples.csv"), &sample_columns())?;
    let mut predictions = if scenario.models.iter().any(|m| m.classifier) {
        Some(RowWriter::create(
            &folder.join("predictions.csv"),
            &prediction_columns(),
        )?)
    } else {
        None
    };
    writeln!(
        progress,
        "{}: {} measurements → {}",
        scenario.name,
        plans.len(),
        folder.display()
    )?;

    // Chosen once per model: the reference pass runs it, and each row is checked against it.
    // A study's variants are checked against their baseline's reference outputs, not a pass of their own.
    let mut reference_plans: Vec<Option<ReferencePlan>> = vec![None; scenario.models.len()];
    let mut references: Vec<ReferenceOutputs> = Vec::new();
    for (index, (model, prepared)) in scenario.models.iter().zip(&prepared).enumerate() {
        if model.baseline.is_some() {
            continue;
        }
        let (outputs, used) = run_reference(
            scenario,
            &plan::reference_candidates(scenario, model),
            model,
            &prepared.inputs,
            backends,
            (&environment.device, isolation),
            progress,
        )?;
        references.push(outputs);
        reference_plans[index] = used;
    }
    let references: Vec<ReferenceOutputs> = scenario
        .models
        .iter()
        .map(|model| {
            let own = |name: &str| {
                let baselines = scenario.models.iter().filter(|m| m.baseline.is_none());
                let position = baselines.clone().position(|m| m.name == name);
                position.map(|i| &references[i])
            };
            match &model.baseline {
                None => own(&model.name)
                    .cloned()
                    .expect("every baseline has its reference"),
                Some(baseline) => {
                    let of_baseline = own(baseline).expect("scenario checks that baselines exist");
                    ReferenceOutputs {
                        label: format!("{baseline} · {}", of_baseline.label),
                        outputs: of_baseline.outputs.clone(),
                    }
                }
            }
        })
        .collect();

    // Counted once per model file, for the GMAC/s column; a file tract cannot analyse just leaves it blank.
    let mut macs: Vec<((String, ModelFormat), Option<u64>)> = Vec::new();
    for model in &scenario.models {
        for (&format, path) in &model.files {
            let count = match ModelInfo::read(path, format) {
                Ok(info) => Some(info.macs),
                Err(e) => {
                    writeln!(
                        progress,
                        "{}: MACs not counted for the {format} file: {e:#}",
                        model.name
                    )?;
                    None
                }
            };
            macs.push(((model.name.clone(), format), count));
        }
    }

    let mut records = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let index = scenario
            .models
            .iter()
            .position(|m| m.name == plan.model)
            .expect("plans come from the scenario's models");
        let (model, inputs) = (&scenario.models[index], &prepared[index]);
        let backend = find(backends, &plan.engine);
        write!(
            progress,
            "[{}/{}] {} · {} · {} · {} thread{}{} … ",
            i + 1,
            plans.len(),
            plan.model,
            plan.backend,
            plan.format,
            plan.threads,
            if plan.threads == 1 { "" } else { "s" },
            if plan.timing == plan::Timing::EndToEnd {
                " · end to end"
            } else {
                ""
            }
        )?;
        progress.flush()?;
        if i > 0 && plan.rules.cooldown_seconds > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(
                plan.rules.cooldown_seconds,
            ));
        }
        let started = Instant::now();
        let mut record = measure(
            plan,
            backend,
            &inputs.inputs,
            &environment.device,
            isolation,
        );
        if let Some(q) = model.output_quantization {
            for outputs in &mut record.outputs {
                *outputs = outputs.iter().map(|t| q.dequantize_tensor(t)).collect();
            }
        }
        record.target = scenario.target.as_str().to_string();
        record.model_macs = macs
            .iter()
            .find(|((model, format), _)| *model == plan.model && *format == plan.format)
            .and_then(|(_, count)| *count);
        if record.error.is_none() && model.compare_answers {
            let reference = &references[index];
            let is_reference = reference_plans[index].as_ref().is_some_and(|r| r.is(plan));
            record.parity = Some(parity::check(
                &record.outputs,
                reference,
                is_reference,
                record.reduced_precision(),
                model.classifier,
                &scenario.parity,
            ));
        }
        match (&record.summary, &record.error) {
            (Some(s), _) => writeln!(
                progress,
                "{:.3} ms median over {} runs ({:.1} s){}",
                s.median_ms,
                s.runs,
                started.elapsed().as_secs_f64(),
                record.parity.as_ref().map_or(String::new(), |p| format!(
                    ", parity {}",
                    p.verdict.as_str()
                ))
            )?,
            (None, Some(e)) => writeln!(progress, "{}: {e}", record.status.as_str())?,
            (None, None) => writeln!(progress, "{}", record.status.as_str())?,
        }
        write_summary(&mut summary, &scenario.name, &record)?;
        write_samples(&mut samples, &scenario.name, &record)?;
        // End-to-end rows compute the same outputs as their inference rows: listed once.
        if let (Some(out), true) = (
            predictions.as_mut(),
            model.classifier && plan.timing == plan::Timing::Inference,
        ) {
            write_predictions(
                out,
                &scenario.name,
                &record,
                &inputs.inputs.names,
                inputs.labels.as_deref(),
            )?;
        }
        records.push(record);
        if crate::interrupt::requested() {
            writeln!(
                progress,
                "interrupted: {} of {} measurements done; their rows are kept",
                i + 1,
                plans.len()
            )?;
            break;
        }
    }
    let interrupted = crate::interrupt::requested();
    let run_status = serde_json::json!({
        "status": if interrupted { "interrupted" } else { "complete" },
        "measurements_planned": plans.len(),
        "measurements_done": records.len(),
        "resumes": earlier.as_ref().map(|e| e.path.display().to_string()),
    });
    std::fs::write(
        folder.join("run.json"),
        serde_json::to_string_pretty(&run_status)?,
    )
    .context("cannot write run.json")?;
    writeln!(progress, "\n{}", table::render(&records))?;
    // The measurements are on disk already: a report that cannot be drawn costs only the report.
    // A resumed run's report covers the earlier folder's rows too.
    let reported: Vec<PathBuf> = earlier
        .iter()
        .map(|e| e.path.clone())
        .chain(std::iter::once(folder.clone()))
        .collect();
    match crate::report::report(&reported, &folder) {
        Ok(written) => writeln!(progress, "report: {}", written.html.display())?,
        Err(e) => writeln!(progress, "warning: no report: {e:#}")?,
    }
    Ok(RunOutcome {
        folder,
        records,
        interrupted,
    })
}

fn find<'a>(backends: &'a [Box<dyn Backend>], name: &str) -> &'a dyn Backend {
    backends
        .iter()
        .find(|b| b.name() == name)
        .map(|b| b.as_ref())
        .expect("scenarios only name compiled-in backends")
}

/// The untimed reference pass for one model.
/// Carries out one plan where the isolation says: here, or in a worker process.
fn measure(
    plan: &MeasurementPlan,
    backend: &dyn Backend,
    inputs: &ModelInputs,
    device: &str,
    isolation: &Isolation,
) -> MeasurementRecord {
    match isolation {
        Isolation::InProcess => execute(plan, backend, inputs, device, &MonotonicClock::new()),
        Isolation::Subprocess { program, launcher } => {
            let job = WorkerJob {
                plan: plan.clone(),
                inputs: inputs.clone(),
                device: device.to_string(),
            };
            let limits = Limits {
                time: plan.rules.time_limit(),
                memory_bytes: plan.rules.memory_limit_mb.map(|mb| mb * 1024 * 1024),
            };
            run_in_child(
                program,
                launcher.as_ref(),
                &job,
                &backend.info().engine_version,
                limits,
                &plan.rules.cpus,
            )
        }
    }
}

/// The reference pass for one model: the first candidate engine that runs (see `plan::reference_candidates`)
/// runs every input once, isolated like the rest. Returns its outputs and which candidate gave them.
fn run_reference(
    scenario: &Scenario,
    candidates: &[ReferencePlan],
    model: &Model,
    inputs: &ModelInputs,
    backends: &[Box<dyn Backend>],
    context: (&str, &Isolation),
    progress: &mut dyn Write,
) -> Result<(ReferenceOutputs, Option<ReferencePlan>)> {
    let (device, isolation) = context;
    let mut failures = Vec::new();
    for reference in candidates {
        let label = reference.label();
        let plan = reference.measurement(model, &scenario.measure);
        let record = measure(
            &plan,
            find(backends, &reference.engine),
            inputs,
            device,
            isolation,
        );
        if let Some(error) = record.error {
            writeln!(
                progress,
                "{}: the reference candidate {label} could not run: {error}",
                model.name
            )?;
            failures.push(format!("{label}: {error}"));
            continue;
        }
        // The reference pass may be the first load of the model by its engine, and so the one that converts
        // it; the rows then find the conversion cached, so it is reported here.
        let conversion = record
            .conversion_ms
            .map(|ms| format!(" (the model was converted for it in {ms:.0} ms)"))
            .unwrap_or_default();
        writeln!(
            progress,
            "{}: reference outputs from {label}{conversion}",
            model.name
        )?;
        let outputs = ReferenceOutputs {
            label,
            outputs: Ok(record.outputs),
        };
        return Ok((outputs, Some(reference.clone())));
    }
    let why = if failures.is_empty() {
        "no backend runs this model".to_string()
    } else {
        failures.join("; ")
    };
    writeln!(
        progress,
        "{}: no reference could run, parity is unchecked",
        model.name
    )?;
    let label = candidates
        .first()
        .map_or_else(|| "none".to_string(), ReferencePlan::label);
    Ok((
        ReferenceOutputs {
            label,
            outputs: Err(why),
        },
        None,
    ))
}
