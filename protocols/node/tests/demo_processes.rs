//! The lifecycle demo with every node its own OS process: `aura-node demo
//! --processes` starts ten children (A1-A3, G1-G3, B1-B3, N), each one
//! libp2p node on 127.0.0.1 with its own identity, journal and share; the
//! parent only coordinates. The timeline and summary are the same as in
//! one process, and no child outlives the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn children_of(parent: u32) -> Vec<u32> {
    // Linux: every process whose parent is `parent`.
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid ...
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

#[test]
fn the_demo_with_one_process_per_node_completes_the_lifecycle() {
    let out = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args([
            "demo",
            "--processes",
            "--seed",
            "5",
            "--messages",
            "60",
            "--recovery-delay",
            "2h",
            "--real-delay",
            "1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().unwrap();
    assert!(first.contains("11 OS processes"), "{first}");
    // Ten distinct pids, none of them the parent's.
    let listing = text.lines().nth(1).unwrap();
    let pids: std::collections::BTreeSet<&str> = listing
        .split("(pid ")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap())
        .collect();
    assert_eq!(pids.len(), 11, "{listing}");
    for expected in [
        "DKG 2-of-6 → authority A",
        "G3 bound as guardian",
        "channel root B→A by threshold DH",
        "G1 replaces its phone: A1 checks G1; G1 signs a handoff certificate naming G1b and delegates its part",
        "A1 A2 A3 lost",
        "N asks G1b G2 G3 to recover A",
        "asked now, 3/3 guardians would refuse to sign the grant",
        "2h passed (scaled clock: 1.0 s real): 3/3 guardians ready to sign",
        "N: recovery grant committed by consensus",
        "the epoch-0 shares and nonces erased (each holds only its epoch-1 share and refuses to sign for epoch 0)",
        "(same as before the loss)",
        "N: read 60/60 old messages",
        "replay of an old message refused",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("lifecycle complete: seed 5"), "{last}");
    assert!(last.contains("new device read 60/60 messages"), "{last}");
    assert!(last.contains("guardians' old shares erased: yes"), "{last}");
    assert!(
        last.contains("guardian G1 handed off to G1b: yes"),
        "{last}"
    );
    // The parent exited; none of its children is left running.
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string));
        assert!(
            state.is_none() || state.as_deref() == Some("Z"),
            "child {pid} still runs: {stat}"
        );
    }
}

/// A node process that dies is the run's first failure: the parent
/// names it, exits 1 and leaves no child behind.
#[test]
fn a_node_process_that_dies_fails_the_run_and_takes_no_child_along() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut parent = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args([
            "demo",
            "--processes",
            "--seed",
            "6",
            "--messages",
            "60",
            "--recovery-delay",
            "2h",
            "--real-delay",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(parent.stdout.take().unwrap()).lines();
    let _header = lines.next().unwrap().unwrap();
    let listing = lines.next().unwrap().unwrap();
    let children = children_of(parent.id());
    assert_eq!(children.len(), 11, "{listing}");
    // G1 dies (as if its machine went away) while the run goes on.
    let g1 = listing
        .split("G1 :")
        .nth(1)
        .and_then(|rest| rest.split("(pid ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_string();
    let killed = Command::new("kill").args(["-9", &g1]).status().unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = parent.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let last = rest.last().unwrap();
    assert!(last.starts_with("lifecycle failed: "), "{last}");
    assert!(last.contains("G1 exited"), "{last}");
    for pid in children {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string));
        assert!(
            state.is_none() || state.as_deref() == Some("Z"),
            "child {pid} still runs: {stat}"
        );
    }
}
