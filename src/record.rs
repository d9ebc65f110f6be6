//! What one measurement produced: the row every table, plot and report is made from.

use crate::analysis::parity::Parity;
use crate::analysis::{Summary, Validity};
use crate::inputs::InputDescription;
use crate::key::MeasurementKey;
use crate::measure::StoppedBy;
use crate::plan::MeasurementPlan;
use harness_backend_api::{Adaptation, Setting, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// The engine cannot do what was asked (format, option, element type).
    Unsupported,
    /// The engine rejected the model or the inputs.
    LoadFailed,
    /// The engine failed while running.
    RunFailed,
    /// The worker process died of a signal such as a segmentation fault.
    Crashed,
    /// The worker process aborted.
    Aborted,
    /// The worker process exceeded the time limit and was killed.
    TimedOut,
    /// The worker process ran out of memory (its limit, or the kernel's out-of-memory killer).
    OutOfMemory,
    /// The user stopped the run (Ctrl-C) during this measurement.
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unsupported => "unsupported",
            Status::LoadFailed => "load_failed",
            Status::RunFailed => "run_failed",
            Status::Crashed => "crashed",
            Status::Aborted => "aborted",
            Status::TimedOut => "timed_out",
            Status::OutOfMemory => "out_of_memory",
            Status::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasurementRecord {
    pub plan: MeasurementPlan,
    pub device: String,
    /// How the device was reached: `local`, `ssh` or `emulated` (qemu-user on another machine: its timings
    /// say nothing about a real board).
    #[serde(default)]
    pub target: String,
    pub engine_version: String,
    pub status: Status,
    pub error: Option<String>,
    /// Settings the engine reports it applied.
    pub settings: Vec<Setting>,
    pub adaptation: Adaptation,
    /// Load time without any model conversion (which `conversion_ms` holds).
    pub load_ms: Option<f64>,
    /// Time spent converting the model for the engine during this load; None when no conversion ran.
    #[serde(default)]
    pub conversion_ms: Option<f64>,
    pub first_run_ms: Option<f64>,
    /// Time spent handing tensors between the harness and the worker process (inputs in, outputs back), both
    /// sides together, outside every timing above; None in process.
    #[serde(default)]
    pub handover_ms: Option<f64>,
    /// When the harness that drives the run began and ended this measurement (worker start and hand-over
    /// included), UTC with milliseconds: no two measurements of one run overlap.
    #[serde(default)]
    pub started_utc: String,
    #[serde(default)]
    pub ended_utc: String,
    pub warmup_runs: u64,
    /// What ended the timed runs; None when there were none.
    #[serde(default)]
    pub stopped_by: Option<StoppedBy>,
    pub summary: Option<Summary>,
    pub validity: Option<Validity>,
    pub samples_ns: Vec<u64>,
    /// The outputs for each prepared input, taken after timing, for checking answers.
    pub outputs: Vec<Vec<Tensor>>,
    /// The outputs' names, as the engine reports them, in the order of each set of `outputs`.
    #[serde(default)]
    pub output_names: Vec<String>,
    /// How the outputs compare with the reference engine's; None until checked.
    pub parity: Option<Parity>,
    /// Peak resident memory of the worker process that ran the measurement: its own address space's
    /// high-water mark (`VmHWM`), read by the worker at the end; for a worker that died, the OS's `ru_maxrss`,
    /// which can include the harness's own size. None in process.
    pub peak_rss_kb: Option<u64>,
    /// Resident memory of the worker right after the engine loaded the model, and after the timed runs (growth
    /// between them shows memory the loop keeps). None in process.
    #[serde(default)]
    pub rss_after_load_kb: Option<u64>,
    #[serde(default)]
    pub rss_after_runs_kb: Option<u64>,
    /// What else took the machine's CPU during the timed runs (other processes, the hypervisor): a row is
    /// `disturbed` when it passes `CpuShares`'s limits, whatever its timing statistics say.
    #[serde(default)]
    pub cpu_shares: Option<crate::measure::CpuShares>,
    /// OS threads of the process right after the timed runs, while the engine's pools are still alive: shows
    /// whether an engine honoured its thread budget (includes the harness's main thread).
    pub observed_threads: Option<u64>,
    /// The CPU cores the worker process was pinned to, when it was.
    pub pinned_cpus: Option<Vec<usize>>,
    pub model_file_bytes: Option<u64>,
    /// Multiply-accumulates of one inference of the model file (see `model_info`), when they could be counted.
    #[serde(default)]
    pub model_macs: Option<u64>,
}

impl MeasurementRecord {
    /// A record of `plan` with nothing measured yet: what every record starts from.
    pub fn empty(plan: &MeasurementPlan, device: &str, engine_version: &str) -> Self {
        MeasurementRecord {
            plan: plan.clone(),
            device: device.to_string(),
            target: String::new(),
            engine_version: engine_version.to_string(),
            status: Status::Ok,
            error: None,
            settings: Vec::new(),
            adaptation: Adaptation::None,
            load_ms: None,
            conversion_ms: None,
            first_run_ms: None,
            handover_ms: None,
            started_utc: String::new(),
            ended_utc: String::new(),
            warmup_runs: 0,
            stopped_by: None,
            summary: None,
            validity: None,
            samples_ns: Vec::new(),
            outputs: Vec::new(),
            output_names: Vec::new(),
            parity: None,
            peak_rss_kb: None,
            rss_after_load_kb: None,
            rss_after_runs_kb: None,
            cpu_shares: None,
            observed_threads: None,
            pinned_cpus: None,
            model_file_bytes: std::fs::metadata(&plan.model_path).ok().map(|m| m.len()),
            model_macs: None,
        }
    }

    /// A measurement that ended with `status` and the message that says why.
    pub fn failed(
        plan: &MeasurementPlan,
        device: &str,
        engine_version: &str,
        status: Status,
        error: String,
    ) -> Self {
        MeasurementRecord {
            status,
            error: Some(error),
            ..MeasurementRecord::empty(plan, device, engine_version)
        }
    }

    /// The measurement this record is of.
    pub fn key(&self) -> MeasurementKey {
        self.plan.key(&self.device)
    }
    /// The value of one applied engine setting.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }

    /// The error as the terminal shows it: its first line, cut at 200 characters. Engines' messages can be
    /// long (some print a whole operator with its weights); the `error` column keeps them whole.
    pub fn error_line(&self) -> Option<String> {
        const LONGEST: usize = 200;
        let first = self.error.as_deref()?.lines().next().unwrap_or_default();
        Some(match first.char_indices().nth(LONGEST) {
            Some((cut, _)) => format!("{}… (in full in summary.csv)", &first[..cut]),
            None => first.to_string(),
        })
    }

    /// Whether the engine computed in reduced precision (a model marked `quantized`, quantised input, or a
    /// `precision` setting such as fp16 or bf16), which the parity check judges with its looser thresholds.
    pub fn reduced_precision(&self) -> bool {
        self.plan.quantized
            || self
                .plan
                .inputs
                .iter()
                .any(InputDescription::reduced_precision)
            || self
                .setting("precision")
                .is_some_and(|p| !matches!(p, "f32" | "fp32"))
    }
}

/// A measurement's profiled pass (`[measure] profile`): where the engine's time went, node by node, or why
/// that is not known. Made after the measurement's timed runs, in a session of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
    /// `ok`, or how the pass failed (`unsupported` where the engine cannot profile).
    pub status: Status,
    pub error: Option<String>,
    /// The engine's nodes with their time over `runs` profiled runs.
    pub nodes: Vec<harness_backend_api::NodeTime>,
    pub runs: usize,
    /// The mean wall time of one profiled run, profiler included.
    pub profiled_run_ms: Option<f64>,
}

impl ProfileRecord {
    pub fn failed(status: Status, error: String) -> ProfileRecord {
        ProfileRecord {
            status,
            error: Some(error),
            nodes: Vec::new(),
            runs: 0,
            profiled_run_ms: None,
        }
    }
}
