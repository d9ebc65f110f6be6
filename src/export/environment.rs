//! The fingerprint stored with every result: what machine, system, compiler and engines produced it.

use harness_backend_api::BackendInfo;
use serde::Serialize;
use std::fs;

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub device: String,
    pub cpu_model: Option<String>,
    pub logical_cores: usize,
    pub frequency_governor: Option<String>,
    pub kernel: Option<String>,
    pub os: Option<String>,
    pub target: &'static str,
    pub rustc: &'static str,
    pub harness_version: &'static str,
    pub git_commit: &'static str,
    pub engines: Vec<BackendInfo>,
    /// One core's measured multiply-accumulate peak (see `peak`), the yardstick for each row's GMAC/s.
    pub fma_peak: Option<harness_peak::Peak>,
}

impl Environment {
    /// Reads what the system exposes; anything unreadable is left out rather than guessed.
    pub fn capture(engines: Vec<BackendInfo>) -> Environment {
        Environment {
            device: device_name(),
            cpu_model: cpu_model(),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            frequency_governor: read_trimmed(
                "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            ),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            os: os_name(),
            target: env!("HARNESS_TARGET"),
            rustc: env!("HARNESS_RUSTC"),
            harness_version: env!("CARGO_PKG_VERSION"),
            git_commit: env!("HARNESS_GIT_COMMIT"),
            engines,
            fma_peak: None,
        }
    }
}

/// The name rows are tagged with: the host name.
pub fn device_name() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "local".to_string())
}

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn cpu_model() -> Option<String> {
    let info = fs::read_to_string("/proc/cpuinfo").ok()?;
    // x86 says "model name"; many ARM kernels say "Model" (the board) or only "CPU part".
    ["model name", "Model", "Hardware"].iter().find_map(|key| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == *key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    })
}

fn os_name() -> Option<String> {
    let release = fs::read_to_string("/etc/os-release").ok()?;
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}
