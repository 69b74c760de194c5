//! Resolution (modules, `use`, `call`, `link`) and the static checks of
//! the language contract §4 that do not need projection. Produces the
//! [`global::CheckedProgram`].
//!
//! How it runs: [`check_program`] builds the module table (protocols and
//! payload aliases per module, `use`s per file), orders protocols so that
//! every callee is lowered before its callers (a `call` cycle is reported
//! and its protocols left out), then lowers each protocol once
//! ([`lower`]): names are resolved, `for` loops unrolled, `call`s inlined
//! by substituting the callee's already checked body ([`inline`]), and
//! every check runs on the way. A protocol with an error (or calling one)
//! is left out of the program; the others continue.
//!
//! Architecture invariant: the checker reads the AST and writes only
//! [`global`] types and diagnostics; it knows nothing about projection.

mod annotations;
pub mod codes;
mod inline;
mod lower;
mod par;
mod program;
mod suggest;
mod types;

#[cfg(test)]
mod tests;

use crate::{ast, diagnostic::Diagnostic, global, span::FileId};

/// A payload type's canonical printed form (`fmt` prints types with it).
pub(crate) use types::written as type_text;

/// One parsed file, as the checker receives it.
#[derive(Clone, Debug)]
pub struct ParsedFile {
    pub file: FileId,
    /// Module name used when the file has no `module` declaration (its stem).
    pub default_module: String,
    pub ast: ast::File,
}

/// Checks every file together (so `use`, `call` and `link` resolve across
/// them). Protocols with errors are left out of the program.
pub fn check_program(files: &[ParsedFile]) -> (global::CheckedProgram, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let program = program::Program::build(files, &mut diagnostics);
    let order = program.lowering_order(&mut diagnostics);
    let mut results: Vec<Option<lower::Lowered>> = Vec::new();
    results.resize_with(program.protos.len(), || None);
    for id in order {
        let lowered = lower::lower_protocol(&program, id, &results, &mut diagnostics);
        if let Some(slot) = results.get_mut(id) {
            *slot = Some(lowered);
        }
    }
    let checked = program.output(results);
    sort_diagnostics(&mut diagnostics);
    (checked, diagnostics)
}

/// Source order (file, then position), errors before warnings at the same
/// place; exact duplicates removed.
fn sort_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (
            a.primary.file,
            a.primary.span.start,
            a.primary.span.end,
            a.severity,
            a.code,
        )
            .cmp(&(
                b.primary.file,
                b.primary.span.start,
                b.primary.span.end,
                b.severity,
                b.code,
            ))
    });
    diagnostics.dedup();
}
