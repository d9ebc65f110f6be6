//! The two ways of reaching a target: ssh to another machine (the system's `ssh`, with the user's ssh
//! configuration and keys; files travel as tar streams over the same connection), or a folder on this
//! machine whose binaries run under qemu-user. Both run shell command lines in the target's work folder.

use super::intake::{self, Refused};
use super::process::{Echo, Finished};
use crate::machine::{Access, WORKER_LAUNCHER_VARIABLE};
use crate::scenario::RemoteConfig;
use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

pub trait Remote {
    /// One line for the user: where the target is.
    fn describe(&self) -> String;

    /// Runs `command` (a shell command line) in the work folder; its output goes where the target's echo
    /// says, the last line of its standard output kept. A stop asked for here closes its standard input (see
    /// `process`).
    fn run_streaming(&self, command: &str) -> Result<Finished>;

    /// Runs `command` and returns its output.
    fn run_captured(&self, command: &str) -> Result<Output>;

    /// Whether `command` succeeds; its output is dropped.
    fn run_quietly(&self, command: &str) -> Result<bool> {
        Ok(self.run_captured(command)?.status.success())
    }

    /// Copies the contents of the local folder `from` into `to` (relative to the work folder), created.
    fn upload(&self, from: &Path, to: &str) -> Result<()>;

    /// Copies the contents of `from` (relative to the work folder) into the new local folder `to`: regular files
    /// and folders only (see `intake`), anything else named in `refused`.
    fn download(&self, from: &str, to: &Path, refused: &mut Refused) -> Result<()>;

    /// The command line that runs a target binary with `arguments` (already quoted).
    fn command_line(&self, arguments: &[String]) -> String {
        arguments.join(" ")
    }

    /// What ended a command that did not succeed, in words.
    fn explain(&self, status: ExitStatus) -> String {
        status.to_string()
    }

    fn run_checked(&self, command: &str) -> Result<()> {
        let status = self.run_streaming(command)?.status;
        if !status.success() {
            bail!(
                "`{command}` failed on the target ({})",
                self.explain(status)
            );
        }
        Ok(())
    }
}

/// Puts a command that reaches a target in a process group of its own, so that the terminal's Ctrl-C reaches
/// this harness alone (which passes the stop on), and gives it no terminal to read: a process outside the
/// terminal's foreground group that reads it is stopped. Callers that feed it set its standard input after.
fn outside_the_terminal(command: &mut Command) {
    command.process_group(0).stdin(Stdio::null());
}

/// `text` quoted for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The target `name`, whose processes' output goes to `echo`.
pub fn connect(name: &str, config: &RemoteConfig, echo: Echo) -> Result<Box<dyn Remote>> {
    match config.kind {
        Access::Local => bail!("target {name} is local: run without --target"),
        Access::Ssh => Ok(Box::new(Ssh {
            host: config.host.clone().context("an ssh target needs `host`")?,
            config: config.clone(),
            work_dir: config.work_dir.clone().unwrap_or_else(|| "harness".into()),
            echo,
        })),
        Access::Emulated => {
            let arch = config.arch();
            let qemu = config
                .qemu
                .clone()
                .unwrap_or_else(|| format!("qemu-{arch}"));
            if Command::new(&qemu).arg("--version").output().is_err() {
                bail!(
                    "target {name} needs {qemu} (qemu-user): run scripts/setup.sh --target {arch}-unknown-linux-gnu"
                );
            }
            let root = harness_backend_api::cache::cache_root()
                .join("targets")
                .join(crate::export::folder::slug(name));
            std::fs::create_dir_all(&root)
                .with_context(|| format!("cannot create {}", root.display()))?;
            Ok(Box::new(Emulated {
                qemu,
                root,
                arch,
                cpu: config.qemu_cpu(),
                echo,
            }))
        }
    }
}

struct Ssh {
    host: String,
    config: RemoteConfig,
    work_dir: String,
    echo: Echo,
}

impl Ssh {
    /// `ssh` with the target's options; batch mode, so that a missing key fails instead of prompting.
    fn ssh(&self) -> Command {
        let mut command = Command::new("ssh");
        command.args(["-o", "BatchMode=yes"]);
        outside_the_terminal(&mut command);
        if let Some(file) = &self.config.ssh_config {
            command.arg("-F").arg(file);
        }
        if let Some(port) = self.config.port {
            command.args(["-p", &port.to_string()]);
        }
        if let Some(identity) = &self.config.identity {
            command
                .arg("-i")
                .arg(identity)
                .args(["-o", "IdentitiesOnly=yes"]);
        }
        for option in &self.config.ssh_options {
            command.args(["-o", option]);
        }
        // The destination is never an option, whatever it says (its check refuses a leading `-` too).
        command.arg("--");
        match &self.config.user {
            Some(user) => command.arg(format!("{user}@{}", self.host)),
            None => command.arg(&self.host),
        };
        command
    }

    fn in_work_dir(&self, command: &str) -> String {
        let dir = shell_quote(&self.work_dir);
        format!("mkdir -p {dir} && cd {dir} && {command}")
    }
}

