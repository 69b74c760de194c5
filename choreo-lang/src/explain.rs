//! `choreo explain CODE`: a short explanation of every diagnostic code.

/// Every code with its explanation, sorted by code.
pub fn all() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&'static str, &'static str)> = Vec::new();
    all.extend_from_slice(crate::check::codes::EXPLANATIONS);
    all.extend_from_slice(crate::syntax::codes::EXPLANATIONS);
    all.extend_from_slice(crate::project::codes::EXPLANATIONS);
    all.extend_from_slice(crate::codegen::codes::EXPLANATIONS);
    all.sort_by_key(|(code, _)| *code);
    all
}

/// The explanation of one code (case-insensitive).
pub fn explain(code: &str) -> Option<&'static str> {
    all()
        .into_iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, text)| text)
}
