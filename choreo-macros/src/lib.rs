//! `choreography!`: choreographies compiled to session-typed Rust at build time.
//!
//! Two forms:
//! - inline, `choreography! { protocol PingPong { roles A, B; A -> B : Ping(u64); } }`;
//!   lexed from the token stream by `choreo_lang::syntax::parse_token_stream`,
//!   so errors underline the exact offending tokens;
//! - file, `choreography!(file = "choreo/dkg.choreo")`, the path relative to
//!   the crate root (`CARGO_MANIFEST_DIR`); modules it `use`s are loaded from
//!   beside it; errors carry the ariadne-rendered report with file and line,
//!   and every file read is tracked (`include_bytes!`) so edits rebuild.
//!
//! Either form expands to one module per protocol (see
//! `choreo_lang::codegen`); the crate using it depends on `choreo-runtime`.
//! An unprojectable protocol is a compile error, never a missing module.
//!
//! Architecture invariant: this crate only adapts token streams and files
//! to `choreo_lang`; every language decision is made there.

use std::path::PathBuf;

use choreo_lang::{
    driver::{compile_token_stream, compile_with, load_beside},
    render::{render_all, render_summary, RenderOptions},
    FileId, Source,
};
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens, TokenTree};
use quote::quote;

/// Compiles a choreography (inline, or `file = "path"`) into endpoint modules.
#[proc_macro]
pub fn choreography(input: TokenStream) -> TokenStream {
    let input: Tokens = input.into();
    let out = match file_form(&input) {
        Some(Ok((path, span))) => expand_file(&path, span),
        Some(Err(e)) => e.to_compile_error(),
        None => expand_inline(input),
    };
    out.into()
}

/// `file = "path"` → the path literal.
fn file_form(input: &Tokens) -> Option<syn::Result<(String, Span)>> {
    let tokens: Vec<TokenTree> = input.clone().into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Ident(i), TokenTree::Punct(eq), rest @ ..]
            if i == "file" && eq.as_char() == '=' =>
        {
            Some(match rest {
                [TokenTree::Literal(lit)] => {
                    match syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into()) {
                        Ok(s) => Ok((s.value(), lit.span())),
                        Err(_) => Err(syn::Error::new(
                            lit.span(),
                            "expected a string literal: `file = \"choreo/dkg.choreo\"`",
                        )),
                    }
                }
                _ => Err(syn::Error::new(
                    eq.span(),
                    "expected one string literal after `file =`: `file = \"choreo/dkg.choreo\"`",
                )),
            })
        }
        _ => None,
    }
}

fn expand_inline(input: Tokens) -> Tokens {
    let (comp, map) = compile_token_stream("<choreography!>", input);
    match comp.generate_tokens(&[FileId(0)]) {
        Ok(tokens) => tokens,
        Err(diags) => {
            let mut errors: Option<syn::Error> = None;
            for d in diags.iter().filter(|d| d.is_error()) {
                let located = (d.primary.file == FileId(0))
                    .then(|| map.locate(d.primary.span))
                    .flatten();
                let e = if let Some((first, last)) = located {
                    let pair: Tokens = [
                        TokenTree::Ident(proc_macro2::Ident::new("a", first)),
                        TokenTree::Ident(proc_macro2::Ident::new("b", last)),
                    ]
                    .into_iter()
                    .collect();
                    syn::Error::new_spanned(pair, render_summary(d))
                } else {
                    syn::Error::new(Span::call_site(), render_summary(d))
                };
                match errors.as_mut() {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                }
            }
            errors
                .unwrap_or_else(|| syn::Error::new(Span::call_site(), "choreography rejected"))
                .to_compile_error()
        }
    }
}

fn expand_file(path: &str, span: Span) -> Tokens {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("."));
    let full = root.join(path);
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) => {
            return syn::Error::new(span, format!("cannot read `{}`: {e}", full.display()))
                .to_compile_error()
        }
    };
    let comp = compile_with(
        vec![Source::from_path_text(full.display().to_string(), text)],
        &mut |module, user| load_module(module, user),
    );
    let tracked = comp.sources.iter().map(|s| {
        let p = s.name.as_str();
        quote!(
            const _: &[u8] = include_bytes!(#p);
        )
    });
    match comp.generate_tokens(&[FileId(0)]) {
        Ok(tokens) => quote! { #(#tracked)* #tokens },
        Err(diags) => {
            let rendered = render_all(&diags, &comp.sources, RenderOptions { color: false });
            let msg = format!("choreography `{path}` was rejected:\n{rendered}");
            let err = syn::Error::new(span, msg).to_compile_error();
            quote! { #(#tracked)* #err }
        }
    }
}

/// Reads a used module from beside its user ([`load_beside`]).
fn load_module(module: &str, user: &str) -> Option<Source> {
    load_beside(module, user, &mut |path| std::fs::read_to_string(path).ok())
}
