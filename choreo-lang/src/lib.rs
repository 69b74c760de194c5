//! The choreo compiler: global protocols in, diagnostics and local types out.
//!
//! Pipeline (one type per phase):
//! `source text | TokenStream` → [`syntax`] (tokens → [`ast::File`], never
//! fails) → [`check`] (resolution + the language contract §4 → [`global::CheckedProgram`])
//! → [`project`] (§5 → [`local::LocalProtocol`]) → code generation (later).
//!
//! Architecture invariant: this library does no I/O. It takes source text
//! and returns values and [`Diagnostic`]s; the `choreo` binary is the only
//! place that touches files or the terminal. Rendering to text happens at
//! the edge in [`render`].

// Module docs name their private submodules (`check`'s `lower`, `project`'s
// `interp`) for readers of `cargo doc --document-private-items`; in the
// public docs those links are plain text, which is what we want.
#![allow(rustdoc::private_intra_doc_links)]

pub mod ast;
pub mod check;
pub mod codegen;
pub mod diagnostic;
pub mod driver;
pub mod explain;
pub mod fmt;
pub mod global;
pub mod graph;
pub mod local;
pub mod machine;
pub mod name;
pub mod project;
pub mod render;
pub mod span;
pub mod syntax;
pub mod verify;

pub use diagnostic::{has_errors, Diagnostic, Severity};
pub use driver::{compile, Compilation, Source};
pub use span::{FileId, Span};
