//! `net_ping_pong` as a user runs it: separate OS processes on 127.0.0.1
//! talking libp2p, the generated protocol run to completion, and a client
//! with a key the server does not allow refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

/// Every wait ends: a stuck process fails the test instead of hanging CI.
const PATIENCE: Duration = Duration::from_secs(30);

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("choreo-npp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn key(&self, name: &str) -> (PathBuf, String) {
        let path = self.0.join(name);
        let out = run(Command::new(common::example("net_ping_pong"))
            .arg("keygen")
            .arg("--out")
            .arg(&path));
        assert!(out.status.success(), "keygen failed: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let peer = stdout
            .trim()
            .strip_prefix("peer id: ")
            .unwrap_or_else(|| panic!("keygen printed {stdout:?}"))
            .to_string();
        (path, peer)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command to completion within PATIENCE.
fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(PATIENCE)
        .expect("the process did not finish in time")
        .unwrap()
}

/// A running server whose stdout lines arrive on a channel; killed on drop.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(key: &Path, listen: &[&str], allow: &[&str]) -> Self {
        let mut command = Command::new(common::example("net_ping_pong"));
        command.arg("serve").arg("--key").arg(key);
        for l in listen {
            command.args(["--listen", l]);
        }
        for a in allow {
            command.args(["--allow", a]);
        }
        let mut child = command
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
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first printed line (seen before or waited for) that `wanted` accepts.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| wanted(l)) {
            return l.clone();
        }
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("server never printed {what}; so far {:?}", self.seen));
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    fn line(&mut self, prefix: &str) -> String {
        self.wait_for(prefix, |l| l.starts_with(prefix))
    }

    fn address(&mut self, transport: &str) -> String {
        let line = self.wait_for(transport, |l| {
            l.starts_with("listening on ") && l.contains(transport)
        });
        line.trim_start_matches("listening on ").to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_processes_run_the_generated_ping_pong_over_tcp_and_quic() {
    let scratch = Scratch::new("ok");
    let (server_key, server_peer) = scratch.key("server.key");
    let (client_key, client_peer) = scratch.key("client.key");
    let mut server = Server::start(
        &server_key,
        &["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"],
        &[&client_peer],
    );
    assert_eq!(server.line("peer id: "), format!("peer id: {server_peer}"));

    for (transport, rounds) in [("/tcp/", "25"), ("/quic-v1/", "5")] {
        let address = server.address(transport);
        assert!(address.ends_with(&format!("/p2p/{server_peer}")));
        let out = run(Command::new(common::example("net_ping_pong"))
            .args(["client", "--key"])
            .arg(&client_key)
            .args(["--server", &address, "--rounds", rounds]));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "client over {transport} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "{rounds} rounds with {server_peer}: median round trip"
            )),
            "client printed {stdout:?}"
        );
        // The server ran the session to its end, all rounds.
        let served = server.wait_for("a finished session", |l| l.ends_with(" rounds"));
        assert!(
            served.ends_with(&format!("with {client_peer}: {rounds} rounds")),
            "server printed {served:?}"
        );
        server.seen.retain(|l| *l != served);
    }
}

#[test]
fn a_client_with_a_key_the_server_does_not_allow_is_refused_and_runs_nothing() {
    let scratch = Scratch::new("refused");
    let (server_key, server_peer) = scratch.key("server.key");
    let (allowed_key, allowed_peer) = scratch.key("allowed.key");
    let (stranger_key, stranger_peer) = scratch.key("stranger.key");
    let mut server = Server::start(&server_key, &["/ip4/127.0.0.1/tcp/0"], &[&allowed_peer]);
    let address = server.address("/tcp/");

    let out = run(Command::new(common::example("net_ping_pong"))
        .args(["client", "--key"])
        .arg(&stranger_key)
        .args(["--server", &address, "--rounds", "3"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused client must exit non-zero");
    assert!(
        stderr.contains(&format!("error: refused by server {server_peer}")),
        "stderr: {stderr}"
    );
    assert_eq!(
        server.line("refused "),
        format!("refused {stranger_peer}: not allowed")
    );
    // Nothing of the stranger's session ran. Then an allowed client runs a
    // session: anything the stranger's frames had caused would have been
    // printed before that session's lines.
    let out = run(Command::new(common::example("net_ping_pong"))
        .args(["client", "--key"])
        .arg(&allowed_key)
        .args(["--server", &address, "--rounds", "1"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served = server.wait_for("a finished session", |l| l.ends_with(" rounds"));
    assert!(
        served.contains(&format!("with {allowed_peer}: 1 rounds")),
        "{served}"
    );
    assert!(
        server
            .seen
            .iter()
            .filter(|l| l.contains(&stranger_peer))
            .all(|l| l.starts_with("refused ")),
        "the server printed something of the stranger besides its refusal: {:?}",
        server.seen
    );
}
