//! What the OS says about the measuring process (`/proc/self/status`), read outside the timed runs: its
//! threads and its resident memory. In a worker process the memory is the engine's (and the worker's own
//! small share); `VmHWM` is the peak of this process's own address space, unlike `wait4`'s `ru_maxrss`, which
//! Linux carries over from the parent's address space at exec.

/// One reading of `/proc/self/status`.
pub struct ProcessStatus(String);

impl ProcessStatus {
    pub fn read() -> Option<ProcessStatus> {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .map(ProcessStatus)
    }

    /// The number a field starts with (`Threads:\t5`, `VmRSS:\t  1234 kB`).
    fn field(&self, name: &str) -> Option<u64> {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
    }

    /// OS threads of the process.
    pub fn threads(&self) -> Option<u64> {
        self.field("Threads")
    }

    /// Resident memory now, in kB.
    pub fn resident_kb(&self) -> Option<u64> {
        self.field("VmRSS")
    }

    /// The highest resident memory of this address space so far, in kB.
    pub fn peak_resident_kb(&self) -> Option<u64> {
        self.field("VmHWM")
    }

    /// The largest the address space has been, in kB: what a memory limit (`RLIMIT_AS`) counts.
    pub fn peak_address_space_kb(&self) -> Option<u64> {
        self.field("VmPeak")
    }
}

/// CPU time, in clock ticks, of the whole machine (`/proc/stat`) and of this process with all its threads
/// (`/proc/self/stat`): read before and after the timed runs, the difference says what else ran meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// Every CPU's time in user, nice, system, irq and softirq.
    busy: u64,
    /// Time the hypervisor gave to other guests while this one wanted to run.
    steal: u64,
    /// Every CPU's time in all states.
    total: u64,
    /// This process's user and system time.
    own: u64,
}

/// What took the machine's CPU while a measurement ran, as shares of all its CPUs' time.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuShares {
    /// Other processes.
    pub others_percent: f64,
    /// The hypervisor, for other guests.
    pub steal_percent: f64,
}

impl CpuShares {
    /// Other processes' share above which a row is `disturbed`: on a 2-core machine one busy process is 50%.
    pub const OTHERS_LIMIT: f64 = 10.0;
    /// The hypervisor's share above which a row is `disturbed`.
    pub const STEAL_LIMIT: f64 = 5.0;

    pub fn disturbed(&self) -> bool {
        self.others_percent >= Self::OTHERS_LIMIT || self.steal_percent >= Self::STEAL_LIMIT
    }

    /// What disturbed the measurement, in words; None when nothing did.
    pub fn describe(&self) -> Option<String> {
        let mut causes = Vec::new();
        if self.others_percent >= Self::OTHERS_LIMIT {
            causes.push(format!(
                "other processes used {:.0}% of the machine's CPU time",
                self.others_percent
            ));
        }
        if self.steal_percent >= Self::STEAL_LIMIT {
            causes.push(format!(
                "the hypervisor took {:.0}% for other guests",
                self.steal_percent
            ));
        }
        (!causes.is_empty()).then(|| causes.join(", "))
    }
}

impl CpuTimes {
    pub fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        CpuTimes::parse(&stat, &own)
    }

    fn parse(stat: &str, own: &str) -> Option<CpuTimes> {
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal (guest time is counted in user already).
        let [user, nice, system, idle, iowait, irq, softirq, steal] = *fields.get(..8)? else {
            return None;
        };
        // After the command name, which may hold spaces and parentheses: state is field 3, utime 14, stime 15.
        let rest: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| rest.get(i)?.parse::<u64>().ok();
        Some(CpuTimes {
            busy: user + nice + system + irq + softirq,
            steal,
            total: user + nice + system + idle + iowait + irq + softirq + steal,
            own: ticks(11)? + ticks(12)?,
        })
    }

    /// The shares between this reading and a `later` one; None when no time passed in the counters.
    pub fn shares_until(&self, later: &CpuTimes) -> Option<CpuShares> {
        let total = later.total.checked_sub(self.total).filter(|&t| t > 0)? as f64;
        let busy = later.busy.saturating_sub(self.busy);
        let own = later.own.saturating_sub(self.own);
        Some(CpuShares {
            others_percent: 100.0 * busy.saturating_sub(own) as f64 / total,
            steal_percent: 100.0 * later.steal.saturating_sub(self.steal) as f64 / total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_processes_and_steal_are_shares_of_all_cpus_time() {
        let own =
            |ticks: u64| format!("42 (a (strange) name) R 1 2 3 4 5 6 7 8 9 10 {ticks} 0 0 0");
        let stat = |user: u64, idle: u64, steal: u64| {
            format!("cpu  {user} 0 0 {idle} 0 0 0 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
        };
        let before = CpuTimes::parse(&stat(100, 1000, 10), &own(50)).unwrap();
        // 200 ticks pass on the machine: 100 busy, 50 of them this process's, 20 stolen.
        let after = CpuTimes::parse(&stat(200, 1080, 30), &own(100)).unwrap();
        let shares = before.shares_until(&after).unwrap();
        assert_eq!(shares.others_percent, 25.0);
        assert_eq!(shares.steal_percent, 10.0);
        assert!(shares.disturbed());
        assert_eq!(
            shares.describe().unwrap(),
            "other processes used 25% of the machine's CPU time, the hypervisor took 10% for other guests"
        );
        let quiet = CpuShares {
            others_percent: 2.0,
            steal_percent: 0.5,
        };
        assert!(!quiet.disturbed() && quiet.describe().is_none());
        assert_eq!(before.shares_until(&before), None);
        assert!(CpuTimes::read().is_some());
    }

    #[test]
    fn fields_are_read_by_name_and_unit_free() {
        let status = ProcessStatus(
            "Name:\tharness\nVmPeak:\t  409600 kB\nVmHWM:\t  204800 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n"
                .to_string(),
        );
        assert_eq!(status.peak_address_space_kb(), Some(409_600));
        assert_eq!(status.peak_resident_kb(), Some(204_800));
        assert_eq!(status.resident_kb(), Some(10_240));
        assert_eq!(status.threads(), Some(3));
        assert_eq!(ProcessStatus(String::new()).threads(), None);
    }

    #[test]
    fn this_process_has_threads_and_memory() {
        let status = ProcessStatus::read().unwrap();
        assert!(status.threads().unwrap() >= 1);
        assert!(status.peak_resident_kb().unwrap() >= status.resident_kb().unwrap());
    }
}
