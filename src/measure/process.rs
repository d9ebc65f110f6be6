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

#[cfg(test)]
mod tests {
    use super::*;

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
