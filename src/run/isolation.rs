//! One engine's crash is not the run's crash: each measurement can run in a child process (the harness
//! re-executing itself as `harness worker`), under a time limit and optionally a memory limit. A crash, an
//! abort, a hang or an out-of-memory death becomes a row with its status and the child's last words; the parent
//! alone writes results. The child reads its own peak resident memory (`VmHWM`) when it is done, so no sampler
//! disturbs the timing; for a child that died, the OS's figure from `wait4` stands in.
//!
//! Tensors travel as raw bytes (`handover`): a model's inputs are encoded once and follow each worker's job on
//! its standard input; the worker's outputs follow its record on its standard output. The time both sides
//! spend on that is the row's `handover_ms`.

use super::execute::execute;
use super::handover;
use super::profile::profile;
use crate::inputs::{ImageRecipe, ModelInputs};
use crate::measure::{MonotonicClock, ProcessStatus};
use crate::plan::MeasurementPlan;
use crate::record::{MeasurementRecord, ProfileRecord, Status};
use anyhow::{Context, Result};
use harness_backend_api::{Backend, Tensor};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where measurements run.
pub enum Isolation {
    /// In the harness's own process (for debugging: a crash ends the run).
    InProcess,
    /// Each in a worker process.
    Subprocess(Workers),
}

/// How worker processes are started, and the inputs they are handed.
pub struct Workers {
    /// The harness binary itself.
    program: PathBuf,
    /// qemu-user, for an emulated harness (see `machine::WORKER_LAUNCHER_VARIABLE`).
    launcher: Option<PathBuf>,
    /// Each model's prepared inputs, encoded when a worker first needs them.
    encoded: RefCell<Vec<(String, Arc<Vec<u8>>)>>,
}

impl Workers {
    pub fn new(program: PathBuf, launcher: Option<PathBuf>) -> Workers {
        Workers {
            program,
            launcher,
            encoded: RefCell::new(Vec::new()),
        }
    }

