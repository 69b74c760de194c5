//! The whole lifecycle demo in the simulator: for many seeds, with frames
//! dropped, duplicated and reordered, every run ends with the new device
//! reading every message (after G1 handed its guardian part to its new
//! phone through `delegate`, which then approved the recovery, and the
//! guardians dropped their epoch-0 shares); a seed replays exactly; the binary prints the
//! timeline and `lifecycle complete`, and `trace` prints a mermaid diagram.
//!
//! CI runs 200 seeds with a small window (bumps every few messages);
//! `DEMO_SIM_SEEDS=N` runs more, `DEMO_SIM_SEED=S` replays one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use aura_node::demo::run::{run, DemoConfig, REAL_DELAY};
use aura_node::demo::DemoTransport;

fn small(seed: u64) -> DemoConfig {
    DemoConfig {
        seed,
        recovery_delay_secs: 3_600 * (1 + seed % 48),
        messages: 12,
        faults: true,
        keep_trace: false,
        window: 8,
        transport: DemoTransport::Sim,
        real_delay: REAL_DELAY,
        processes: false,
    }
}

#[test]
fn every_seed_with_network_faults_completes_the_lifecycle() {
    let seeds: Vec<u64> = match std::env::var("DEMO_SIM_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => (0..std::env::var("DEMO_SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(200))
            .collect(),
    };
    let mut bumps = 0;
    for seed in seeds {
        match run(&small(seed), &mut |_| {}) {
            Ok(summary) => {
                assert_eq!(summary.read, 12, "seed {seed}");
                assert!(summary.root_recovered && summary.replay_refused, "seed {seed}");
                assert!(
                    summary.guardian_handed_off && summary.old_shares_erased,
                    "seed {seed}"
                );
                bumps += summary.bumps;
            }
            Err(f) => panic!(
                "seed {seed}: {f}\nreplay: DEMO_SIM_SEED={seed} cargo test -p aura-node --test demo_sim"
            ),
        }
    }
    assert!(bumps > 0, "no run bumped an epoch");
}

#[test]
fn a_seed_replays_exactly() {
    let a = run(&small(5), &mut |_| {}).unwrap();
    let b = run(&small(5), &mut |_| {}).unwrap();
    assert_eq!(a, b);
}

#[test]
fn the_binary_prints_the_timeline_and_lifecycle_complete() {
    let out = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args([
            "demo",
            "--transport",
            "sim",
            "--seed",
            "3",
            "--messages",
            "120",
            "--recovery-delay",
            "2h",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("epoch bump 0→1"), "{text}");
    assert!(text.contains("2h passed (virtual clock)"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("lifecycle complete: seed 3"), "{last}");
    assert!(last.contains("new device read 120/120 messages"), "{last}");
}

#[test]
fn a_delay_outside_one_hour_to_thirty_days_is_a_failure_not_a_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args(["demo", "--messages", "3", "--recovery-delay", "10m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("lifecycle failed: setup"), "{text}");
}

#[test]
fn trace_prints_a_mermaid_sequence_diagram_of_the_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_aura-node"))
        .args([
            "trace",
            "--seed",
            "2",
            "--format",
            "mermaid",
            "--messages",
            "30",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("sequenceDiagram\n"), "{text}");
    for phase in [
        "dkg", "binding", "channel", "messages", "handoff", "recovery",
    ] {
        assert!(
            text.contains(&format!("Note over A1,N: {phase}")),
            "{phase} missing"
        );
    }
    // The guardians really talked to the new device during recovery, and
    // G1's old phone handed its part to the new one.
    assert!(text.contains("G2->>N:"), "{text}");
    assert!(text.contains("G1->>G1b:"), "{text}");
}
