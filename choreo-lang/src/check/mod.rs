//! Resolution (modules, `use`, `call`, `link`) and the static checks of
//! LANGUAGE.md §4 that do not need projection. Produces the
//! [`global::CheckedProgram`].

use crate::{ast, diagnostic::Diagnostic, global, span::FileId};

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
    let _ = files;
    (global::CheckedProgram::default(), Vec::new()) // placeholder until the checker lands
}
