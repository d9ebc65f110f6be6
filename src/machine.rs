//! Facts about the machine that measures, used both to configure a run (which cores to pin to) and to
//! describe it (environment.json): its CPU topology, and how the harness reached it.

use serde::{Deserialize, Serialize};

/// How the harness reaches the machine it measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    #[default]
    Local,
    Ssh,
    /// qemu-user on the machine that runs the harness: checks the whole path without a board; its timings
    /// say nothing about one.
    Emulated,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Local => "local",
            Access::Ssh => "ssh",
            Access::Emulated => "emulated",
        }
    }
}

/// The environment variable that tells a harness to start its worker processes through a launcher (e.g.
/// `qemu-aarch64`): a binary emulated by qemu-user cannot start another one directly without binfmt_misc.
pub const WORKER_LAUNCHER_VARIABLE: &str = "HARNESS_WORKER_LAUNCHER";

/// This machine's physical memory in bytes, when the system says.
pub fn memory_bytes() -> Option<u64> {
    // SAFETY: sysconf reads system constants and has no preconditions.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && page_size > 0).then(|| pages as u64 * page_size as u64)
}

/// A system file's trimmed text, or None when it is missing or empty.
pub fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The cores of the cluster with the highest top frequency (a big.LITTLE board's big cores); all cores when
/// the clusters do not say their frequencies.
pub fn big_cores(clusters: &[CpuCluster]) -> Vec<usize> {
    match clusters
        .iter()
        .filter(|c| c.max_mhz.is_some())
        .max_by_key(|c| c.max_mhz)
    {
        Some(big) => big.cpus.clone(),
        None => clusters
            .iter()
            .flat_map(|c| c.cpus.iter().copied())
            .collect(),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CpuCluster {
    pub cpus: Vec<usize>,
    /// The core type where the kernel names it (ARM's `CPU part`, e.g. 0xd0b for Cortex-A76).
    pub part: Option<String>,
    pub max_mhz: Option<u64>,
    pub governor: Option<String>,
}

/// Cores grouped by (CPU part, top frequency), in core order.
pub fn cpu_clusters() -> Vec<CpuCluster> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // On ARM, each "processor" block names its "CPU part".
    let mut parts = std::collections::BTreeMap::new();
    let mut current = None;
    for line in info.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => current = value.trim().parse::<usize>().ok(),
            "CPU part" => {
                if let Some(cpu) = current {
                    parts.insert(cpu, value.trim().to_string());
                }
            }
            _ => {}
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut clusters: Vec<CpuCluster> = Vec::new();
    for cpu in 0..cores {
        let freq = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq");
        let max_mhz = read_trimmed(&format!("{freq}/cpuinfo_max_freq"))
            .and_then(|khz| khz.parse::<u64>().ok())
            .map(|khz| khz / 1000);
        let part = parts.get(&cpu).cloned();
        match clusters
            .iter_mut()
            .find(|c| c.part == part && c.max_mhz == max_mhz)
        {
            Some(cluster) => cluster.cpus.push(cpu),
            None => clusters.push(CpuCluster {
                cpus: vec![cpu],
                part,
                max_mhz,
                governor: read_trimmed(&format!("{freq}/scaling_governor")),
            }),
        }
    }
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(cpus: &[usize], max_mhz: Option<u64>) -> CpuCluster {
        CpuCluster {
            cpus: cpus.to_vec(),
            part: None,
            max_mhz,
            governor: None,
        }
    }

    #[test]
    fn big_cores_are_the_fastest_cluster_or_all_cores_when_frequencies_are_unknown() {
        let big_little = [
            cluster(&[0, 1, 2, 3], Some(1800)),
            cluster(&[4, 5, 6, 7], Some(2400)),
        ];
        assert_eq!(big_cores(&big_little), [4, 5, 6, 7]);
        let unknown = [cluster(&[0, 1], None)];
        assert_eq!(big_cores(&unknown), [0, 1]);
    }
}
