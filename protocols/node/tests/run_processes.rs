//! DKG over 5 OS processes on 127.0.0.1: each `aura-node run --config`
//! is its own libp2p node; all end with the same group key, then sign a
//! statement through consensus.
//!
//! A variant with a late fifth node (`consensus_delay_ms`) was tried and
//! dropped: whether the laggard catches the others' last attempt, gets
//! answered by a committed node (`serve_ms`), or finds everyone gone
//! depends on timing on a loaded machine, so it flaked. Answering
//! laggards is tested deterministically in the simulator (`sim_consensus`,
//! `sim_reshare`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::process::{Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_aura-node")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn five_processes_run_a_dkg_over_libp2p_agree_on_the_group_key_and_sign_together() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5;
    let mut peers = String::new();
    let mut ports = Vec::new();
    for i in 1..=n {
        let key = dir.path().join(format!("node{i}.key"));
        let out = Command::new(bin())
            .args(["keygen", "--out"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let peer_id = text.trim().strip_prefix("peer id: ").unwrap().to_string();
        let port = free_port();
        ports.push(port);
        writeln!(
            peers,
            "[[peers]]\nparticipant = {i}\npeer_id = \"{peer_id}\"\naddress = \"/ip4/127.0.0.1/tcp/{port}\"\n"
        )
        .unwrap();
    }
    let children: Vec<_> = (1..=n)
        .map(|i| {
            let config = dir.path().join(format!("node{i}.toml"));
            std::fs::write(
                &config,
                format!(
                    "key = \"node{i}.key\"\nlisten = \"/ip4/127.0.0.1/tcp/{}\"\nrun = \"test run\"\nprotocol = \"dkg\"\nthreshold = 3\ntimeout_secs = 60\nserve_ms = 500\n\n{peers}",
                    ports[i - 1]
                ),
            )
            .unwrap();
            Command::new(bin())
                .args(["run", "--config"])
                .arg(&config)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut keys = Vec::new();
    let mut commits = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a node failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = stdout
            .lines()
            .find_map(|l| l.strip_prefix("group key: "))
            .unwrap_or_else(|| panic!("no group key in {stdout}"))
            .to_string();
        keys.push(key);
        let commit = stdout
            .lines()
            .find_map(|l| l.strip_prefix("commit: "))
            .unwrap_or_else(|| panic!("no commit in {stdout}"))
            .split(" (")
            .next()
            .unwrap()
            .to_string();
        commits.push(commit);
    }
    assert_eq!(keys.len(), n);
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "group keys differ: {keys:?}"
    );
    // They signed together: every node verified the same threshold
    // signature under the group key.
    assert!(
        commits
            .iter()
            .all(|c| *c == commits[0] && c.ends_with("verified")),
        "{commits:?}"
    );
}
