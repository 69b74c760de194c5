//! Unit tests of the checker on hand-built ASTs.
