//! What a fleet shows while it runs: on a terminal, one line per target, each the target's latest message;
//! otherwise each message on a line of its own, prefixed with its target. Every message also goes to the
//! target's log in the fleet folder (`logs/NAME.log`), whole.

use crate::remote::Echo;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct FleetProgress {
    names: Vec<String>,
    logs: Vec<Mutex<File>>,
    /// On a terminal: a line per target.
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
}

impl FleetProgress {
    /// A line and a log (created in `logs`) for each of `names`.
    pub fn new(names: &[String], logs: &Path) -> anyhow::Result<Arc<FleetProgress>> {
        std::fs::create_dir_all(logs)?;
        let files = names
            .iter()
            .map(|name| {
                let path = logs.join(format!("{}.log", crate::export::folder::slug(name)));
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map(Mutex::new)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(&format!(
                "{{prefix:>{width}}} {{spinner}} {{wide_msg}}"
            ))
            .expect("a valid template");
            let bars = names
                .iter()
                .map(|name| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(name.clone());
                    bar.set_message("waiting");
                    bar.enable_steady_tick(Duration::from_millis(250));
                    bar
                })
                .collect();
            (multi, bars)
        });
        Ok(Arc::new(FleetProgress {
            names: names.to_vec(),
            logs: files,
            bars,
        }))
    }

    /// Where target `index`'s messages and output go.
    pub fn echo(self: &Arc<Self>, index: usize) -> Echo {
        let progress = self.clone();
        Echo::Lines(Arc::new(move |text: &str| progress.line(index, text)))
    }

    /// Appends `text` to target `index`'s log.
    fn log(&self, index: usize, text: &str) {
        if let Ok(mut log) = self.logs[index].lock() {
            let _ = writeln!(log, "{text}");
        }
    }

    /// A message from target `index`.
    pub fn line(&self, index: usize, text: &str) {
        self.log(index, text);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match &self.bars {
            Some((_, bars)) => bars[index].set_message(text.to_string()),
            None => eprintln!("[{}] {text}", self.names[index]),
        }
    }

    /// Target `index` is done: its line stays, with `text`.
    pub fn finish(&self, index: usize, text: &str) {
        self.log(index, text);
        match &self.bars {
            Some((_, bars)) => bars[index].finish_with_message(text.to_string()),
            None => eprintln!("[{}] {text}", self.names[index]),
        }
    }

    /// A line for the whole fleet: above the targets' lines on a terminal.
    pub fn note(&self, text: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }
}
