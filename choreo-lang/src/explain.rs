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

#[cfg(test)]
mod tests {
    /// `choreo explain` knows every code of every phase, each exactly once.
    #[test]
    fn every_code_is_explained_once() {
        let all = super::all();
        for window in all.windows(2) {
            if let [(a, _), (b, _)] = window {
                assert_ne!(a, b, "{a} is explained twice");
            }
        }
        for code in ["E0101", "E0201", "E0301", "E0401"] {
            assert!(super::explain(code).is_some(), "{code}");
            assert!(super::explain(&code.to_lowercase()).is_some(), "{code}");
        }
    }
}
