//! What the example tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example binary `name`, built by `cargo test` next to the test
/// binaries (target/<profile>/examples); built on demand if it is not
/// there.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name, "-p", "choreo-examples"])
            .status()
            .unwrap();
        assert!(status.success(), "building the example {name} failed");
    }
    path
}

/// Runs the simulator example `name` for 200 seeds with `args`, asserts
/// that every run completed, and returns its output (the summary line).
#[allow(dead_code)] // not every test file runs a simulator example
pub fn two_hundred_seeds(name: &str, args: &[&str]) -> String {
    let out = Command::new(example(name))
        .args(["--seeds", "200"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("200 of 200 runs completed"),
        "{name} {args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number before `what` in an example's summary line.
#[allow(dead_code)] // not every test file reads counts
pub fn count(summary: &str, what: &str) -> u64 {
    let before = summary.split(what).next().unwrap_or_default();
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {what:?} in {summary}"))
}
