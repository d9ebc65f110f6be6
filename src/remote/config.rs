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
//!
//! [fleets.shop]                # `--target @shop`: every board the product ships on, measured at once
//! targets = ["pi", "local"]
//! ```

use crate::machine::Access;
use crate::scenario::{FleetConfig, RemoteConfig};
use anyhow::{bail, Context, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    targets: IndexMap<String, RemoteConfig>,
    #[serde(default)]
    fleets: IndexMap<String, FleetConfig>,
}

/// The targets every harness knows without a file.
fn built_in(name: &str) -> Option<RemoteConfig> {
    match name {
        "local" => Some(RemoteConfig::default()),
        "emulated-aarch64" => Some(RemoteConfig {
            kind: Access::Emulated,
            arch: Some("aarch64".into()),
            ..RemoteConfig::default()
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
fn read(path: &Path) -> Result<TargetsFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the targets file {}", path.display()))?;
    let file: TargetsFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for (name, target) in &file.targets {
        if let Err(why) = crate::scenario::check_printable("the target name", name) {
            bail!("{}: field `targets`: {why}", path.display());
        }
        if let Err((field, why)) = target.check() {
            bail!("{}: field `targets.{name}.{field}`: {why}", path.display());
        }
    }
    for (name, fleet) in &file.fleets {
        if let Err((field, why)) = fleet.check() {
            bail!("{}: field `fleets.{name}.{field}`: {why}", path.display());
        }
    }
    Ok(file)
}

/// The files searched for a name: `file` when given, else the default files that exist.
fn files_to_search(file: Option<&Path>) -> Vec<PathBuf> {
    match file {
        Some(file) => vec![file.to_path_buf()],
        None => default_files()
            .into_iter()
            .filter(|f| f.is_file())
            .collect(),
    }
}

/// What `searched` says in an error: the files, or how to give one.
fn searched(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "no targets file: give one with --targets, or write targets.toml".to_string();
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

/// The target called `name`: from `file` when given, else from the first default targets file that defines it,
/// else from the scenario's own `[targets]`, else a built-in one. The user's own files come first: a scenario
/// may come from anyone (its targets are checked for what they may not do, `RemoteConfig::check_from_scenario`).
pub fn find_remote(
    name: &str,
    in_scenario: &IndexMap<String, RemoteConfig>,
    file: Option<&Path>,
) -> Result<RemoteConfig> {
    crate::scenario::check_printable("the target name", name).map_err(anyhow::Error::msg)?;
    let files = files_to_search(file);
    let mut known = vec!["local".to_string(), "emulated-aarch64".to_string()];
    for file in &files {
        let mut targets = read(file)?.targets;
        if let Some(target) = targets.shift_remove(name) {
            return Ok(target);
        }
        known.extend(targets.into_keys());
    }
    if let Some(target) = in_scenario.get(name) {
        return Ok(target.clone());
    }
    for name in in_scenario.keys() {
        if !known.contains(name) {
            known.push(name.clone());
        }
    }
    if let Some(target) = built_in(name) {
        return Ok(target);
    }
    bail!(
        "no target `{name}` (known: {}; searched {})",
        known.join(", "),
        searched(&files)
    )
}

/// The fleet called `name` (`--target @name`): its targets' names, from the scenario's own `[fleets]`, else
/// from the targets files searched as for a target.
pub fn find_fleet(
    name: &str,
    in_scenario: &IndexMap<String, FleetConfig>,
    file: Option<&Path>,
) -> Result<Vec<String>> {
    if let Some(fleet) = in_scenario.get(name) {
        return Ok(fleet.targets.clone());
    }
    let files = files_to_search(file);
    let mut known: Vec<String> = in_scenario.keys().cloned().collect();
    for file in &files {
        let mut fleets = read(file)?.fleets;
        if let Some(fleet) = fleets.shift_remove(name) {
            return Ok(fleet.targets);
        }
        known.extend(fleets.into_keys().filter(|k| !in_scenario.contains_key(k)));
    }
    bail!(
        "no fleet `{name}` (known: {}; searched {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        },
        searched(&files)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_own_targets_file_wins_over_a_scenarios_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.toml");
        std::fs::write(&file, "[targets.pi]\nkind = \"ssh\"\nhost = \"pi.home\"\n").unwrap();
        let in_scenario = IndexMap::from([
            (
                "pi".to_string(),
                RemoteConfig {
                    kind: Access::Ssh,
                    host: Some("somewhere.else".into()),
                    ..RemoteConfig::default()
                },
            ),
            (
                "lab".to_string(),
                RemoteConfig {
                    kind: Access::Ssh,
                    host: Some("lab.local".into()),
                    ..RemoteConfig::default()
                },
            ),
        ]);
        let host = |name| find_remote(name, &in_scenario, Some(&file)).unwrap().host;
        assert_eq!(host("pi").as_deref(), Some("pi.home"));
        assert_eq!(host("lab").as_deref(), Some("lab.local"));
        let missing = find_remote("nowhere", &in_scenario, Some(&file))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("known: local, emulated-aarch64, pi, lab"),
            "{missing}"
        );

        std::fs::write(
            &file,
            "[targets.pi]\nkind = \"ssh\"\nhost = \"-oProxyCommand=x\"\n",
        )
        .unwrap();
        let refused = find_remote("pi", &in_scenario, Some(&file))
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains(
                "field `targets.pi.host`: `-oProxyCommand=x` would be read by ssh as an option"
            ),
            "{refused}"
        );
    }

    #[test]
    fn a_fleet_is_found_in_the_scenario_first_then_in_the_targets_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.toml");
        std::fs::write(
            &file,
            "[targets.pi]\nkind = \"ssh\"\nhost = \"pi.local\"\n[fleets.shop]\ntargets = [\"pi\", \"local\"]\n",
        )
        .unwrap();
        let none = IndexMap::new();
        assert_eq!(
            find_fleet("shop", &none, Some(&file)).unwrap(),
            ["pi", "local"]
        );
        let in_scenario = IndexMap::from([(
            "shop".to_string(),
            FleetConfig {
                targets: vec!["local".into()],
            },
        )]);
        assert_eq!(
            find_fleet("shop", &in_scenario, Some(&file)).unwrap(),
            ["local"]
        );
        let missing = find_fleet("lab", &in_scenario, Some(&file))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("no fleet `lab` (known: shop; searched"),
            "{missing}"
        );

        std::fs::write(&file, "[fleets.shop]\ntargets = []\n").unwrap();
        let refused = find_fleet("shop", &none, Some(&file))
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("field `fleets.shop.targets`: a fleet names at least one target"),
            "{refused}"
        );
    }
}
