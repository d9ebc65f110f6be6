//! Where targets are defined: the scenario's own `[targets.NAME]` tables, a `targets.toml` (given with
//! `--targets`, else in the working folder, else `~/.config/harness/targets.toml`), and two built in: `local`
//! and `emulated-aarch64`.
//!
//! ```toml
//! [targets.pi]
//! kind = "ssh"
//! host = "raspberrypi.local"   # anything ssh accepts, including a Host alias from ~/.ssh/config
//! user = "pi"                  # optional, as are port, identity and ssh_options
//! work_dir = "harness"         # on the target, relative to the login's home; default "harness"
//! arch = "aarch64"             # picks dist/harness-aarch64-unknown-linux-gnu (scripts/bundle.sh)
//! ```

use super::TargetKind;
use anyhow::{bail, Context, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub kind: TargetKind,
    /// The name rows carry; default: the target's name.
    pub device: Option<String>,
    /// ssh: the host, and optionally the login, port, private key, extra `-o` options and a config file
    /// instead of the user's `~/.ssh/config`. Passwords are never stored: use keys or an agent.
    pub host: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<PathBuf>,
    #[serde(default)]
    pub ssh_options: Vec<String>,
    pub ssh_config: Option<PathBuf>,
    /// ssh: the folder on the target that holds bundles and jobs; relative to the login's home.
    pub work_dir: Option<String>,
    /// The target's CPU architecture (`aarch64`, `x86_64`); default: this machine's for ssh, aarch64 when
    /// emulated.
    pub arch: Option<String>,
    /// A bundle folder to deploy; default: this harness binary for a target of this machine's architecture,
    /// else `dist/harness-<arch>-unknown-linux-gnu` (made by scripts/bundle.sh).
    pub bundle: Option<PathBuf>,
    /// emulated: the qemu-user binary; default `qemu-<arch>`.
    pub qemu: Option<String>,
    /// emulated: the CPU qemu models (`QEMU_CPU`); default `cortex-a72` (a Raspberry Pi 4's core) for
    /// aarch64. With qemu's default model tract ran 12 times slower and OpenVINO hung (qemu-user 7.2).
    pub qemu_cpu: Option<String>,
}

impl TargetConfig {
    /// A field the target's kind needs and lacks: the field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.kind == TargetKind::Ssh && self.host.is_none() {
            return Err(("host", "an ssh target needs it".into()));
        }
        Ok(())
    }

    pub fn qemu_cpu(&self) -> Option<String> {
        self.qemu_cpu
            .clone()
            .or_else(|| (self.arch() == "aarch64").then(|| "cortex-a72".to_string()))
    }

    pub fn arch(&self) -> String {
        self.arch.clone().unwrap_or_else(|| match self.kind {
            TargetKind::Emulated => "aarch64".to_string(),
            _ => std::env::consts::ARCH.to_string(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    targets: IndexMap<String, TargetConfig>,
}

/// The targets every harness knows without a file.
fn built_in(name: &str) -> Option<TargetConfig> {
    match name {
        "local" => Some(TargetConfig::default()),
        "emulated-aarch64" => Some(TargetConfig {
            kind: TargetKind::Emulated,
            arch: Some("aarch64".into()),
            ..TargetConfig::default()
        }),
        _ => None,
    }
}

fn default_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("targets.toml")];
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(config) = config {
        files.push(config.join("harness").join("targets.toml"));
    }
    files
}

/// Reads a targets file; errors name the file, the line and the field.
pub fn read(path: &Path) -> Result<IndexMap<String, TargetConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the targets file {}", path.display()))?;
    let file: TargetsFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for (name, target) in &file.targets {
        if let Err((field, why)) = target.check() {
            bail!("{}: field `targets.{name}.{field}`: {why}", path.display());
        }
    }
    Ok(file.targets)
}

/// The target called `name`: from the scenario's own `[targets]`, else from `file` when given, else from the
/// first default targets file that defines it, else a built-in one.
pub fn find_target(
    name: &str,
    in_scenario: &IndexMap<String, TargetConfig>,
    file: Option<&Path>,
) -> Result<TargetConfig> {
    if let Some(target) = in_scenario.get(name) {
        return Ok(target.clone());
    }
    let files = match file {
        Some(file) => vec![file.to_path_buf()],
        None => default_files()
            .into_iter()
            .filter(|f| f.is_file())
            .collect(),
    };
    let mut known = vec!["local".to_string(), "emulated-aarch64".to_string()];
    known.extend(in_scenario.keys().cloned());
    for file in &files {
        let mut targets = read(file)?;
        if let Some(target) = targets.shift_remove(name) {
            return Ok(target);
        }
        known.extend(targets.into_keys());
    }
    if let Some(target) = built_in(name) {
        return Ok(target);
    }
    let searched: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    bail!(
        "no target `{name}` (known: {}; searched {})",
        known.join(", "),
        if searched.is_empty() {
            "no targets file: give one with --targets, or write targets.toml".to_string()
        } else {
            searched.join(", ")
        }
    )
}
