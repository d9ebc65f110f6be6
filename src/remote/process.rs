//! The processes that reach a target (ssh, tar, qemu, a harness): where their output goes, and how a stop asked
//! for here reaches them. Each starts in a process group of its own, so that the terminal's Ctrl-C reaches this
//! harness alone; a harness it drives stops when this one closes its standard input (`--stop-on-eof`), which
//! works through ssh as well as on this machine.

use anyhow::{Context, Result};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where a target's messages and its processes' output go.
#[derive(Clone)]
pub enum Echo {
    /// This harness's standard error, as it comes (one target at a time).
    Terminal,
    /// Line by line to a function (a fleet: each target's log and progress line).
    Lines(Arc<dyn Fn(&str) + Send + Sync>),
}

impl Echo {
    /// A message of this harness's own about the target.
    pub fn say(&self, text: &str) {
        match self {
            Echo::Terminal => eprintln!("{text}"),
            Echo::Lines(line) => line(text),
        }
    }

    /// Starts `command` in a process group of its own, its standard error (and its standard output with
    /// `stdout_too`, whose last line is kept: a harness prints its results folder there) going where this
    /// echo says.
    pub fn spawn(&self, command: &mut Command, stdout_too: bool) -> Result<Echoed> {
        command.process_group(0);
        match self {
            Echo::Terminal => command.stderr(Stdio::inherit()),
            Echo::Lines(_) => command.stderr(Stdio::piped()),
        };
        if stdout_too {
            command.stdout(Stdio::piped());
        }
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let mut readers = Vec::new();
        if let Echo::Lines(line) = self {
            if let Some(stderr) = child.stderr.take() {
                readers.push(forward(stderr, line.clone()));
            }
        }
        let last_line = Arc::new(Mutex::new(None));
        // The caller's own pipe is left to the caller.
        let echoed_stdout = if stdout_too {
            child.stdout.take()
        } else {
            None
        };
        if let Some(stdout) = echoed_stdout {
            let (echo, kept) = (self.clone(), last_line.clone());
            readers.push(forward(
                stdout,
                Arc::new(move |text: &str| {
                    echo.say(text);
                    if !text.trim().is_empty() {
                        *kept.lock().expect("never poisoned") = Some(text.to_string());
                    }
                }),
            ));
        }
        Ok(Echoed {
            child,
            readers,
            last_line,
        })
    }
}

/// Each line `from` gives, to `line`, on a thread of its own.
fn forward(
    from: impl std::io::Read + Send + 'static,
    line: Arc<dyn Fn(&str) + Send + Sync>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for text in std::io::BufReader::new(from)
            .split(b'\n')
            .map_while(Result::ok)
        {
            line(String::from_utf8_lossy(&text).trim_end());
        }
    })
}

/// How a process that a stop could end ended, and the last line it printed on its standard output when that
/// was kept.
pub struct Finished {
    pub status: ExitStatus,
    pub last_line: Option<String>,
}

/// A process started by [`Echo::spawn`].
pub struct Echoed {
    pub child: Child,
    readers: Vec<JoinHandle<()>>,
    last_line: Arc<Mutex<Option<String>>>,
}

impl Echoed {
    /// Waits for the process and the last of its output.
    pub fn wait(mut self) -> Result<ExitStatus> {
        let status = self
            .child
            .wait()
            .context("cannot wait for a child process")?;
        self.readers
            .into_iter()
            .for_each(|r| r.join().unwrap_or(()));
        Ok(status)
    }

    /// Waits for the process, ending it when a stop is asked for (Ctrl-C): for a copy to the target, which
    /// a stop makes pointless, and which could take minutes over a slow link.
    pub fn wait_or_kill(self) -> Result<ExitStatus> {
        self.wait_polling(|child| {
            let _ = child.kill();
        })
    }

    /// Waits for a process whose standard input is a pipe held here, closing it when a stop is asked for
    /// (Ctrl-C): a harness started with `--stop-on-eof` then stops as after its own Ctrl-C, keeping its rows.
    pub fn wait_or_stop(self) -> Result<Finished> {
        let last_line = self.last_line.clone();
        let status = self.wait_polling(|child| drop(child.stdin.take()))?;
        let last_line = last_line.lock().expect("never poisoned").take();
        Ok(Finished { status, last_line })
    }

    /// Waits for the process and the last of its output, calling `stop` on it while a stop is asked for.
    fn wait_polling(mut self, stop: impl Fn(&mut Child)) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.readers
                    .into_iter()
                    .for_each(|r| r.join().unwrap_or(()));
                return Ok(status);
            }
            if crate::interrupt::requested() {
                stop(&mut self.child);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
