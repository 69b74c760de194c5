//! Every accepted protocol we ship or test verifies: the test data
//! (`tests/data/**`), the examples and the mission protocols
//! (`protocols/choreo/*.choreo`). A failure here is a projection bug (or a
//! checker gap): the projections of an accepted protocol deadlock, leave
//! orphan messages or receive something unexpected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use choreo_lang::driver::{compile_with, load_beside, Compilation, Source};
use choreo_lang::verify::{Verdict, VerifyOptions};
use std::path::{Path, PathBuf};

fn compile_file(path: &Path) -> Compilation {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let root = Source::from_path_text(path.display().to_string(), text);
    compile_with(vec![root], &mut |module, user| {
        load_beside(module, user, &mut |p| std::fs::read_to_string(p).ok())
    })
}

fn choreo_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            choreo_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "choreo") {
            out.push(path);
        }
    }
}

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    choreo_files(&root.join("tests/data"), &mut files);
    choreo_files(&root.join("../protocols/choreo"), &mut files);
    choreo_files(&root.join("../examples"), &mut files);
    files
}

/// Verifies every projected protocol of every accepted file; returns
/// (protocols verified, failures).
fn verify_corpus(files: &[PathBuf]) -> (usize, Vec<String>) {
    let mut verified = 0;
    let mut failures = Vec::new();
    for path in files {
        let comp = compile_file(path);
        if comp.has_errors() {
            continue;
        }
        for report in comp.verify(None, &VerifyOptions::default()) {
            verified += 1;
            match &report.verdict {
                Verdict::Safe => {}
                _ => failures.push(format!("{}:\n{}", path.display(), report.render_text())),
            }
        }
    }
    (verified, failures)
}

#[test]
fn every_accepted_protocol_verifies() {
    let files = corpus();
    let (verified, failures) = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || verify_corpus(&files))
        .unwrap()
        .join()
        .unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{verified} protocols verified");
}

#[test]
fn every_mission_protocol_is_accepted_and_verifies() {
    let mut files = Vec::new();
    choreo_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols/choreo"),
        &mut files,
    );
    let result = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let mut verified = 0;
            for path in &files {
                let comp = compile_file(path);
                assert!(!comp.has_errors(), "{} does not compile", path.display());
                let reports = comp.verify(None, &VerifyOptions::default());
                assert!(!reports.is_empty(), "{}: nothing projected", path.display());
                for report in reports {
                    assert!(
                        report.is_safe(),
                        "{}:\n{}",
                        path.display(),
                        report.render_text()
                    );
                    verified += 1;
                }
            }
            verified
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(result > 0);
}

/// A system that is free of deadlocks, orphans and unexpected receptions
/// but does not follow the global protocol: both ends swapped the order of
/// two messages. The per-pair conformance check catches it.
#[test]
fn swapped_message_order_is_not_allowed_by_the_global_protocol() {
    use choreo_lang::local::LocalAction;
    use choreo_lang::verify::{verify_protocol, ViolationKind};
    let comp = choreo_lang::compile(vec![Source::from_path_text(
        "swap.choreo",
        "protocol Swap { roles A, B; A -> B : First; A -> B : Second; B -> A : Done; }",
    )]);
    assert!(!comp.has_errors());
    let global = comp.protocol("Swap").unwrap();
    let mut locals = comp.projections[0].locals.clone();
    for local in &mut locals {
        // Swap the first two actions of both roles.
        if matches!(
            local.body.first(),
            Some(LocalAction::Send { .. } | LocalAction::Recv { .. })
        ) && local.body.len() == 3
        {
            local.body.swap(0, 1);
        }
    }
    let report = verify_protocol(&comp.program, global, &locals, &VerifyOptions::default());
    let v = report.violation().expect("a violation");
    assert_eq!(
        v.kind,
        ViolationKind::NotInGlobal,
        "{}",
        report.render_text()
    );
    insta::assert_snapshot!("not_in_global_text", report.render_text());
    insta::assert_snapshot!("not_in_global_mermaid", report.render_mermaid().unwrap());
}
