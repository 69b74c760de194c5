//! The lifecycle demo over libp2p: `aura-node demo` (transport `net` by
//! default) runs ten nodes on 127.0.0.1 in one process, and the timeline
//! shows every phase, an epoch bump, the recovery delay refusing an early
//! grant and then passing on the guardians' sped-up clock, and
//! `lifecycle complete`; and the same over `--transport memory`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn the_demo_over_libp2p_on_localhost_completes_the_lifecycle() {
    let out = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args([
            "demo",
            "--seed",
            "3",
            "--messages",
            "120",
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
    assert!(first.contains("transport net"), "{first}");
    for expected in [
        "11 libp2p nodes on 127.0.0.1 (TCP)",
        "DKG 2-of-6 → authority A",
        "G3 bound as guardian",
        "channel root B→A by threshold DH",
        "epoch bump 0→1",
        "G1 replaces its phone: A1 checks G1; G1 signs a handoff certificate naming G1b and delegates its part",
        "A1 A2 A3 lost",
        "N asks G1b G2 G3 to recover A",
        "asked now, 3/3 guardians would refuse to sign the grant",
        "2h passed (scaled clock: 1.0 s real): 3/3 guardians ready to sign",
        "N: recovery grant committed by consensus",
        "(same as before the loss)",
        "N: read 120/120 old messages",
        "replay of an old message refused",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("lifecycle complete: seed 3"), "{last}");
    assert!(last.contains("new device read 120/120 messages"), "{last}");
    assert!(last.contains("scaled clock, 1.0 s real"), "{last}");
    assert!(
        last.contains("guardian G1 handed off to G1b: yes"),
        "{last}"
    );
}

/// The same lifecycle with the node hosts wired together in memory.
#[test]
fn the_demo_in_memory_completes_the_lifecycle() {
    let out = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args([
            "demo",
            "--transport",
            "memory",
            "--seed",
            "4",
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
    assert!(text.lines().next().unwrap().contains("transport memory"));
    for expected in [
        "DKG 2-of-6 → authority A",
        "N: recovery grant committed by consensus",
        "N: read 60/60 old messages",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("lifecycle complete: seed 4"), "{last}");
}
