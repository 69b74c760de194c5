//! `choreography!`: choreographies compiled to session-typed Rust at build time.
//!
//! Two forms:
//! - inline, `choreography! { protocol PingPong { roles A, B; A -> B : Ping(u64); } }`;
//!   errors underline the exact offending tokens;
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

use std::path::{Path, PathBuf};

use choreo_lang::{
    codegen,
    driver::compile_with,
    render::{render_all, RenderOptions},
    Diagnostic, FileId, Source,
};
use proc_macro::TokenStream;
use proc_macro2::{Delimiter, Spacing, Span, TokenStream as Tokens, TokenTree};
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

/// The macro input as `.choreo` text, with each token's byte range and span.
#[derive(Default)]
struct Text {
    text: String,
    spans: Vec<(usize, usize, Span)>,
}

impl Text {
    fn push(&mut self, s: &str, span: Span) {
        let start = self.text.len();
        self.text.push_str(s);
        self.spans.push((start, self.text.len(), span));
    }

    /// Writes tokens as text. Recurses only over groups (nesting).
    fn stream(&mut self, tokens: Tokens) {
        let mut iter = tokens.into_iter().peekable();
        while let Some(tt) = iter.next() {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    self.push(open, g.span_open());
                    self.text.push(' ');
                    self.stream(g.stream());
                    self.push(close, g.span_close());
                    self.text.push(' ');
                }
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    // `///` doc comments arrive as `#[doc = "…"]`.
                    let doc = match iter.peek() {
                        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => {
                            doc_text(&g.stream())
                        }
                        _ => None,
                    };
                    match doc {
                        Some(doc) => {
                            iter.next();
                            self.push(&format!("///{}", doc.replace('\n', " ")), p.span());
                            self.text.push('\n');
                        }
                        None => {
                            self.push("#", p.span());
                            self.text.push(' ');
                        }
                    }
                }
                TokenTree::Punct(p) => {
                    self.push(&p.as_char().to_string(), p.span());
                    if p.spacing() == Spacing::Alone {
                        self.text.push(' ');
                    }
                }
                TokenTree::Ident(i) => {
                    self.push(&i.to_string(), i.span());
                    self.text.push(' ');
                }
                TokenTree::Literal(l) => {
                    self.push(&l.to_string(), l.span());
                    self.text.push(' ');
                }
            }
        }
    }

    /// The spans of the first and last token overlapping `start..end`.
    fn locate(&self, start: usize, end: usize) -> (Span, Span) {
        let end = end.max(start + 1);
        let hits: Vec<Span> = self
            .spans
            .iter()
            .filter(|(s, e, _)| *s < end && *e > start)
            .map(|(_, _, span)| *span)
            .collect();
        match (hits.first(), hits.last()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => {
                let before = self
                    .spans
                    .iter()
                    .rev()
                    .find(|(s, _, _)| *s <= start)
                    .or(self.spans.last());
                let span = before.map(|(_, _, s)| *s).unwrap_or_else(Span::call_site);
                (span, span)
            }
        }
    }
}

fn doc_text(attr: &Tokens) -> Option<String> {
    let tokens: Vec<TokenTree> = attr.clone().into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Ident(i), TokenTree::Punct(eq), TokenTree::Literal(lit)]
            if i == "doc" && eq.as_char() == '=' =>
        {
            syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into())
                .ok()
                .map(|s| s.value())
        }
        _ => None,
    }
}

fn message(d: &Diagnostic) -> String {
    let mut m = format!("{}: {}", d.code, d.message);
    if !d.primary.message.is_empty() {
        m.push_str(&format!("\n  = note: {}", d.primary.message));
    }
    for label in &d.secondary {
        m.push_str(&format!("\n  = note: {}", label.message));
    }
    if let Some(hint) = &d.hint {
        m.push_str(&format!("\n  = help: {hint}"));
    }
    m
}

fn expand_inline(input: Tokens) -> Tokens {
    let mut text = Text::default();
    text.stream(input);
    let source = Source {
        name: "<choreography!>".into(),
        default_module: "main".into(),
        text: text.text.clone(),
    };
    let comp = compile_with(vec![source], &mut |_, _| None);
    match codegen::generate_tokens(&comp, &[FileId(0)]) {
        Ok(tokens) => tokens,
        Err(diags) => {
            let mut errors: Option<syn::Error> = None;
            for d in diags.iter().filter(|d| d.is_error()) {
                let e = if d.primary.file == FileId(0) {
                    let (first, last) =
                        text.locate(d.primary.span.start as usize, d.primary.span.end as usize);
                    let pair: Tokens = [
                        TokenTree::Ident(proc_macro2::Ident::new("a", first)),
                        TokenTree::Ident(proc_macro2::Ident::new("b", last)),
                    ]
                    .into_iter()
                    .collect();
                    syn::Error::new_spanned(pair, message(d))
                } else {
                    syn::Error::new(Span::call_site(), message(d))
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
        &mut |module, user| load_beside(module, user),
    );
    let tracked = comp.sources.iter().map(|s| {
        let p = s.name.as_str();
        quote!(
            const _: &[u8] = include_bytes!(#p);
        )
    });
    match codegen::generate_tokens(&comp, &[FileId(0)]) {
        Ok(tokens) => quote! { #(#tracked)* #tokens },
        Err(diags) => {
            let rendered = render_all(&diags, &comp.sources, RenderOptions { color: false });
            let msg = format!("choreography `{path}` was rejected:\n{rendered}");
            let err = syn::Error::new(span, msg).to_compile_error();
            quote! { #(#tracked)* #err }
        }
    }
}

/// Loads a used module from beside its user: `<dir>/<last segment>.choreo`
/// or `<dir>/<a/b/c>.choreo` (as the `choreo` command does).
fn load_beside(module: &str, user: &str) -> Option<Source> {
    let dir = Path::new(user).parent().unwrap_or_else(|| Path::new("."));
    let segments: Vec<&str> = module.split('.').collect();
    let stem = segments.last().copied().unwrap_or(module);
    [
        dir.join(format!("{stem}.choreo")),
        dir.join(format!("{}.choreo", segments.join("/"))),
    ]
    .iter()
    .find_map(|candidate| {
        let text = std::fs::read_to_string(candidate).ok()?;
        Some(Source::from_path_text(
            candidate.display().to_string(),
            text,
        ))
    })
}