/// What ssh's exit status 255 means.
fn ssh_failure(status: ExitStatus, host: &str) -> Result<ExitStatus> {
    if status.code() == Some(255) {
        bail!("ssh to {host} failed (connection refused, lost, or not authorised); see ssh's message above")
    }
    Ok(status)
}

impl Remote for Ssh {
    fn describe(&self) -> String {
        format!("ssh {} (work folder {})", self.host, self.work_dir)
    }

    fn run_streaming(&self, command: &str) -> Result<Finished> {
        // The remote harness's standard output (its results folder's path) is progress here: this harness prints
        // where the results landed on this machine.
        let mut ssh = self.ssh();
        ssh.arg(self.in_work_dir(command)).stdin(Stdio::piped());
        self.echo.spawn(&mut ssh, true)?.wait_or_stop()
    }

    fn explain(&self, status: ExitStatus) -> String {
        match status.code() {
            Some(255) => format!(
                "ssh to {} failed: the connection was refused, lost or not authorised (see ssh's message above)",
                self.host
            ),
            _ => status.to_string(),
        }
    }

    fn run_captured(&self, command: &str) -> Result<Output> {
        let output = self
            .ssh()
            .arg(self.in_work_dir(command))
            .output()
            .context("cannot start ssh")?;
        if output.status.code() == Some(255) {
            bail!(
                "ssh to {} failed: {}",
                self.host,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output)
    }

    fn upload(&self, from: &Path, to: &str) -> Result<()> {
        let to = shell_quote(to);
        let mut packing = Command::new("tar");
        outside_the_terminal(&mut packing);
        let mut tar = packing
            .arg("-C")
            .arg(from)
            .args(["-cf", "-", "."])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start tar")?;
        let mut ssh = self.ssh();
        ssh.arg(self.in_work_dir(&format!("mkdir -p {to} && tar -C {to} -xf -")))
            .stdin(tar.stdout.take().expect("piped"))
            .stdout(Stdio::null());
        let status = self.echo.spawn(&mut ssh, false)?.wait_or_kill()?;
        let packed = tar.wait()?;
        if crate::interrupt::requested() && !status.success() {
            bail!(
                "copying {} to {}:{to} was stopped by {}",
                from.display(),
                self.host,
                crate::interrupt::cause()
            );
        }
        ssh_failure(status, &self.host)?;
        if !status.success() || !packed.success() {
            bail!("copying {} to {}:{to} failed", from.display(), self.host);
        }
        Ok(())
    }

    fn download(&self, from: &str, to: &Path, refused: &mut Refused) -> Result<()> {
        let mut command = self.ssh();
        command
            .arg(self.in_work_dir(&format!("tar -C {} -cf - .", shell_quote(from))))
            .stdout(Stdio::piped());
        let mut ssh = self.echo.spawn(&mut command, false)?;
        // Unpacked here, not by the system's tar: the board's stream is taken member by member.
        let unpacked = intake::unpack(ssh.child.stdout.take().expect("piped"), to, refused);
        let status = ssh_failure(ssh.wait()?, &self.host)?;
        unpacked.with_context(|| format!("copying {}:{from} back failed", self.host))?;
        if !status.success() {
            bail!("copying {}:{from} back failed", self.host);
        }
        Ok(())
    }
}

/// A folder on this machine standing in for a board; its binaries run under qemu-user, which the harness
/// there also uses to start its worker processes.
struct Emulated {
    qemu: String,
    root: PathBuf,
    arch: String,
    cpu: Option<String>,
    echo: Echo,
}

impl Emulated {
    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(command)
            .current_dir(&self.root)
            .env(WORKER_LAUNCHER_VARIABLE, &self.qemu);
        outside_the_terminal(&mut shell);
        if let Some(cpu) = &self.cpu {
            shell.env("QEMU_CPU", cpu);
        }
        // Without the target's C library installed through multiarch, qemu finds it in the cross toolchain's.
        let sysroot = PathBuf::from(format!("/usr/{}-linux-gnu", self.arch));
        let loader = format!("/lib/ld-linux-{}.so.1", self.arch);
        if !Path::new(&loader).exists() && sysroot.is_dir() {
            shell.env("QEMU_LD_PREFIX", sysroot);
        }
        shell
    }
}

impl Remote for Emulated {
    fn describe(&self) -> String {
        format!(
            "{} (CPU model {}) on this machine, in {} (emulated: timings say nothing about a real board)",
            self.qemu,
            self.cpu.as_deref().unwrap_or("qemu's default"),
            self.root.display()
        )
    }

    fn run_streaming(&self, command: &str) -> Result<Finished> {
        let mut shell = self.shell(command);
        shell.stdin(Stdio::piped());
        self.echo.spawn(&mut shell, true)?.wait_or_stop()
    }

    fn run_captured(&self, command: &str) -> Result<Output> {
        self.shell(command).output().context("cannot start sh")
    }

    fn upload(&self, from: &Path, to: &str) -> Result<()> {
        super::copy_tree(from, &self.root.join(to))
    }

    fn download(&self, from: &str, to: &Path, refused: &mut Refused) -> Result<()> {
        intake::take_tree(&self.root, &self.root.join(from), to, refused)
    }

    fn command_line(&self, arguments: &[String]) -> String {
        format!("{} {}", shell_quote(&self.qemu), arguments.join(" "))
    }
}
