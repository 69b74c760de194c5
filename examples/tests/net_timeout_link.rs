//! `net_timeout_link demo` as a user runs it: a server process and two
//! client processes on 127.0.0.1 over libp2p. The stalled server's body is
//! interrupted by the client's handler (its join handshake) after the
//! client's deadline passed, and both run `Rescue`; a client built with
//! another `Rescue` is refused on both sides, naming both fingerprints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

/// Every wait ends: a stuck process fails the test instead of hanging CI.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn a_stalled_server_is_interrupted_by_the_clients_handler_and_a_mismatched_link_is_refused() {
    let child = Command::new(common::example("net_timeout_link"))
        .args(["demo", "--stall-ms", "1500"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(PATIENCE)
        .expect("the demo did not finish in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fingerprints: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split("rescue fingerprint: ").nth(1))
        .collect();
    // The server's (v1), the v1 client's, the v2 client's.
    assert_eq!(fingerprints.len(), 3, "{stdout}");
    let (v1, v2) = (fingerprints[0], fingerprints[2]);
    assert_eq!(fingerprints[1], v1);
    assert_ne!(v1, v2);
    let line = |prefix: &str, needle: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix) && l.contains(needle))
            .unwrap_or_else(|| panic!("no {prefix} line with {needle:?} in:\n{stdout}"))
    };
    // Timeout across processes: the client's deadline, the server's body
    // interrupted by the client's handler message (the join handshake).
    line("[client v1]", "body ended: its deadline passed");
    line("[client v1]", "cached answer 42 from Rescue");
    line(
        "[server]",
        "body interrupted (Client started the handler); joined Rescue",
    );
    // Link mismatch: refused on both sides, naming the protocol and both
    // fingerprints.
    for side in [
        line("[client v2]", "error: protocol violation by Server"),
        line("[server]", "failed: protocol violation by Client"),
    ] {
        assert!(
            side.contains(v1) && side.contains(v2) && side.contains("Rescue"),
            "{side}"
        );
    }
}
