//! Results brought home from a target, which is trusted with nothing: a board (or the harness running under
//! qemu) may send links to files of this machine, named pipes, device files, setuid files or paths that climb
//! out of the folder. Only regular files and folders are taken, under names that stay inside the folder, written
//! afresh with this harness's own modes (files 0644, folders 0755, no owner carried over); everything else is
//! refused by name and the rest is kept.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// What was left out of results brought home, each with why.
#[derive(Debug, Default)]
pub struct Refused(pub Vec<String>);

impl Refused {
    pub(super) fn add(&mut self, name: &Path, why: &str) {
        self.0.push(format!("{} ({why})", name.display()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One line for the user, or `None` when nothing was refused.
    pub fn describe(&self) -> Option<String> {
        (!self.is_empty()).then(|| {
            format!(
                "refused from the target's results (only regular files and folders inside the results folder are \
                 taken): {}",
                self.0.join(", ")
            )
        })
    }
}

/// Unpacks a tar stream into `into` (created), taking only regular files and folders. The stream's own
/// failure (cut short, not a tar) is an error; what was unpacked before it stays.
pub fn unpack(stream: impl Read, into: &Path, refused: &mut Refused) -> Result<()> {
    make_folder(into)?;
    let mut archive = tar::Archive::new(stream);
    for entry in archive
        .entries()
        .context("cannot read the results sent back")?
    {
        let mut entry = entry.context("cannot read the results sent back")?;
        let name = PathBuf::from(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        let kind = entry.header().entry_type();
        let Some(relative) = inside(&name) else {
            refused.add(&name, "a path outside the results folder");
            continue;
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let destination = into.join(&relative);
        match kind {
            tar::EntryType::Directory => make_folders(into, &relative)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = relative.parent() {
                    make_folders(into, parent)?;
                }
                match new_file(&destination)? {
                    Some(mut file) => {
                        std::io::copy(&mut entry, &mut file)
                            .with_context(|| format!("cannot write {}", destination.display()))?;
                    }
                    None => refused.add(&name, "given twice"),
                }
            }
            // Extensions of the next member's header, read by the tar reader itself.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| format!(" to {}", String::from_utf8_lossy(&t)));
                refused.add(
                    &name,
                    &format!("{}{}", kind_name(other), target.unwrap_or_default()),
                );
            }
        }
    }
    Ok(())
}

/// Copies the folder `from`, written by a target on this machine (an emulated board) inside `root`, into
/// `into`: regular files and folders only, links never followed, `from` itself a folder inside `root` (not a
/// link to one elsewhere).
pub fn take_tree(root: &Path, from: &Path, into: &Path, refused: &mut Refused) -> Result<()> {
    let inside_root = match (root.canonicalize(), from.canonicalize()) {
        (Ok(root), Ok(real)) => real.starts_with(root),
        _ => false,
    };
    if !inside_root || !is_real_folder(from) {
        anyhow::bail!(
            "{} is not a folder inside {}: nothing was copied from it",
            from.display(),
            root.display()
        );
    }
    take(from, into, Path::new(""), refused)
}

fn take(from: &Path, into: &Path, relative: &Path, refused: &mut Refused) -> Result<()> {
    make_folder(&into.join(relative))?;
    let here = from.join(relative);
    for entry in
        std::fs::read_dir(&here).with_context(|| format!("cannot read {}", here.display()))?
    {
        let entry = entry?;
        let name = relative.join(entry.file_name());
        // The entry's own type: a link is a link, never what it points to.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            take(from, into, &name, refused)?;
        } else if kind.is_file() {
            // O_NOFOLLOW and O_NONBLOCK: should the entry change under us, a link is not followed and a pipe
            // does not block.
            let mut source = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(from.join(&name))
                .with_context(|| format!("cannot read {}", from.join(&name).display()))?;
            if !source.metadata()?.is_file() {
                refused.add(&name, "not a regular file");
                continue;
            }
            let destination = into.join(&name);
            let mut file = new_file(&destination)?
                .with_context(|| format!("{} exists already", destination.display()))?;
            std::io::copy(&mut source, &mut file)
                .with_context(|| format!("cannot write {}", destination.display()))?;
        } else {
            let why = if kind.is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap_or_default();
                format!("a symbolic link to {}", target.display())
            } else if kind.is_fifo() {
                "a named pipe".into()
            } else if kind.is_socket() {
                "a socket".into()
            } else {
                "a device file".into()
            };
            refused.add(&name, &why);
        }
    }
    Ok(())
}

/// `name` as a path inside the folder (`.` parts dropped), or `None` when it is absolute or climbs out.
fn inside(name: &Path) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(relative)
}

fn make_folder(path: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o755).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_real_folder(path) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// `relative`'s folders under `root`, made one by one, each checked to be a folder (not a link to one).
fn make_folders(root: &Path, relative: &Path) -> Result<()> {
    let mut path = root.to_path_buf();
    for part in relative.components() {
        path.push(part);
        make_folder(&path)?;
    }
    Ok(())
}

fn is_real_folder(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// A new file at `path` with mode 0644, or `None` when something is there already.
fn new_file(path: &Path) -> Result<Option<File>> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Fifo => "a named pipe",
        tar::EntryType::Char | tar::EntryType::Block => "a device file",
        _ => "neither a regular file nor a folder",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn an_emulated_targets_links_pipes_and_modes_stay_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (from, into) = (dir.path().join("from"), dir.path().join("into"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("summary.csv"), "a,b\n").unwrap();
        std::fs::write(from.join("sub/samples.csv"), "c\n").unwrap();
        std::fs::write(dir.path().join("secret"), "private key").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), from.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), from.join("linked")).unwrap();
        std::fs::write(from.join("setuid"), "x").unwrap();
        std::fs::set_permissions(from.join("setuid"), std::fs::Permissions::from_mode(0o4777))
            .unwrap();
        let fifo = std::ffi::CString::new(from.join("fifo").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);

        let mut refused = Refused::default();
        take_tree(dir.path(), &from, &into, &mut refused).unwrap();
        assert_eq!(
            std::fs::read_to_string(into.join("summary.csv")).unwrap(),
            "a,b\n"
        );
        assert_eq!(
            std::fs::read_to_string(into.join("sub/samples.csv")).unwrap(),
            "c\n"
        );
        assert_eq!(mode(&into.join("setuid")), 0o644);
        assert_eq!(mode(&into.join("sub")), 0o755);
        for left in ["leak.txt", "linked", "fifo"] {
            assert!(
                std::fs::symlink_metadata(into.join(left)).is_err(),
                "{left}"
            );
        }
        // A results folder that is itself a link to a folder elsewhere is not copied at all.
        std::os::unix::fs::symlink(dir.path(), from.join("sub/elsewhere")).unwrap();
        let error = take_tree(
            &from,
            &from.join("sub/elsewhere"),
            &dir.path().join("x"),
            &mut Refused::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("is not a folder inside"), "{error}");
        assert!(!dir.path().join("x").exists());
        let mut said = refused.0.clone();
        said.sort();
        assert_eq!(
            said,
            [
                "fifo (a named pipe)".to_string(),
                format!(
                    "leak.txt (a symbolic link to {})",
                    dir.path().join("secret").display()
                ),
                format!("linked (a symbolic link to {})", dir.path().display()),
            ]
        );
    }
}
