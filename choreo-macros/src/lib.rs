//! choreography! macro.
use proc_macro::TokenStream;

/// Placeholder until code generation lands: rejects every use with a clear error.
#[proc_macro]
pub fn choreography(_input: TokenStream) -> TokenStream {
    "compile_error!(\"choreography! is not implemented yet\");".parse().unwrap_or_default()
}
