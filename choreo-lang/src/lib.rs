//! choreo compiler.