    /// What a worker that loads nothing uses, measured once per run: the harness's own share of every row's
    /// memory figures.
    pub fn baseline(&self) -> Option<Baseline> {
        let output = harness_command(&self.program, self.launcher.as_ref())
            .args(["worker", "--baseline"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut numbers = text.split_whitespace().map(|n| n.parse().ok());
        Some(Baseline {
            resident_kb: numbers.next()??,
            address_space_kb: numbers.next()??,
        })
    }

    /// `model`'s prepared inputs, encoded the first time they are asked for.
    fn encoded_inputs(&self, model: &str, inputs: &ModelInputs) -> Arc<Vec<u8>> {
        if let Some((_, bytes)) = self.encoded.borrow().iter().find(|(m, _)| m == model) {
            return Arc::clone(bytes);
        }
        let sets: Vec<&[Tensor]> = inputs.sets.iter().map(Vec::as_slice).collect();
        let bytes = Arc::new(handover::encode(&sets));
        self.encoded
            .borrow_mut()
            .push((model.to_string(), Arc::clone(&bytes)));
        bytes
    }

    /// Runs `plan` in a worker process and adds the parent's share of the hand-over to its record.
    fn measure(
        &self,
        plan: &MeasurementPlan,
        backend: &dyn Backend,
        inputs: &ModelInputs,
        device: &str,
    ) -> MeasurementRecord {
        let started = Instant::now();
        let job = WorkerJob::new(plan, device, inputs, false);
        let tensors = self.encoded_inputs(&plan.model, inputs);
        let encoding = started.elapsed();
        let limits = Limits::of(plan);
        let mut record = run_in_child(
            (&self.program, self.launcher.as_ref()),
            (&job, tensors),
            &backend.info().engine_version,
            limits,
            &plan.rules.cpus,
        );
        // The record holds the worker's share and the decoding of its outputs; the encoding is the parent's.
        record.handover_ms = record
            .handover_ms
            .map(|ms| ms + encoding.as_secs_f64() * 1e3);
        record
    }

    /// Runs `plan`'s profiled pass in a worker process of its own.
    fn profile(&self, plan: &MeasurementPlan, inputs: &ModelInputs, device: &str) -> ProfileRecord {
        let job = WorkerJob::new(plan, device, inputs, true);
        let tensors = self.encoded_inputs(&plan.model, inputs);
        let limits = Limits::of(plan);
        let program = (&self.program, self.launcher.as_ref());
        let outcome = match supervise(program, (&job, tensors), limits, &plan.rules.cpus) {
            Ok(outcome) => outcome,
            Err(e) => {
                return ProfileRecord::failed(
                    Status::RunFailed,
                    format!("cannot run the worker process: {e:#}"),
                )
            }
        };
        if let Some((status, error)) = outcome.failure(limits) {
            return ProfileRecord::failed(status, error);
        }
        match &outcome.reply {
            Ok(reply) => serde_json::from_slice(&reply.message).unwrap_or_else(|e| {
                ProfileRecord::failed(Status::RunFailed, outcome.without_result(&e.into()))
            }),
            Err(e) => ProfileRecord::failed(Status::RunFailed, outcome.without_result(e)),
        }
    }
}

/// The peaks of a worker process that loads nothing, in kB.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    pub resident_kb: u64,
    /// What a memory limit (`RLIMIT_AS`) must leave room for before any engine loads.
    pub address_space_kb: u64,
}

/// Carries out one plan where the isolation says: here, or in a worker process.
pub fn measure(
    plan: &MeasurementPlan,
    backend: &dyn Backend,
    inputs: &ModelInputs,
    device: &str,
    isolation: &Isolation,
) -> MeasurementRecord {
    match isolation {
        Isolation::InProcess => {
            let mut record = execute(plan, backend, inputs, device, &MonotonicClock::new());
            // The harness's own process holds every earlier measurement and its inputs: not the engine's.
            (record.rss_after_load_kb, record.rss_after_runs_kb) = (None, None);
            record
        }
        Isolation::Subprocess(workers) => workers.measure(plan, backend, inputs, device),
    }
}

/// Carries out `plan`'s profiled pass where the isolation says, after its timed runs are written.
pub fn profile_pass(
    plan: &MeasurementPlan,
    backend: &dyn Backend,
    inputs: &ModelInputs,
    device: &str,
    isolation: &Isolation,
) -> ProfileRecord {
    match isolation {
        Isolation::InProcess => profile(plan, backend, inputs),
        Isolation::Subprocess(workers) => workers.profile(plan, inputs, device),
    }
}

/// What the parent hands a worker on its standard input, ahead of the encoded input tensors.
#[derive(Serialize, Deserialize)]
pub struct WorkerJob {
    pub plan: MeasurementPlan,
    pub device: String,
    pub input_names: Vec<String>,
    pub images: Option<ImageRecipe>,
    /// The plan's profiled pass rather than its measurement.
    #[serde(default)]
    pub profile: bool,
}

impl WorkerJob {
    fn new(plan: &MeasurementPlan, device: &str, inputs: &ModelInputs, profile: bool) -> WorkerJob {
        WorkerJob {
            plan: plan.clone(),
            device: device.to_string(),
            input_names: inputs.names.clone(),
            images: inputs.images.clone(),
            profile,
        }
    }
}

/// A worker process's entry: its job on standard input, its reply on standard output, which it keeps to itself
/// (`stdout::reserve`): an engine that prints there cannot corrupt the reply.
pub fn serve() -> Result<()> {
    let mut reply = crate::stdout::reserve()?;
    work(&mut std::io::stdin().lock(), &mut reply)
}

/// The worker's side: receives a job and its inputs on standard input, measures, and sends the record with
/// the time its share of the hand-over took, then the outputs, on standard output.
fn work(input: &mut impl Read, output: &mut impl Write) -> Result<()> {
    let started = Instant::now();
    let (job, sets) = handover::receive(input).context("reading the job")?;
    let job: WorkerJob = serde_json::from_slice(&job).context("reading the job")?;
    let inputs = ModelInputs {
        names: job.input_names,
        sets,
        images: job.images,
    };
    let receiving = started.elapsed();
    let compiled = crate::backends::compiled_in();
    let backend = compiled
        .iter()
        .find(|b| b.name() == job.plan.engine)
        .with_context(|| format!("no backend `{}` in this build", job.plan.engine))?;
    if job.profile {
        let record = profile(&job.plan, backend.as_ref(), &inputs);
        handover::send(output, &serde_json::to_vec(&record)?, &[])?;
        return Ok(());
    }
    let mut record = execute(
        &job.plan,
        backend.as_ref(),
        &inputs,
        &job.device,
        &MonotonicClock::new(),
    );
    record.peak_rss_kb = ProcessStatus::read().and_then(|s| s.peak_resident_kb());
    // The worker's share is receiving its inputs; sending its outputs is timed where they are read, by the
    // parent, as the pipe fills.
    record.handover_ms = Some(receiving.as_secs_f64() * 1e3);
    let outputs = std::mem::take(&mut record.outputs);
    let sets: Vec<&[Tensor]> = outputs.iter().map(Vec::as_slice).collect();
    handover::send(output, &serde_json::to_vec(&record)?, &sets)?;
    Ok(())
}

/// How long a child may take, and how much address space it may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub time: Duration,
    pub memory_bytes: Option<u64>,
}

