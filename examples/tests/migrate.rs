//! `migrate` as a user runs it: three OS processes on 127.0.0.1 talking
//! libp2p — a service, the user's old phone and its new phone — and the
//! live session moving from the old phone to the new one mid-protocol.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

/// Every wait ends: a stuck process fails the test instead of hanging CI.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running process whose stdout lines arrive on a channel; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(common::example("migrate"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn line(&mut self, prefix: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return l.clone();
        }
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("never printed {prefix:?}; so far {:?}", self.seen));
            self.seen.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Wait for the process to exit; its status and every line it printed.
    fn wait(mut self) -> (bool, Vec<String>) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return (status.success(), std::mem::take(&mut self.seen));
            }
            assert!(std::time::Instant::now() < deadline, "{:?}", self.seen);
            while let Ok(l) = self.lines.try_recv() {
                self.seen.push(l);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let out = Command::new(common::example("migrate"))
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let peer = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("peer id: ")
        .to_string();
    (path.to_string_lossy().into_owned(), peer)
}

#[test]
fn a_live_session_moves_from_one_process_to_another_and_the_service_never_notices() {
    let dir = std::env::temp_dir().join(format!("choreo-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (service_key, service_peer) = keygen(&dir, "service.key");
    let (old_key, old_peer) = keygen(&dir, "old.key");
    let (new_key, _) = keygen(&dir, "new.key");

    let tcp = "/ip4/127.0.0.1/tcp/0";
    // The new phone listens and waits; the service knows where it is (it
    // reaches the new phone first, once the old phone reroutes it).
    let mut np = Proc::start(&[
        "new-phone",
        "--key",
        &new_key,
        "--listen",
        tcp,
        "--from",
        &old_peer,
        "--notes",
        "2",
    ]);
    let new_address = np
        .line("listening on ")
        .trim_start_matches("listening on ")
        .to_string();
    let mut svc = Proc::start(&[
        "service",
        "--key",
        &service_key,
        "--listen",
        tcp,
        "--allow",
        &old_peer,
        "--peer",
        &new_address,
    ]);
    let service_address = svc
        .line("listening on ")
        .trim_start_matches("listening on ")
        .to_string();
    assert!(service_address.ends_with(&format!("/p2p/{service_peer}")));
    let old = Proc::start(&[
        "old-phone",
        "--key",
        &old_key,
        "--notes",
        "3",
        "--service",
        &service_address,
        "--new-phone",
        &new_address,
    ]);
    let (old_ok, old_lines) = old.wait();
    assert!(old_ok, "old phone failed: {old_lines:?}");
    assert!(
        old_lines.contains(&"old phone: note 3 saved as number 3".to_string()),
        "{old_lines:?}"
    );
    assert!(old_lines.contains(&"old phone: session handed to the new phone".to_string()));
    let (new_ok, new_lines) = np.wait();
    assert!(new_ok, "new phone failed: {new_lines:?}");
    assert!(
        new_lines.contains(&"new phone: session resumed".to_string()),
        "{new_lines:?}"
    );
    assert!(
        new_lines.contains(&"new phone: the service saved 5 notes in all".to_string()),
        "{new_lines:?}"
    );
    let done = svc.line("service: session with ");
    assert!(done.ends_with("done: 5 notes saved"), "{done}");
    let _ = std::fs::remove_dir_all(&dir);
}
