//! One engine's crash is not the run's crash: each measurement can run in a child process (the harness
//! re-executing itself as `harness worker`), under a time limit and optionally a memory limit. A crash, an
//! abort, a hang or an out-of-memory death becomes a row with its status and the child's last words; the parent
//! alone writes results. The child's peak resident memory comes from the OS after it ends (`wait4`), so no
//! sampler disturbs the timing.

use super::execute::execute;
use crate::inputs::ModelInputs;
use crate::measure::MonotonicClock;
use crate::plan::MeasurementPlan;
use crate::record::{MeasurementRecord, Status};
use anyhow::{Context, Result};
use harness_backend_api::Backend;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where measurements run.
#[derive(Clone, Debug)]
pub enum Isolation {
    /// In the harness's own process (for debugging: a crash ends the run).
    InProcess,
    /// Each in a child process started from `program` (the harness binary itself), through `launcher` when
    /// given (qemu-user, for an emulated harness: see `machine::WORKER_LAUNCHER_VARIABLE`).
    Subprocess {
        program: PathBuf,
        launcher: Option<PathBuf>,
    },
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

/// What the parent hands a worker on its standard input.
#[derive(Serialize, Deserialize)]
pub struct WorkerJob {
    pub plan: MeasurementPlan,
    pub inputs: ModelInputs,
    pub device: String,
}

/// How long a child may take, and how much address space it may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub time: Duration,
    pub memory_bytes: Option<u64>,
}

/// CPU cores the worker is pinned to (`sched_setaffinity`), none meaning all.
pub type CpuList = Option<Vec<usize>>;

/// Runs `job` in a child process and turns whatever happens into a record.
pub fn run_in_child(
    program: &PathBuf,
    launcher: Option<&PathBuf>,
    job: &WorkerJob,
    engine_version: &str,
    limits: Limits,
    cpus: &CpuList,
) -> MeasurementRecord {
    let failed = |status, error: String| {
        MeasurementRecord::failed(&job.plan, &job.device, engine_version, status, error)
    };
    match supervise(program, launcher, job, limits, cpus) {
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
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// `harness worker` in a process group of its own, with its memory limit and CPU pinning applied between
/// fork and exec.
fn worker_command(
    program: &PathBuf,
    launcher: Option<&PathBuf>,
    limits: Limits,
    cpus: &CpuList,
) -> Command {
    let mut command = match launcher {
        Some(launcher) => {
            let mut command = Command::new(launcher);
            command.arg(program);
            command
        }
        None => Command::new(program),
    };
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
    program: &PathBuf,
    launcher: Option<&PathBuf>,
    job: &WorkerJob,
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
    let mut stderr = child.stderr.take().expect("piped");
    let job_text = serde_json::to_vec(job)?;
    // Reading and writing happen on their own threads, so that no full pipe can block the child.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&job_text);
    });
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });

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
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = writer.join();
    Ok(Outcome {
        status,
        timed_out,
        interrupted,
        // Linux reports ru_maxrss in kilobytes.
        peak_rss_kb: usage.ru_maxrss.max(0) as u64,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

impl Outcome {
    fn into_record(
        self,
        job: &WorkerJob,
        engine_version: &str,
        limits: Limits,
    ) -> MeasurementRecord {
        let last_words = last_lines(&self.stderr, 4);
        let failed = |status, error: String| {
            let mut record =
                MeasurementRecord::failed(&job.plan, &job.device, engine_version, status, error);
            record.peak_rss_kb = Some(self.peak_rss_kb);
            record
        };
        if self.interrupted {
            return failed(
                Status::Interrupted,
                "stopped by the user (Ctrl-C) during this measurement".into(),
            );
        }
        if self.timed_out {
            return failed(
                Status::TimedOut,
                format!(
                    "killed after the {:.0} s time limit{}",
                    limits.time.as_secs_f64(),
                    with(&last_words)
                ),
            );
        }
        if libc::WIFSIGNALED(self.status) {
            let signal = libc::WTERMSIG(self.status);
            let out_of_memory =
                String::from_utf8_lossy(&self.stderr).contains("memory allocation of");
            return match signal {
                _ if out_of_memory => failed(
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
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => failed(
                    Status::Crashed,
                    format!(
                        "crashed with signal {signal} ({}){}",
                        signal_name(signal),
                        with(&last_words)
                    ),
                ),
                libc::SIGABRT => failed(
                    Status::Aborted,
                    format!("aborted (signal 6){}", with(&last_words)),
                ),
                libc::SIGKILL => failed(
                    Status::OutOfMemory,
                    format!(
                        "killed by signal 9, most likely by the kernel's out-of-memory killer{}",
                        with(&last_words)
                    ),
                ),
                other => failed(
                    Status::Crashed,
                    format!("ended by signal {other}{}", with(&last_words)),
                ),
            };
        }
        match serde_json::from_slice::<MeasurementRecord>(&self.stdout) {
            Ok(mut record) => {
                record.peak_rss_kb = Some(self.peak_rss_kb);
                record
            }
            Err(e) => failed(
                Status::RunFailed,
                format!(
                    "the worker exited with status {} without a result ({e}){}",
                    libc::WEXITSTATUS(self.status),
                    with(&last_words)
                ),
            ),
        }
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
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end_of_the_story() {
        assert_eq!(last_lines(b"a\n\nb\nc\nd\n", 2), "c | d");
        assert_eq!(last_lines(b"", 3), "");
    }
}