impl Limits {
    /// The limits `plan`'s rules set.
    fn of(plan: &MeasurementPlan) -> Limits {
        Limits {
            time: plan.rules.time_limit(),
            memory_bytes: plan.rules.memory_limit_mb.map(|mb| mb * 1024 * 1024),
        }
    }
}

/// CPU cores the worker is pinned to (`sched_setaffinity`), none meaning all.
pub type CpuList = Option<Vec<usize>>;

/// Runs `job` with its encoded input `tensors` in a child process started from `program` (through `launcher`
/// when given), and turns whatever happens into a record.
fn run_in_child(
    (program, launcher): (&PathBuf, Option<&PathBuf>),
    (job, tensors): (&WorkerJob, Arc<Vec<u8>>),
    engine_version: &str,
    limits: Limits,
    cpus: &CpuList,
) -> MeasurementRecord {
    let failed = |status, error: String| {
        MeasurementRecord::failed(&job.plan, &job.device, engine_version, status, error)
    };
    match supervise((program, launcher), (job, tensors), limits, cpus) {
        Ok(outcome) => {
            let mut record = outcome.into_record(job, engine_version, limits);
            record.pinned_cpus = cpus.clone();
            record
        }
        Err(e) => failed(
            Status::RunFailed,
            format!("cannot run the worker process: {e:#}"),
        ),
    }
}

struct Outcome {
    /// The wait status from `wait4`.
    status: i32,
    timed_out: bool,
    interrupted: bool,
    peak_rss_kb: u64,
    reply: Result<Reply>,
    stderr: Vec<u8>,
    /// Whether the kernel's out-of-memory killer struck while the worker ran; `None` where it keeps no count.
    oom_kill_seen: Option<bool>,
}

/// What a worker sends back on its standard output: its record and its outputs.
struct Reply {
    message: Vec<u8>,
    outputs: Vec<Vec<Tensor>>,
    /// From the reply's first byte to its last: the parent's share of the hand-over.
    reading: Duration,
}

impl Reply {
    fn read(stdout: &mut impl Read) -> Result<Reply> {
        let mut first = [0; 1];
        stdout.read_exact(&mut first).context("no message")?;
        let started = Instant::now();
        let (message, outputs) = handover::receive(&mut first.chain(stdout))?;
        Ok(Reply {
            message,
            outputs,
            reading: started.elapsed(),
        })
    }

    /// The worker's record with its outputs, and the parent's share of the hand-over added.
    fn into_record(self) -> Result<MeasurementRecord> {
        let mut record: MeasurementRecord = serde_json::from_slice(&self.message)?;
        record.outputs = self.outputs;
        record.handover_ms = record
            .handover_ms
            .map(|ms| ms + self.reading.as_secs_f64() * 1e3);
        Ok(record)
    }
}

