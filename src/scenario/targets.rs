//! A target's definition, as a scenario's `[targets.NAME]` table and a targets file (`remote::config`) both
//! write it: how to reach the machine and what to deploy there.

use crate::machine::Access;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    pub kind: Access,
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

impl RemoteConfig {
    /// A field the target's kind needs and lacks: the field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.kind == Access::Ssh && self.host.is_none() {
            return Err(("host", "an ssh target needs it".into()));
        }
        Ok(())
    }

    pub fn qemu_cpu(&self) -> Option<String> {
        self.qemu_cpu
            .clone()
            .or_else(|| (self.arch() == "aarch64").then(|| "cortex-a72".to_string()))
    }

    /// The name the rows of target `name` carry: its `device`, else the host name for this machine, else `name`.
    pub fn device_name(&self, name: &str) -> String {
        match (&self.device, self.kind) {
            (Some(device), _) => device.clone(),
            (None, Access::Local) => crate::export::environment::device_name(),
            (None, _) => name.to_string(),
        }
    }

    pub fn arch(&self) -> String {
        self.arch.clone().unwrap_or_else(|| match self.kind {
            Access::Emulated => "aarch64".to_string(),
            _ => std::env::consts::ARCH.to_string(),
        })
    }
}

/// A fleet (`[fleets.NAME]`): targets measured in one run, at once (`run --target @NAME`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    pub targets: Vec<String>,
}

impl FleetConfig {
    /// What is wrong with the fleet: the field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.targets.is_empty() {
            return Err(("targets", "a fleet names at least one target".into()));
        }
        if let Some((_, twice)) = first_repeat(&self.targets) {
            return Err((
                "targets",
                format!("`{}` is named twice", self.targets[twice]),
            ));
        }
        Ok(())
    }
}

/// The first two positions in `items` that hold equal values (a target or device named twice).
pub fn first_repeat<T: PartialEq>(items: &[T]) -> Option<(usize, usize)> {
    (0..items.len()).find_map(|a| {
        (a + 1..items.len())
            .find(|&b| items[b] == items[a])
            .map(|b| (a, b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_name_given_twice_is_found() {
        assert_eq!(first_repeat(&["pi", "pc", "rk"]), None);
        assert_eq!(first_repeat(&["pi", "pc", "pi"]), Some((0, 2)));
        assert_eq!(first_repeat::<&str>(&[]), None);
    }
}
