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

/// The ssh options a scenario's own target may set (`ssh_options`, and the lines of its `ssh_config`): none
/// of them makes ssh run a command, load a library, forward anything or write a file on this machine. Others
/// (`ProxyCommand`, `LocalCommand`, `KnownHostsCommand`, `Match exec`, `PKCS11Provider`, `ControlPath`, …) are
/// for the user's own targets file.
const SCENARIO_SSH_OPTIONS: &[&str] = &[
    "AddressFamily",
    "BatchMode",
    "CheckHostIP",
    "Ciphers",
    "Compression",
    "ConnectTimeout",
    "ConnectionAttempts",
    "GlobalKnownHostsFile",
    "HashKnownHosts",
    "Host",
    "HostKeyAlgorithms",
    "HostKeyAlias",
    "HostName",
    "IdentitiesOnly",
    "IdentityFile",
    "IPQoS",
    "KbdInteractiveAuthentication",
    "KexAlgorithms",
    "LogLevel",
    "MACs",
    "NumberOfPasswordPrompts",
    "PasswordAuthentication",
    "Port",
    "PreferredAuthentications",
    "PubkeyAcceptedAlgorithms",
    "PubkeyAuthentication",
    "RekeyLimit",
    "ServerAliveCountMax",
    "ServerAliveInterval",
    "StrictHostKeyChecking",
    "TCPKeepAlive",
    "UpdateHostKeys",
    "User",
    // Only as /dev/null (checked below): ssh writes host keys to it.
    "UserKnownHostsFile",
    "VerifyHostKeyDNS",
];

/// Options that make ssh run a command on this machine: named as such when a scenario sets them.
const LOCAL_COMMAND_OPTIONS: &[&str] = &[
    "ProxyCommand",
    "LocalCommand",
    "PermitLocalCommand",
    "KnownHostsCommand",
    "Match",
];

/// An ssh option (`Key=value` or `Key value`) as its keyword and value.
fn ssh_keyword(option: &str) -> (&str, &str) {
    let option = option.trim();
    let end = option
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(option.len());
    let value = option[end..].trim_start_matches(|c: char| c == '=' || c.is_whitespace());
    (&option[..end], value.trim())
}

/// Why a scenario may not give ssh `option`, if it may not.
fn refused_in_a_scenario(option: &str) -> Option<String> {
    let (keyword, value) = ssh_keyword(option);
    let is = |name: &&str| name.eq_ignore_ascii_case(keyword);
    let find = |names: &[&'static str]| names.iter().copied().find(is);
    let own_file =
        "define the target in your own targets file (--targets FILE, or targets.toml) to use it";
    if let Some(name) = find(LOCAL_COMMAND_OPTIONS) {
        return Some(format!(
            "`{option}` is refused in a scenario: {name} makes ssh run a command on this machine, and a scenario \
             may come from anyone; {own_file}"
        ));
    }
    match find(SCENARIO_SSH_OPTIONS) {
        None => Some(format!(
            "`{option}` is not one of the ssh options a scenario may set ({}); {own_file}",
            SCENARIO_SSH_OPTIONS.join(", ")
        )),
        Some("UserKnownHostsFile") if value != "/dev/null" => Some(format!(
            "`{option}`: a scenario may set UserKnownHostsFile only to /dev/null (ssh writes host keys to that \
             file); {own_file}"
        )),
        Some(_) => None,
    }
}

/// A name that must not reach a terminal or a table with control characters in it (escape sequences, NUL).
pub fn check_printable(what: &str, name: &str) -> Result<(), String> {
    match name.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "{what} `{}` holds the control character {c:?}: names reach the terminal and the tables as they are",
            name.escape_debug()
        )),
        None => Ok(()),
    }
}