/// The harness binary as a command, under its launcher (qemu-user) when it has one.
fn harness_command(program: &PathBuf, launcher: Option<&PathBuf>) -> Command {
    match launcher {
        Some(launcher) => {
            let mut command = Command::new(launcher);
            command.arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// `harness worker` in a process group of its own, with its memory limit and CPU pinning applied between
/// fork and exec.
fn worker_command(
    program: &PathBuf,
    launcher: Option<&PathBuf>,
    limits: Limits,
    cpus: &CpuList,
) -> Command {
    let mut command = harness_command(program, launcher);
    command
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: the terminal's Ctrl-C goes to the harness, which stops the worker itself.
        command.process_group(0);
    }
    if let Some(bytes) = limits.memory_bytes {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    if let Some(cpus) = cpus.clone() {
        use std::os::unix::process::CommandExt;
        // SAFETY: cpu_set_t is plain data, and sched_setaffinity is a plain system call, fit to run between
        // fork and exec.
        unsafe {
            command.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &cpu in &cpus {
                    libc::CPU_SET(cpu, &mut set);
                }
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    command
}

fn supervise(
    (program, launcher): (&PathBuf, Option<&PathBuf>),
    (job, tensors): (&WorkerJob, Arc<Vec<u8>>),
    limits: Limits,
    cpus: &CpuList,
) -> Result<Outcome> {
    let mut command = worker_command(program, launcher, limits, cpus);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    widen_pipe(&stdin);
    widen_pipe(&stdout);
    let mut stderr = child.stderr.take().expect("piped");
    let job_text = serde_json::to_vec(job)?;
    // Reading and writing happen on their own threads, so that no full pipe can block the child.
    let writer = std::thread::spawn(move || {
        let _ = handover::send_encoded(&mut stdin, &job_text, &tensors);
    });
    let out_reader = std::thread::spawn(move || {
        let reply = Reply::read(&mut stdout);
        // Whatever else the worker writes is read too, so that it never waits on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        reply
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });

    let exit = ExitWatch::new(pid);
    let oom_kills_before = oom_kills();
    let deadline = Instant::now() + limits.time;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    let mut interrupted = false;
    loop {
        // SAFETY: waiting on our own child's pid with valid out-pointers.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if done < 0 {
            return Err(std::io::Error::last_os_error()).context("waiting for the worker");
        }
        interrupted = crate::interrupt::requested();
        if interrupted || Instant::now() >= deadline {
            timed_out = !interrupted;
            // SAFETY: our own child; then reap it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        exit.wait(deadline.saturating_duration_since(Instant::now()));
    }
    let _ = writer.join();
    Ok(Outcome {
        status,
        timed_out,
        interrupted,
        // Linux reports ru_maxrss in kilobytes.
        peak_rss_kb: usage.ru_maxrss.max(0) as u64,
        reply: out_reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("reading its reply failed"))),
        stderr: err_reader.join().unwrap_or_default(),
        oom_kill_seen: oom_kills_before
            .zip(oom_kills())
            .map(|(before, after)| after > before),
    })
}

/// A failure under an address-space limit whose words show that the limit refused memory (a library that
/// could not be mapped, an allocation refused), said as such first: "dlopen failed" alone points elsewhere.
fn blame_the_memory_limit(limit_bytes: u64, error: &str) -> String {
    const SIGNS: [&str; 4] = [
        "failed to map segment from shared object",
        "annot allocate memory",
        "std::bad_alloc",
        "memory allocation of",
    ];
    if SIGNS.iter().any(|sign| error.contains(sign)) {
        format!(
            "the worker's memory limit (memory_limit_mb = {}) is too small for this engine: {error}",
            limit_bytes / (1024 * 1024)
        )
    } else {
        error.to_string()
    }
}

/// How many processes the kernel's out-of-memory killer has ended since boot (`oom_kill` in /proc/vmstat,
/// Linux 4.13 and later), which tells a SIGKILL from it apart from one sent by another process.
fn oom_kills() -> Option<u64> {
    std::fs::read_to_string("/proc/vmstat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|count| count.trim().parse().ok())
}

impl Outcome {
    /// How the worker failed, when it was stopped, timed out or died of a signal; `None` when it exited.
    fn failure(&self, limits: Limits) -> Option<(Status, String)> {
        let last_words = last_lines(&self.stderr, 4);
        if self.interrupted {
            return Some((
                Status::Interrupted,
                format!(
                    "stopped by {} during this measurement",
                    crate::interrupt::cause()
                ),
            ));
        }
        if self.timed_out {
            return Some((
                Status::TimedOut,
                format!(
                    "killed after the {} s time limit{}",
                    limits.time.as_secs_f64(),
                    with(&last_words)
                ),
            ));
        }
        if !libc::WIFSIGNALED(self.status) {
            return None;
        }
        let signal = libc::WTERMSIG(self.status);
        let out_of_memory = String::from_utf8_lossy(&self.stderr).contains("memory allocation of");
        Some(match signal {
            _ if out_of_memory => (
                Status::OutOfMemory,
                format!(
                    "ran out of memory{}{}",
                    limits.memory_bytes.map_or(String::new(), |b| format!(
                        " (limit {} MB)",
                        b / (1024 * 1024)
                    )),
                    with(&last_words)
                ),
            ),
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => (
                Status::Crashed,
                format!(
                    "crashed with signal {signal} ({}){}",
                    signal_name(signal),
                    with(&last_words)
                ),
            ),
            libc::SIGABRT => (
                Status::Aborted,
                format!("aborted (signal 6){}", with(&last_words)),
            ),
            libc::SIGKILL => match self.oom_kill_seen {
                Some(true) => (
                    Status::OutOfMemory,
                    format!(
                        "killed by the kernel's out-of-memory killer (signal 9, SIGKILL; the kernel's count of \
                         such kills rose while it ran; peak resident memory {} MB){}",
                        self.peak_rss_kb / 1024,
                        with(&last_words)
                    ),
                ),
                Some(false) => (
                    Status::Crashed,
                    format!(
                        "killed by signal 9 (SIGKILL) from outside the harness: not by the out-of-memory killer, \
                         whose count of kills did not rise{}",
                        with(&last_words)
                    ),
                ),
                None => (
                    Status::OutOfMemory,
                    format!(
                        "killed by signal 9 (SIGKILL), most likely by the kernel's out-of-memory killer (this \
                         system keeps no count of its kills to tell){}",
                        with(&last_words)
                    ),
                ),
            },
            other => (
                Status::Crashed,
                format!(
                    "ended by signal {other} ({}){}",
                    signal_name(other),
                    with(&last_words)
                ),
            ),
        })
    }

    /// The worker exited without a reply that could be read.
    fn without_result(&self, error: &anyhow::Error) -> String {
        format!(
            "the worker exited with status {} without a result ({error:#}){}",
            libc::WEXITSTATUS(self.status),
            with(&last_lines(&self.stderr, 4))
        )
    }

    fn into_record(
        mut self,
        job: &WorkerJob,
        engine_version: &str,
        limits: Limits,
    ) -> MeasurementRecord {
        let reply = std::mem::replace(&mut self.reply, Err(anyhow::anyhow!("read once")));
        let failed = |status, error: String| {
            let mut record =
                MeasurementRecord::failed(&job.plan, &job.device, engine_version, status, error);
            record.peak_rss_kb = Some(self.peak_rss_kb);
            record
        };
        if let Some((status, error)) = self.failure(limits) {
            return failed(status, error);
        }
        match reply.and_then(Reply::into_record) {
            Ok(mut record) => {
                record.peak_rss_kb = record.peak_rss_kb.or(Some(self.peak_rss_kb));
                if let (Some(bytes), Some(error)) = (limits.memory_bytes, &mut record.error) {
                    *error = blame_the_memory_limit(bytes, error);
                }
                record
            }
            Err(e) => failed(Status::RunFailed, self.without_result(&e)),
        }
    }
}

/// Waits for a child's exit without waking a core up every few milliseconds while the engine measures: a pidfd
/// becomes readable when the child exits; where the kernel (or qemu-user) has none, polling stands in.
struct ExitWatch(Option<std::os::fd::OwnedFd>);

impl ExitWatch {
    /// How long one wait may last: a Ctrl-C delivered to another of the parent's threads is seen within it.
    const LONGEST: Duration = Duration::from_millis(100);
    /// How often the stand-in polls.
    const POLL: Duration = Duration::from_millis(5);

    fn new(pid: libc::pid_t) -> ExitWatch {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open on our own child; a descriptor it returns is owned by the OwnedFd alone.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        ExitWatch((fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Returns when the child may have exited, a signal arrived, or `most` (at most `LONGEST`) has passed.
    fn wait(&self, most: Duration) {
        use std::os::fd::AsRawFd;
        let Some(fd) = &self.0 else {
            std::thread::sleep(Self::POLL.min(most));
            return;
        };
        let mut watched = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = most.min(Self::LONGEST).as_millis() as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut watched, 1, timeout) };
    }
}

/// Large tensors cross a pipe in fewer, larger steps with a 1 MB buffer than with the default 64 KB; where the
/// system refuses (a limit in /proc/sys/fs/pipe-max-size), the default stays.
fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe this process owns; failure leaves the pipe as it was.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

fn with(last_words: &str) -> String {
    if last_words.is_empty() {
        String::new()
    } else {
        format!("; last output: {last_words}")
    }
}

/// The last `count` non-empty lines of a child's error output, joined.
fn last_lines(bytes: &[u8], count: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "segmentation fault",
        libc::SIGBUS => "bus error",
        libc::SIGILL => "illegal instruction",
        libc::SIGFPE => "arithmetic error",
        libc::SIGXFSZ => "SIGXFSZ: a file grew past the file-size limit, ulimit -f",
        libc::SIGXCPU => "SIGXCPU: the CPU-time limit, ulimit -t",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGPIPE => "SIGPIPE: it wrote to a pipe nobody reads",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS: a bad system call",
        _ => "no name known here",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn killed(signal: i32, oom_kill_seen: Option<bool>) -> Outcome {
        Outcome {
            // A wait status for a death by `signal`: the signal number in the low bits.
            status: signal,
            timed_out: false,
            interrupted: false,
            peak_rss_kb: 2048,
            reply: Err(anyhow::anyhow!("none")),
            stderr: Vec::new(),
            oom_kill_seen,
        }
    }

    #[test]
    fn a_sigkill_is_out_of_memory_only_when_the_kernel_counted_a_kill() {
        let limits = Limits {
            time: Duration::from_secs_f64(1.5),
            memory_bytes: None,
        };
        let (status, why) = killed(libc::SIGKILL, Some(true)).failure(limits).unwrap();
        assert_eq!(status, Status::OutOfMemory);
        assert!(
            why.starts_with("killed by the kernel's out-of-memory killer"),
            "{why}"
        );
        assert!(why.contains("peak resident memory 2 MB"), "{why}");
        let (status, why) = killed(libc::SIGKILL, Some(false)).failure(limits).unwrap();
        assert_eq!(status, Status::Crashed);
        assert!(why.contains("not by the out-of-memory killer"), "{why}");
        let (status, why) = killed(libc::SIGKILL, None).failure(limits).unwrap();
        assert_eq!(status, Status::OutOfMemory);
        assert!(why.contains("most likely"), "{why}");
        let (_, why) = killed(libc::SIGXFSZ, None).failure(limits).unwrap();
        assert!(
            why.starts_with("ended by signal 25 (SIGXFSZ: a file grew past the file-size limit"),
            "{why}"
        );
        let timed_out = Outcome {
            timed_out: true,
            ..killed(libc::SIGKILL, None)
        };
        let (_, why) = timed_out.failure(limits).unwrap();
        assert_eq!(why, "killed after the 1.5 s time limit");
    }

    #[test]
    fn a_library_the_memory_limit_could_not_map_names_the_limit() {
        let dlopen = "cannot load libonnxruntime.so: dlopen failed: libonnxruntime.so: failed to map segment from \
                      shared object";
        assert_eq!(
            blame_the_memory_limit(64 << 20, dlopen),
            format!("the worker's memory limit (memory_limit_mb = 64) is too small for this engine: {dlopen}")
        );
        assert_eq!(
            blame_the_memory_limit(64 << 20, "no such file"),
            "no such file"
        );
    }

    #[test]
    fn the_kernels_count_of_oom_kills_is_read_where_it_is_kept() {
        let kept = std::fs::read_to_string("/proc/vmstat").is_ok_and(|v| v.contains("\noom_kill "));
        assert_eq!(oom_kills().is_some(), kept);
    }

    #[test]
    fn last_lines_keeps_the_end_of_the_story() {
        assert_eq!(last_lines(b"a\n\nb\nc\nd\n", 2), "c | d");
        assert_eq!(last_lines(b"", 3), "");
    }
}
