#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Data-driven snapshots: every `tests/data/**/*.choreo` file is compiled
//! and its outcome stored beside the others. Accepted files snapshot every
//! role's canonical local type; rejected files snapshot every rendered
//! diagnostic. Adding a test means adding a file.

use choreo_lang::{
    driver::{compile_with, load_beside, Source},
    project::print_local,
    render::{render_all, RenderOptions},
    Severity,
};
use std::path::Path;

/// Sibling files are loadable by `use`, as the CLI does. Names are
/// relative to the data folder, and so is the lookup.
fn compile_file(path: &Path) -> choreo_lang::Compilation {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let root = Source::from_path_text(display_name(path), text);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    compile_with(vec![root], &mut |module, user| {
        load_beside(module, user, &mut |p| {
            std::fs::read_to_string(data.join(p)).ok()
        })
    })
}

/// Paths relative to the data folder, so snapshots do not depend on the checkout location.
fn display_name(path: &Path) -> String {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    path.strip_prefix(&data)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn outcome(path: &Path) -> String {
    let comp = compile_file(path);
    let source = comp
        .sources
        .first()
        .map(|s| s.text.as_str())
        .unwrap_or_default();
    let mut out = format!("----- SOURCE\n{source}\n");
    let (errors, warnings): (Vec<_>, Vec<_>) = comp
        .diagnostics
        .iter()
        .cloned()
        .partition(|d| d.severity == Severity::Error);
    let rendered = |ds: &[choreo_lang::Diagnostic]| {
        render_all(ds, &comp.sources, RenderOptions { color: false })
    };
    if !errors.is_empty() {
        out.push_str("----- ERROR\n");
        out.push_str(&rendered(&comp.diagnostics));
        return out;
    }
    if !warnings.is_empty() {
        out.push_str("----- WARNINGS\n");
        out.push_str(&rendered(&warnings));
    }
    out.push_str("----- PROJECTIONS\n");
    // Only the protocols of the file itself, not of modules it uses.
    let own = comp
        .files
        .first()
        .map(choreo_lang::driver::module_name)
        .unwrap_or_default();
    for projected in comp.projections.iter().filter(|p| p.module == own) {
        for local in &projected.locals {
            out.push_str(&print_local(local));
            out.push('\n');
        }
    }
    out
}

#[test]
fn data_files() {
    insta::glob!("data/**/*.choreo", |path| {
        insta::assert_snapshot!(outcome(path));
    });
}
