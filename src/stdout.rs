//! Standard output kept for what a command writes (a worker's reply, `inspect --json`): native engines print
//! there too (banners, logs), which would corrupt it.

use anyhow::{bail, Result};
use std::fs::File;
use std::os::fd::FromRawFd;

/// Returns standard output as a file of its own, and points the process's standard output at standard error:
/// whatever else prints there from now on (an engine, `println!`) goes to standard error.
pub fn reserve() -> Result<File> {
    // SAFETY: dup and dup2 on this process's own descriptors; the duplicate is owned by the File alone.
    unsafe {
        let fd = libc::dup(libc::STDOUT_FILENO);
        if fd < 0 || libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            bail!(
                "cannot set up standard output: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(File::from_raw_fd(fd))
    }
}
