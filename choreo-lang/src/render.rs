//! Renders diagnostics with ariadne. The only place that produces
//! terminal text from diagnostics.

use crate::diagnostic::{Diagnostic, Severity};
use crate::driver::Source;
use ariadne::{Config, IndexType, Label, Report, ReportKind};

/// How to render.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// ANSI colour (only on a terminal; never in snapshots).
    pub color: bool,
}

/// Renders every diagnostic, in order, separated as ariadne prints them.
pub fn render_all(
    diagnostics: &[Diagnostic],
    sources: &[Source],
    options: RenderOptions,
) -> String {
    diagnostics
        .iter()
        .map(|d| render(d, sources, options))
        .collect()
}

/// One diagnostic without source excerpts: `CODE: message` and one
/// `= note:` / `= help:` line per label and hint. For hosts that draw the
/// excerpt themselves, such as rustc under `choreography! { … }`, whose
/// sources are token streams with no text.
pub fn render_summary(diagnostic: &Diagnostic) -> String {
    let mut out = format!("{}: {}", diagnostic.code, diagnostic.message);
    let notes = std::iter::once(&diagnostic.primary)
        .chain(&diagnostic.secondary)
        .filter(|label| !label.message.is_empty());
    for label in notes {
        out.push_str("\n  = note: ");
        out.push_str(&label.message);
    }
    if let Some(hint) = &diagnostic.hint {
        out.push_str("\n  = help: ");
        out.push_str(hint);
    }
    out
}

/// Renders one diagnostic against its sources (`sources[i]` is `FileId(i)`).
pub fn render(diagnostic: &Diagnostic, sources: &[Source], options: RenderOptions) -> String {
    let name_of = |file: crate::span::FileId| -> String {
        sources
            .get(file.0 as usize)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| format!("<file {}>", file.0))
    };
    let kind = match diagnostic.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let primary = &diagnostic.primary;
    let text_len = |file: crate::span::FileId| {
        sources
            .get(file.0 as usize)
            .map(|s| s.text.len())
            .unwrap_or(0)
    };
    // ariadne needs spans inside the text; clamp so a bad span never panics the renderer.
    let clamp = |file: crate::span::FileId, span: crate::span::Span| {
        let len = text_len(file);
        let start = (span.start as usize).min(len);
        let end = (span.end as usize).clamp(start, len);
        (name_of(file), start..end)
    };
    let mut report = Report::build(kind, clamp(primary.file, primary.span))
        .with_config(
            Config::default()
                .with_color(options.color)
                .with_index_type(IndexType::Byte),
        )
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_label(
            Label::new(clamp(primary.file, primary.span))
                .with_message(&primary.message)
                .with_order(0),
        );
    for (i, label) in diagnostic.secondary.iter().enumerate() {
        report = report.with_label(
            Label::new(clamp(label.file, label.span))
                .with_message(&label.message)
                .with_order(i32::try_from(i + 1).unwrap_or(i32::MAX)),
        );
    }
    if let Some(hint) = &diagnostic.hint {
        report = report.with_help(hint);
    }
    let cache = ariadne::sources(sources.iter().map(|s| (s.name.clone(), s.text.clone())));
    let mut out = Vec::new();
    if report.finish().write(cache, &mut out).is_err() {
        return format!(
            "{}[{}]: {}\n",
            if diagnostic.is_error() {
                "error"
            } else {
                "warning"
            },
            diagnostic.code,
            diagnostic.message
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}
