//! Projection (LANGUAGE.md §5): global protocol → one local type per role,
//! with full merge, plus the checks that need projection (knowledge of
//! choice, the chooser acting first, handlers that start by sending, roles
//! still active at a `link`, `delegate` to a role that acts later).

use crate::{diagnostic::Diagnostic, global, local};

/// Projects one checked protocol onto every role (or family member).
pub fn project_protocol(
    program: &global::CheckedProgram,
    protocol: &global::GlobalProtocol,
) -> Result<Vec<local::LocalProtocol>, Vec<Diagnostic>> {
    let _ = (program, protocol);
    Ok(Vec::new()) // placeholder until projection lands
}

/// Canonical printed form of a local type (LANGUAGE.md §5).
pub fn print_local(local: &local::LocalProtocol) -> String {
    let _ = local;
    String::new() // placeholder until the printer lands
}
