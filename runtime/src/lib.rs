//! Protocol runtime for choreo. Filled by the code-generation issue.
