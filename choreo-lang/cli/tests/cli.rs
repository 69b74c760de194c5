#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The `choreo` binary as a user meets it: exit codes, where output goes,
//! and that no input — however mangled — makes it crash.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn choreo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_choreo"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run choreo: {e}"))
}

fn mission_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocols/choreo")
}

fn mission_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(mission_dir())
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "choreo"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A `.choreo` file in a directory of its own that is removed when the
/// test is done with it (the mutation test alone writes hundreds).
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_file(name: &str, text: &str) -> TempFile {
    let dir = std::env::temp_dir().join(format!("choreo-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
    let path = dir.join(format!("{name}.choreo"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    TempFile { dir, path }
}

#[test]
fn mission_protocols_check() {
    let files = mission_files();
    assert!(
        files.len() >= 7,
        "expected the mission protocols, found {files:?}"
    );
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().filter_map(|p| p.to_str()))
        .collect();
    let out = choreo(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn three_independent_mistakes_give_three_diagnostics_and_exit_1() {
    let path = temp_file(
        "three",
        "protocol P {\n    roles A, B;\n    A -> A : Self;\n    A -> C : Unknown;\n    B -> A : Ack(u8);\n    A -> B : Ack(u16);\n}\n",
    );
    let out = choreo(&["check", path.to_str().unwrap_or_default()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let errors = stderr
        .lines()
        .filter(|l| l.starts_with("[E") || l.starts_with("Error"))
        .count();
    assert_eq!(errors, 3, "expected three diagnostics, got:\n{stderr}");
}

#[test]
fn project_prints_canonical_local_types_on_stdout() {
    let path = temp_file("pingpong", "protocol PingPong {\n    roles Client, Server;\n    Client -> Server : Ping(u64);\n    Server -> Client : Pong;\n}\n");
    let out = choreo(&[
        "project",
        path.to_str().unwrap_or_default(),
        "--role",
        "Client",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "local Client in PingPong {\n  send Server Ping(u64);\n  recv Server Pong;\n}\n"
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(
        choreo(&["check", "/nonexistent/definitely/missing.choreo"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(choreo(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(choreo(&["check"]).status.code(), Some(2));
    let path = temp_file(
        "norole",
        "protocol P {\n    roles A, B;\n    A -> B : M;\n}\n",
    );
    assert_eq!(
        choreo(&[
            "project",
            path.to_str().unwrap_or_default(),
            "--role",
            "Nobody"
        ])
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn explain_knows_every_code_it_lists() {
    let out = choreo(&["explain"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let codes: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(codes.len() >= 20, "too few codes listed:\n{listing}");
    for code in codes.iter().take(5) {
        assert_eq!(
            choreo(&["explain", code]).status.code(),
            Some(0),
            "explain {code}"
        );
    }
    assert_eq!(choreo(&["explain", "E9999"]).status.code(), Some(2));
}

/// Deterministic mutations of every mission protocol: truncations at many
/// points, deleted and duplicated lines, swapped bytes. The binary may
/// accept or reject each, but must never crash (exit 101) or hang.
#[test]
fn mutated_and_truncated_files_never_crash() {
    let mut cases = 0;
    for file in mission_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let bytes = text.as_bytes();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for cut in (0..bytes.len()).step_by((bytes.len() / 12).max(1)) {
            variants.push(bytes.get(..cut).unwrap_or_default().to_vec());
        }
        let lines: Vec<&str> = text.lines().collect();
        for i in (0..lines.len()).step_by(3) {
            let mut dropped = lines.clone();
            dropped.remove(i);
            variants.push(dropped.join("\n").into_bytes());
            let mut doubled = lines.clone();
            doubled.insert(i, lines.get(i).copied().unwrap_or_default());
            variants.push(doubled.join("\n").into_bytes());
        }
        for (i, pair) in bytes.windows(2).enumerate().step_by(97) {
            let mut swapped = bytes.to_vec();
            if let (Some(a), Some(b)) = (pair.first(), pair.get(1)) {
                swapped[i] = *b;
                swapped[i + 1] = *a;
            }
            variants.push(swapped);
        }
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("x")
            .to_string();
        for (n, variant) in variants.iter().enumerate() {
            let path = temp_file(&format!("{stem}-mut{n}"), &String::from_utf8_lossy(variant));
            for command in ["check", "project"] {
                let out = choreo(&[command, path.to_str().unwrap_or_default()]);
                let code = out.status.code();
                assert!(
                    matches!(code, Some(0..=2)),
                    "`choreo {command}` on a mutation of {} exited with {code:?}:\n{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 100, "only {cases} mutations ran");
}

#[test]
fn mission_protocols_verify() {
    let files = mission_files();
    let args: Vec<&str> = std::iter::once("verify")
        .chain(files.iter().filter_map(|p| p.to_str()))
        .collect();
    let out = choreo(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.matches("verdict: safe").count() >= 11, "{stdout}");
}

#[test]
fn verify_rejects_nonsense_options_as_usage_errors() {
    let path = temp_file(
        "verifyopts",
        "protocol P {\n    roles A, B;\n    A -> B : M;\n}\n",
    );
    let file = path.to_str().unwrap_or_default();
    assert_eq!(
        choreo(&["verify", file, "--bound", "0"]).status.code(),
        Some(2)
    );
    assert_eq!(
        choreo(&["verify", file, "--family-size", "0"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        choreo(&["verify", file, "--protocol", "Nope"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(choreo(&["verify", file]).status.code(), Some(0));
}

#[test]
fn graph_needs_no_protocol_flag_when_the_file_has_one_protocol() {
    let path = temp_file(
        "graphone",
        "protocol P {\n    roles A, B;\n    A -> B : M;\n}\n",
    );
    let file = path.to_str().unwrap_or_default();
    let out = choreo(&["graph", file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sequenceDiagram\n"));
    let two = temp_file(
        "graphtwo",
        "protocol P {\n    roles A, B;\n    A -> B : M;\n}\n\nprotocol Q {\n    roles C, D;\n    C -> D : N;\n}\n",
    );
    let out = choreo(&["graph", two.to_str().unwrap_or_default()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("P, Q") && stderr.contains("--protocol"),
        "{stderr}"
    );
}

/// Every argument and option of every subcommand explains itself in `--help`.
#[test]
fn every_cli_argument_has_help_text() {
    for sub in [
        "check", "project", "graph", "fmt", "verify", "gen", "explain",
    ] {
        let out = choreo(&[sub, "-h"]);
        assert_eq!(out.status.code(), Some(0), "{sub} -h");
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        let mut in_list = false;
        for line in help.lines() {
            if line == "Arguments:" || line == "Options:" {
                in_list = true;
                continue;
            }
            if line.is_empty() || !line.starts_with("  ") {
                in_list = false;
                continue;
            }
            // An entry line is `  NAME  text`; a name alone has no help.
            let entry = line.trim_start();
            if in_list
                && (entry.starts_with('-') || entry.starts_with('<') || entry.starts_with('['))
            {
                let name_end = entry.find("  ").unwrap_or(entry.len());
                assert!(
                    !entry.get(name_end..).unwrap_or_default().trim().is_empty(),
                    "`choreo {sub}`: `{entry}` has no help text:\n{help}"
                );
            }
        }
    }
}

#[test]
fn fmt_check_prints_a_diff_and_leaves_the_file_alone() {
    let text = "protocol P { roles A, B; A -> B : M; }\n";
    let path = temp_file("fmtcheck", text);
    let file = path.to_str().unwrap_or_default();
    let out = choreo(&["fmt", "--check", file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("-protocol P { roles A, B; A -> B : M; }")
            && stdout.contains("+    A -> B : M;")
            && stdout.contains("@@"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&*path).unwrap(), text);
}

#[test]
fn verify_stopped_by_the_state_cap_says_incomplete_not_verified() {
    let path = temp_file(
        "verifycap",
        "protocol P {\n    roles A, B, C;\n    A -> B : M;\n    B -> C : N;\n    C -> A : O;\n}\n",
    );
    let file = path.to_str().unwrap_or_default();
    let out = choreo(&["verify", file, "--max-states", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("verdict: INCOMPLETE"), "{stdout}");
    assert!(!stdout.contains("safe"), "{stdout}");
    assert!(stderr.contains("1 protocol(s) incomplete"), "{stderr}");
    assert!(!stderr.contains("verified"), "{stderr}");
}

/// `check` also reports what code generation would reject, so a file it
/// accepts compiles as Rust: two roles that would be one Rust module.
#[test]
fn check_reports_what_code_generation_would_reject() {
    let path = temp_file(
        "clash",
        "protocol Relay {\n    roles HTTPServer, HttpServer;\n    HTTPServer -> HttpServer : Fwd(u64);\n}\n",
    );
    for command in ["check", "gen"] {
        let out = choreo(&[command, path.to_str().unwrap_or_default()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: stderr:\n{stderr}");
        assert!(
            stderr.contains("[E0504]") && stderr.contains("http_server"),
            "{command}: stderr:\n{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{command} printed code for a rejected file"
        );
    }
}
