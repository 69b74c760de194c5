//! Diagnostics as plain data. Rendering (ariadne) happens at the edge, in
//! [`crate::render`]; no phase formats terminal output itself.

use crate::span::{FileId, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A stable diagnostic code such as `E0201` or `W0201`.
///
/// Ranges are owned by phases so codes never collide:
/// `E01xx` lexing and parsing, `E02xx` names and resolution
/// (modules, `use`, `call`, `link`), `E03xx` static checks of the global
/// protocol, `E04xx` projection (knowledge of choice, chooser acting first,
/// handlers that cannot start, roles active at `link`, `delegate`);
/// `W0xxx` warnings, same ranges. Every code has an explanation in
/// [`crate::explain`].
pub type Code = &'static str;

/// A labelled place in a source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub file: FileId,
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// One line, lower case start, no trailing period: "role `C` cannot tell branch `Left` from `Right`".
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    /// What to do about it ("add `A -> C : …` at the start of branch `Right` so C learns the choice").
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: Code,
        message: impl Into<String>,
        file: FileId,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label {
                file,
                span,
                message: label.into(),
            },
            secondary: Vec::new(),
            hint: None,
        }
    }

    pub fn warning(
        code: Code,
        message: impl Into<String>,
        file: FileId,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, file, span, label)
        }
    }

    pub fn with_secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// True when any diagnostic is an error (warnings alone still accept).
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}
