//! `choreo fmt`: canonical layout of a source file, idempotent, keeping
//! comments.

use crate::ast;

/// Prints `file` in canonical layout.
pub fn format_file(file: &ast::File) -> String {
    let _ = file;
    String::new() // placeholder until the formatter lands
}