impl RemoteConfig {
    /// What is wrong with the target: a field its kind needs and lacks, or one ssh would misread.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.kind == Access::Ssh && self.host.is_none() {
            return Err(("host", "an ssh target needs it".into()));
        }
        // Values that end up as arguments of a command (ssh's destination; mkdir and cd on the board), with
        // what would misread one beginning with `-` as an option.
        let arguments = [
            ("host", &self.host, "ssh"),
            ("user", &self.user, "ssh"),
            ("work_dir", &self.work_dir, "mkdir and cd"),
        ];
        for (field, value, reader) in arguments {
            let Some(value) = value else { continue };
            if value.starts_with('-') || value.is_empty() {
                return Err((
                    field,
                    format!("`{value}` would be read by {reader} as an option, not as a {field}"),
                ));
            }
            check_printable(field, value).map_err(|why| (field, why))?;
        }
        if let Some(device) = &self.device {
            check_printable("device", device).map_err(|why| ("device", why))?;
        }
        // It names the bundle's folder (dist/harness-ARCH-unknown-linux-gnu): a word, never a path.
        if let Some(arch) = self
            .arch
            .as_ref()
            .filter(|a| a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err((
                "arch",
                format!(
                    "`{}` is not an architecture name such as aarch64 or x86_64",
                    arch.escape_debug()
                ),
            ));
        }
        Ok(())
    }

    /// What a target defined in a scenario may not do, which the user's own targets file may: give ssh
    /// options that run commands or write files here, deploy a bundle of the scenario's choosing, or run a
    /// program of its choosing as qemu.
    pub fn check_from_scenario(&self) -> Result<(), (&'static str, String)> {
        self.check()?;
        for option in &self.ssh_options {
            if let Some(why) = refused_in_a_scenario(option) {
                return Err(("ssh_options", why));
            }
        }
        if let Some(file) = &self.ssh_config {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ("ssh_config", format!("cannot read {}: {e}", file.display())))?;
            let lines = text.lines().map(str::trim);
            if let Some(why) = lines
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .find_map(refused_in_a_scenario)
            {
                return Err(("ssh_config", format!("{}: {why}", file.display())));
            }
        }
        let own_file = "only your own targets file (--targets FILE, or targets.toml) may choose it";
        if self.bundle.is_some() {
            return Err((
                "bundle",
                format!(
                    "a scenario may not choose the programs deployed and run for it; {own_file}"
                ),
            ));
        }
        if self.qemu.is_some() {
            return Err((
                "qemu",
                format!(
                    "a scenario may not choose the program run as qemu on this machine; {own_file}"
                ),
            ));
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

    fn ssh_target(options: &[&str]) -> RemoteConfig {
        RemoteConfig {
            kind: Access::Ssh,
            host: Some("pi.local".into()),
            ssh_options: options.iter().map(|o| o.to_string()).collect(),
            ..RemoteConfig::default()
        }
    }

    #[test]
    fn a_scenario_may_not_give_ssh_options_that_run_or_write_anything_here() {
        let allowed = ssh_target(&[
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "LogLevel ERROR",
        ]);
        assert_eq!(allowed.check_from_scenario(), Ok(()));
        for option in [
            "ProxyCommand=touch /tmp/owned",
            "proxycommand sh -c x",
            "LocalCommand=x",
            "PermitLocalCommand=yes",
            "KnownHostsCommand=x",
            "Match exec x",
        ] {
            let (field, why) = ssh_target(&[option]).check_from_scenario().unwrap_err();
            assert_eq!(field, "ssh_options");
            assert!(
                why.contains("makes ssh run a command on this machine"),
                "{why}"
            );
            // The user's own targets file may.
            assert_eq!(ssh_target(&[option]).check(), Ok(()));
        }
        for option in [
            "PKCS11Provider=/tmp/evil.so",
            "ControlPath=/home/me/.bashrc",
            "UserKnownHostsFile=~/.bashrc",
        ] {
            let (_, why) = ssh_target(&[option]).check_from_scenario().unwrap_err();
            assert!(why.contains("your own targets file"), "{why}");
        }

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ssh_config");
        std::fs::write(
            &config,
            "# the lab\nHost pi\n  HostName 10.0.0.2\n  ProxyCommand nc %h %p\n",
        )
        .unwrap();
        let from_file = RemoteConfig {
            ssh_config: Some(config.clone()),
            ..ssh_target(&[])
        };
        let (field, why) = from_file.check_from_scenario().unwrap_err();
        assert_eq!(field, "ssh_config");
        assert!(
            why.starts_with(&format!("{}: `ProxyCommand nc %h %p`", config.display())),
            "{why}"
        );
        let dev_null = RemoteConfig {
            ssh_config: Some("/dev/null".into()),
            ..ssh_target(&[])
        };
        assert_eq!(dev_null.check_from_scenario(), Ok(()));
        for (chosen, field) in [
            (
                RemoteConfig {
                    bundle: Some("/tmp/x".into()),
                    ..ssh_target(&[])
                },
                "bundle",
            ),
            (
                RemoteConfig {
                    qemu: Some("./evil.sh".into()),
                    ..ssh_target(&[])
                },
                "qemu",
            ),
        ] {
            assert_eq!(chosen.check_from_scenario().unwrap_err().0, field);
            assert_eq!(chosen.check(), Ok(()));
        }
    }

    #[test]
    fn a_host_or_user_ssh_would_read_as_an_option_is_refused() {
        let host = RemoteConfig {
            host: Some("-oProxyCommand=touch /tmp/owned".into()),
            ..ssh_target(&[])
        };
        let (field, why) = host.check().unwrap_err();
        assert_eq!(field, "host");
        assert!(why.contains("would be read by ssh as an option"), "{why}");
        let user = RemoteConfig {
            user: Some("-F/tmp/x".into()),
            ..ssh_target(&[])
        };
        assert_eq!(user.check().unwrap_err().0, "user");
        for (field, config) in [
            (
                "work_dir",
                RemoteConfig {
                    work_dir: Some("--help".into()),
                    ..ssh_target(&[])
                },
            ),
            (
                "arch",
                RemoteConfig {
                    arch: Some("aarch64-unknown-linux-gnu/../../../home/me".into()),
                    ..ssh_target(&[])
                },
            ),
        ] {
            assert_eq!(config.check().unwrap_err().0, field);
        }
        let device = RemoteConfig {
            device: Some("pi\u{1b}]0;owned\u{7}".into()),
            ..ssh_target(&[])
        };
        let (field, why) = device.check().unwrap_err();
        assert_eq!(field, "device");
        assert!(why.contains("control character"), "{why}");
    }

    #[test]
    fn the_first_name_given_twice_is_found() {
        assert_eq!(first_repeat(&["pi", "pc", "rk"]), None);
        assert_eq!(first_repeat(&["pi", "pc", "pi"]), Some((0, 2)));
        assert_eq!(first_repeat::<&str>(&[]), None);
    }
}
