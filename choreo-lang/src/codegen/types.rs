//! Payload types → Rust tokens, from the typed tree the checker built
//! ([`RustType`]), so an error points at the part of the payload it is
//! about instead of the whole protocol.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use crate::machine::{Loc, RustSegment, RustType, RustTypeKind};

/// Why a payload type cannot be written as Rust, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    pub loc: Loc,
    pub message: String,
    pub label: String,
    pub hint: String,
}

/// Words the token rules read as names that Rust reserves: a path segment
/// may not be one (`crate`, `self`, `super` and `Self` may).
const RESERVED: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen", "_",
];

/// The tokens of `ty`.
pub fn type_tokens(ty: &RustType) -> Result<TokenStream, TypeError> {
    Ok(match &ty.kind {
        RustTypeKind::Path {
            leading_colons,
            segments,
        } => {
            let segments = segments
                .iter()
                .map(segment_tokens)
                .collect::<Result<Vec<_>, _>>()?;
            let lead = leading_colons.then(|| quote!(::));
            quote!(#lead #(#segments)::*)
        }
        RustTypeKind::Tuple(items) => {
            let items = all(items)?;
            if items.len() == 1 {
                quote!((#(#items)*,))
            } else {
                quote!((#(#items),*))
            }
        }
        RustTypeKind::Array { element, len } => {
            let element = type_tokens(element)?;
            let len = match len.parse::<u64>() {
                Ok(n) => {
                    let lit = Literal::u64_unsuffixed(n);
                    quote!(#lit)
                }
                Err(_) => {
                    let name = name(len, ty.loc, "an array length")?;
                    quote!(#name)
                }
            };
            quote!([#element; #len])
        }
        RustTypeKind::Slice(element) => {
            let element = type_tokens(element)?;
            quote!([#element])
        }
        RustTypeKind::Ref { mutable, inner } => {
            let inner = type_tokens(inner)?;
            let m = mutable.then(|| quote!(mut));
            quote!(& #m #inner)
        }
        RustTypeKind::Ptr { mutable, inner } => {
            let inner = type_tokens(inner)?;
            if *mutable {
                quote!(*mut #inner)
            } else {
                quote!(*const #inner)
            }
        }
        RustTypeKind::Never => quote!(!),
        RustTypeKind::FnPtr { params, ret } => {
            let params = all(params)?;
            let ret = match ret {
                Some(ret) => {
                    let ret = type_tokens(ret)?;
                    Some(quote!(-> #ret))
                }
                None => None,
            };
            quote!(fn(#(#params),*) #ret)
        }
        RustTypeKind::TraitObject(bounds) => {
            let bounds = all(bounds)?;
            quote!(dyn #(#bounds)+*)
        }
        RustTypeKind::Qualified {
            self_ty,
            as_trait,
            rest,
        } => {
            let self_ty = type_tokens(self_ty)?;
            let as_trait = match as_trait {
                Some(t) => {
                    let t = type_tokens(t)?;
                    Some(quote!(as #t))
                }
                None => None,
            };
            let rest = rest
                .iter()
                .map(segment_tokens)
                .collect::<Result<Vec<_>, _>>()?;
            quote!(<#self_ty #as_trait> #(:: #rest)*)
        }
    })
}

/// Why no value of `ty` can ever be a message, if that is certain from
/// its form: a payload is sent serialised and received as an owned value
/// (`Serialize + DeserializeOwned + Send + 'static`). A reference, raw
/// pointer, function pointer, `!` or unsized type at the top, or as an
/// element of a tuple or array, can never be one. Inside a path's generics
/// nothing is certain (`PhantomData<fn()>` is a fine payload), so only
/// those places are looked at.
pub fn never_a_message(ty: &RustType) -> Option<TypeError> {
    let error = |message: &str, label: &str, hint: &str| TypeError {
        loc: ty.loc,
        message: message.to_owned(),
        label: label.to_owned(),
        hint: hint.to_owned(),
    };
    match &ty.kind {
        RustTypeKind::Tuple(items) => items.iter().find_map(never_a_message),
        RustTypeKind::Array { element, .. } => never_a_message(element),
        RustTypeKind::Ref { .. } => Some(error(
            "it is a reference, and a message arrives as an owned value",
            "a reference",
            "use an owned type: `String` for `&str`, `Vec<T>` for `&[T]`, `T` for `&T`",
        )),
        RustTypeKind::Ptr { .. } => Some(error(
            "it is a raw pointer, which can be neither serialised nor sent to another thread",
            "a raw pointer",
            "send the value it points to",
        )),
        RustTypeKind::FnPtr { .. } => Some(error(
            "it is a function pointer, which cannot be serialised",
            "a function pointer",
            "send data that says which function to call (an enum, a name) instead",
        )),
        RustTypeKind::Never => Some(error(
            "`!` has no values, so no message of it can be sent",
            "no values",
            "leave the payload out (`Label;`) for a message that carries nothing",
        )),
        RustTypeKind::Slice(_) | RustTypeKind::TraitObject(_) => Some(error(
            "it has no size known at compile time, and a message is a sized value",
            "unsized",
            "put it behind an owning pointer: `Vec<T>` for `[T]`, `Box<dyn Trait>` for `dyn Trait`",
        )),
        RustTypeKind::Path { .. } | RustTypeKind::Qualified { .. } => None,
    }
}

fn all(types: &[RustType]) -> Result<Vec<TokenStream>, TypeError> {
    types.iter().map(type_tokens).collect()
}

fn segment_tokens(segment: &RustSegment) -> Result<TokenStream, TypeError> {
    let name = name(&segment.name, segment.loc, "a type name")?;
    if segment.generics.is_empty() {
        return Ok(quote!(#name));
    }
    let generics = all(&segment.generics)?;
    Ok(quote!(#name<#(#generics),*>))
}

/// `text` as an identifier, unless Rust reserves it.
fn name(text: &str, loc: Loc, what: &str) -> Result<Ident, TypeError> {
    if RESERVED.contains(&text) {
        return Err(TypeError {
            loc,
            message: format!("`{text}` is a Rust keyword, not {what}"),
            label: format!("Rust reserves `{text}`"),
            hint:
                "give the Rust item another name (or re-export it under one) and use that name here"
                    .to_string(),
        });
    }
    Ok(Ident::new(text, Span::call_site()))
}
