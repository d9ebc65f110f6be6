//! The fingerprint stored with every result: what machine, system, compiler and engines produced it.

use crate::machine::{cpu_clusters, read_trimmed, CpuCluster};
use harness_backend_api::BackendInfo;
use serde::Serialize;
use std::fs;

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub device: String,
    /// How the device was reached: `local`, `ssh` or `emulated`.
    pub target_kind: &'static str,
    pub cpu_model: Option<String>,
    pub logical_cores: usize,
    pub frequency_governor: Option<String>,
    /// Cores grouped by type and top frequency (big.LITTLE boards have two or three clusters).
    pub cpu_clusters: Vec<CpuCluster>,
    /// Thermal zones and their temperatures at the start of the run, in °C.
    pub temperatures: Vec<Temperature>,
    /// Throttling the kernel counted so far (x86 `thermal_throttle` counters), where it exposes them.
    pub throttle_events: Option<u64>,
    pub glibc: Option<String>,
    /// For an emulated run: the emulator and the CPU it models. The CPU model and cores above are then the
    /// host's, as the emulated program sees them.
    pub emulation: Option<String>,
    pub kernel: Option<String>,
    /// The running kernel's boot id: devices that report the same one are one machine (containers, or
    /// targets reached over the loopback), whose figures disturb each other when measured at once.
    pub boot_id: Option<String>,
    pub os: Option<String>,
    pub target: &'static str,
    pub rustc: &'static str,
    pub harness_version: &'static str,
    pub git_commit: &'static str,
    pub engines: Vec<BackendInfo>,
    /// One core's measured multiply-accumulate peak (see `peak`), the yardstick for each row's GMAC/s.
    pub fma_peak: Option<harness_peak::Peak>,
    /// The peak resident memory of a worker process that loads no engine, in MB: the harness's own share of
    /// every row's `peak_rss_mb`. None in process.
    pub worker_baseline_mb: Option<f64>,
}

impl Environment {
    /// Reads what the system exposes; anything unreadable is left out rather than guessed.
    pub fn capture(engines: Vec<BackendInfo>) -> Environment {
        Environment {
            device: device_name(),
            target_kind: "local",
            cpu_model: cpu_model(),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            frequency_governor: read_trimmed(
                "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            ),
            cpu_clusters: cpu_clusters(),
            temperatures: temperatures(),
            throttle_events: throttle_events(),
            glibc: glibc_version(),
            emulation: None,
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            os: os_name(),
            target: env!("HARNESS_TARGET"),
            rustc: env!("HARNESS_RUSTC"),
            harness_version: env!("CARGO_PKG_VERSION"),
            git_commit: env!("HARNESS_GIT_COMMIT"),
            engines,
            fma_peak: None,
            worker_baseline_mb: None,
        }
    }
}

/// The name rows are tagged with: the host name.
pub fn device_name() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "local".to_string())
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Temperature {
    pub zone: String,
    pub celsius: f64,
}

fn temperatures() -> Vec<Temperature> {
    let Ok(zones) = fs::read_dir("/sys/class/thermal") else {
        return Vec::new();
    };
    let mut found: Vec<Temperature> = zones
        .filter_map(Result::ok)
        .filter(|z| z.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|z| {
            let path = z.path();
            let millidegrees: f64 = read_trimmed(&path.join("temp").to_string_lossy())?
                .parse()
                .ok()?;
            let zone = read_trimmed(&path.join("type").to_string_lossy())
                .unwrap_or_else(|| z.file_name().to_string_lossy().into_owned());
            Some(Temperature {
                zone,
                celsius: millidegrees / 1000.0,
            })
        })
        .collect();
    found.sort_by(|a, b| a.zone.cmp(&b.zone));
    found
}

fn throttle_events() -> Option<u64> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let counts: Vec<u64> = (0..cores)
        .filter_map(|cpu| {
            read_trimmed(&format!(
                "/sys/devices/system/cpu/cpu{cpu}/thermal_throttle/core_throttle_count"
            ))?
            .parse()
            .ok()
        })
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

fn glibc_version() -> Option<String> {
    extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: glibc returns a static string; every target the harness builds for links glibc.
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    Some(version.to_string_lossy().into_owned())
}
