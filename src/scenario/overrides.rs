//! Command-line adjustments to a scenario (`run`'s options), applied after it is read and checked.

use super::Scenario;
use crate::machine::Access;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Command-line adjustments to a scenario.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub backends: Option<Vec<String>>,
    pub threads: Option<Vec<usize>>,
    pub quick: bool,
    /// A profiled pass after each measurement (`[measure] profile = true`).
    pub profile: bool,
    pub out: Option<PathBuf>,
    pub device: Option<String>,
    /// Set by the harness that drives this run on a target (`run --target`), for the rows' `target` column.
    pub target: Option<Access>,
    /// An earlier, unfinished results folder of this scenario: only what it lacks is measured.
    pub resume: Option<PathBuf>,
    /// Pin the workers: a list of cores (`0,1`) or `big` (the fastest cluster of the machine that measures).
    pub cpus: Option<String>,
    /// Every round's row and parity line in the terminal, as well as the short answer.
    pub verbose: bool,
}

impl Overrides {
    /// The command-line options a harness driving a target passes on to the harness there.
    pub fn passed_on(&self) -> Vec<String> {
        let mut arguments = Vec::new();
        if let Some(backends) = &self.backends {
            arguments.extend(["--backends".to_string(), backends.join(",")]);
        }
        if let Some(threads) = &self.threads {
            let threads: Vec<String> = threads.iter().map(usize::to_string).collect();
            arguments.extend(["--threads".to_string(), threads.join(",")]);
        }
        if self.quick {
            arguments.push("--quick".to_string());
        }
        if self.profile {
            arguments.push("--profile".to_string());
        }
        if self.verbose {
            arguments.push("--verbose".to_string());
        }
        if let Some(cpus) = &self.cpus {
            arguments.extend(["--cpus".to_string(), cpus.clone()]);
        }
        arguments
    }

    pub fn apply(&self, scenario: &mut Scenario) -> Result<()> {
        scenario.verbose = self.verbose;
        if let Some(names) = &self.backends {
            if let Some(unknown) = names
                .iter()
                .find(|n| !scenario.backends.iter().any(|b| &b.name == *n))
            {
                let listed: Vec<&str> = scenario.backends.iter().map(|b| b.name.as_str()).collect();
                bail!(
                    "--backends names `{unknown}`, which {} does not configure (it has: {})",
                    scenario.path.display(),
                    listed.join(", ")
                );
            }
            scenario.backends.retain(|b| names.contains(&b.name));
        }
        if let Some(threads) = &self.threads {
            if let Some(problem) = super::thread_counts_problem(threads) {
                bail!("--threads must {problem}");
            }
            scenario.threads = threads.clone();
        }
        if self.quick {
            scenario.measure = scenario.measure.quick();
        }
        if self.profile {
            scenario.measure.profile = true;
        }
        if let Some(out) = &self.out {
            scenario.output_dir = out.clone();
        }
        if let Some(target) = self.target {
            scenario.target = target;
        }
        if let Some(cpus) = &self.cpus {
            scenario.measure.cpus = Some(if cpus == "big" {
                crate::machine::big_cores(&crate::machine::cpu_clusters())
            } else {
                cpus.split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .filter(|list| !list.is_empty())
                    .with_context(|| {
                        format!("--cpus takes core numbers such as 0,1 or `big`, not `{cpus}`")
                    })?
            });
        }
        if let Some(earlier) = &self.resume {
            scenario.resume_from = Some(earlier.clone());
        }
        if let Some(device) = &self.device {
            super::check_printable("--device", device).map_err(anyhow::Error::msg)?;
            // Emulated timings carry the mark in the device name itself, so that no table or chart shows
            // them as a device without it.
            let marked = scenario.target == Access::Emulated && !device.contains("emulated");
            scenario.device = Some(if marked {
                format!("{device} (emulated)")
            } else {
                device.clone()
            });
        }
        Ok(())
    }
}
