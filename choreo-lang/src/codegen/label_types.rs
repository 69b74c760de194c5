//! A protocol's message label types: the `labels` module (one type per
//! label wrapping its payload), the payload types that must be named from
//! outside it, and the labels re-exported at the protocol module's root.
//!
//! Payload types are written as in the file that invokes the macro, so
//! they must resolve in the invoking module. Inside `labels` they resolve
//! through `use super::*`, where the labels themselves and the protocol
//! module's own items come first: a label `Vote(Vote)` would wrap itself.
//! A payload that names any of those is therefore written as an alias in
//! `payloads`, a module that sees only the invoking module's names.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};

use super::clashes::{ROOT_TYPES, ROOT_VALUES};
use super::names::{ident, role_module_ident};
use super::{codes, types, Labels};
use crate::diagnostic::Diagnostic;
use crate::machine::RoleMachine;

/// The `labels` module, the `payloads` module when a payload needs it,
/// and the root's re-export of the labels.
pub(super) fn label_modules(
    labels: &Labels,
    roles: &[RoleMachine],
) -> Result<TokenStream, Vec<Diagnostic>> {
    let shadowing = shadowing_names(labels, roles);
    let mut items = Vec::new();
    let mut aliases = Vec::new();
    let mut diags = Vec::new();
    for (label, name, payload) in &labels.order {
        let name = ident(name);
        let doc = format!(
            " Label `{}`{}.",
            label.name,
            if payload.is_unit() {
                String::new()
            } else {
                format!(" carrying `{}`", payload.canonical)
            }
        );
        if payload.is_unit() {
            items.push(quote! { #[doc = #doc] pub struct #name; label_type!(#name ()); });
            continue;
        }
        let checked = match types::never_a_message(&payload.ty) {
            Some(e) => Err((codes::NEVER_A_MESSAGE, e)),
            None => types::type_tokens(&payload.ty).map_err(|e| (codes::BAD_PAYLOAD_TYPE, e)),
        };
        match checked {
            Ok(ty) => {
                let ty = if mentions(&ty, &shadowing) {
                    let alias = format_ident!("__Payload{}", aliases.len());
                    aliases.push(quote! { pub type #alias = #ty; });
                    quote!(super::payloads::#alias)
                } else {
                    ty
                };
                items.push(
                    quote! { #[doc = #doc] pub struct #name(pub #ty); label_type!(#name #ty); },
                );
            }
            Err((code, e)) => {
                let what = if code == codes::BAD_PAYLOAD_TYPE {
                    "is not a Rust type"
                } else {
                    "can never be a message"
                };
                let mut d = Diagnostic::error(
                    code,
                    format!(
                        "payload `{}` of label `{}` {what}: {}",
                        payload.written, label.name, e.message
                    ),
                    e.loc.file,
                    e.loc.span,
                    e.label,
                );
                if e.loc != payload.loc {
                    d = d.with_secondary(
                        payload.loc.file,
                        payload.loc.span,
                        format!("the payload of `{}`", label.name),
                    );
                }
                diags.push(d.with_hint(e.hint));
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    // `label_type!` only when there are labels (an unused macro would warn
    // in the user's crate).
    let label_type_macro = (!items.is_empty()).then(|| {
        quote! {
            /// A label's `LabelType`: its payload type, and its constructor (what a receive makes the label with).
            macro_rules! label_type {
                ($l:ident ()) => {
                    impl super::rt::typestate::LabelType for $l {
                        type Payload = ();
                        const WRAP: fn(()) -> Self = |()| $l;
                    }
                };
                ($l:ident $t:ty) => {
                    impl super::rt::typestate::LabelType for $l {
                        type Payload = $t;
                        const WRAP: fn($t) -> Self = $l;
                    }
                };
            }
        }
    });
    // `super::super` is the invoking module (also for a protocol module
    // declared at a crate root or in a function body, as `super` is for the
    // protocol module itself).
    let payloads = (!aliases.is_empty()).then(|| {
        quote! {
            /// Payload types that name something the protocol module also defines (`Vote(Vote)`), resolved where the macro was invoked.
            #[doc(hidden)]
            pub mod payloads {
                use super::super::*;
                #(#aliases)*
            }
        }
    });
    let exports = root_exports(labels, roles);
    Ok(quote! {
        #payloads
        /// Message label types.
        pub mod labels {
            use super::*;
            #label_type_macro
            #(#items)*
        }
        pub use self::labels::{#(#exports),*};
    })
}

/// Names that resolve to something generated inside the `labels` module:
/// the labels, the protocol module's own items and its role modules.
fn shadowing_names(labels: &Labels, roles: &[RoleMachine]) -> HashSet<String> {
    labels
        .order
        .iter()
        .map(|(_, name, _)| ident(name).to_string())
        .chain(root_types(roles))
        .collect()
}

/// The type-namespace names at the protocol module's root: its own items
/// and its role modules.
fn root_types(roles: &[RoleMachine]) -> impl Iterator<Item = String> + '_ {
    ROOT_TYPES.iter().map(|(item, _)| (*item).to_owned()).chain(
        roles
            .iter()
            .map(|r| role_module_ident(&r.target).to_string()),
    )
}

/// True when a path in `tokens` starts with a name in `names` (`Vote`,
/// `Vec<Vote>`; not `ballot::Vote`, `<T as Trait>::Vote` or `::Vote`, which
/// resolve the same anywhere).
fn mentions(tokens: &TokenStream, names: &HashSet<String>) -> bool {
    // How many `:` came right before: after `::` a name continues a path.
    let mut colons = 0;
    for token in tokens.clone() {
        match token {
            TokenTree::Ident(i) => {
                if colons < 2 && names.contains(&i.to_string()) {
                    return true;
                }
                colons = 0;
            }
            TokenTree::Punct(p) if p.as_char() == ':' => colons += 1,
            TokenTree::Group(g) => {
                if mentions(&g.stream(), names) {
                    return true;
                }
                colons = 0;
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => colons = 0,
        }
    }
    false
}

/// The Rust prelude's names (2021 edition), which the protocol module's
/// own code uses unqualified (`Ok(…)`, `Option<…>`, `Vec<u32>`): a label
/// re-exported at the root under one of them would shadow it there.
const RUST_PRELUDE: &[&str] = &[
    "AsMut",
    "AsRef",
    "Box",
    "Clone",
    "Copy",
    "Default",
    "DoubleEndedIterator",
    "Drop",
    "Eq",
    "Err",
    "ExactSizeIterator",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromIterator",
    "Into",
    "IntoIterator",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Unpin",
    "Vec",
    "drop",
];

/// The labels re-exported at the protocol module's root, by name. Named,
/// not by a glob: the module also imports its parent's names with
/// `use super::*`, and a glob there that brings another protocol's label of
/// the same name (`use ping::*` beside `pong`) would make every use of
/// `pong::Hello` ambiguous between two globs; a named import wins over a
/// glob. A label named like one of the root's own items (`Params`, a role
/// module) or like a prelude item the root's code uses (`Ok`, `None`)
/// cannot be re-exported beside it and is only under `labels::`.
fn root_exports(labels: &Labels, roles: &[RoleMachine]) -> Vec<Ident> {
    let taken: HashSet<String> = root_types(roles)
        .chain(
            ROOT_VALUES
                .iter()
                .chain(RUST_PRELUDE)
                .map(|item| (*item).to_owned()),
        )
        .collect();
    labels
        .order
        .iter()
        .map(|(_, name, _)| ident(name))
        .filter(|name| !taken.contains(&name.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_paths_first_name_can_be_shadowed() {
        let names: HashSet<String> = ["Vote".to_owned(), "Params".to_owned()].into();
        let shadowed = |ty: TokenStream| mentions(&ty, &names);
        assert!(shadowed(quote!(Vote)));
        assert!(shadowed(quote!(Vec<Vote>)));
        assert!(shadowed(quote!((u8, [Params; 2]))));
        assert!(shadowed(quote!(fn(u8) -> Vote)));
        assert!(!shadowed(quote!(ballot::Vote)));
        assert!(!shadowed(quote!(::Vote)));
        assert!(!shadowed(quote!(<Vec<u8> as IntoIterator>::Vote)));
        assert!(!shadowed(quote!(
            Option<std::collections::BTreeMap<u8, u8>>
        )));
    }
}
