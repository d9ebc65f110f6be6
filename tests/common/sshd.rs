//! A throwaway sshd on the loopback, standing in for a board: keys and configuration in a test's own folder.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// An sshd on a free port of 127.0.0.1, stopped when dropped.
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// Its keys and configuration; `user_key` logs in.
    pub dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client, installed by scripts/setup.sh)");
    assert!(status.success());
}

/// Starts an sshd on a free port of 127.0.0.1, its keys and configuration in `dir`.
pub fn start_sshd(dir: &Path) -> Sshd {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    start_sshd_on(dir, port)
}

/// Starts an sshd on `port` of 127.0.0.1, its keys and configuration in `dir` (made when missing).
pub fn start_sshd_on(dir: &Path, port: u16) -> Sshd {
    std::fs::create_dir_all(dir).unwrap();
    for key in ["host_key", "user_key"] {
        if !dir.join(key).is_file() {
            keygen(&dir.join(key));
        }
    }
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile {dir}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    // sshd insists on being started by its absolute path.
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .expect("/usr/sbin/sshd (openssh-server, installed by scripts/setup.sh --tests)");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sshd did not start: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Sshd {
        child,
        port,
        dir: dir.to_path_buf(),
    }
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A `[targets.loopback]` table: the sshd of `start_sshd`, its work folder `board/` in `dir`, device `board`.
pub fn loopback_target(dir: &Path, sshd: &Sshd) -> String {
    ssh_target("loopback", "board", sshd, &dir.join("board"))
}

/// A `[targets.NAME]` table reaching `sshd`, rows tagged `device`, its work folder `work_dir`.
pub fn ssh_target(name: &str, device: &str, sshd: &Sshd, work_dir: &Path) -> String {
    format!(
        "[targets.{name}]\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\n\
         identity = \"{keys}/user_key\"\nssh_config = \"/dev/null\"\n\
         ssh_options = [\"StrictHostKeyChecking=no\", \"UserKnownHostsFile=/dev/null\", \"LogLevel=ERROR\"]\n\
         work_dir = \"{work_dir}\"\ndevice = \"{device}\"\n",
        port = sshd.port,
        user = user(),
        keys = sshd.dir.display(),
        work_dir = work_dir.display(),
    )
}
