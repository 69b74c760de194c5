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
