//! Payload types: printing with rustfmt spacing and alias expansion
//! (the language contract §2: two payloads are the same when their token sequences
//! are equal after aliases are expanded).

use std::collections::HashMap;

use crate::ast::{TypeExpr, TypeKind, TypeSegment};

/// Expanded (canonical) text of each alias of one module, by alias name.
pub(crate) type AliasTexts = HashMap<String, String>;

/// `ty` printed as written (aliases kept), by the parser's canonical
/// printer. `None` if it contains an already-reported syntax error.
pub(crate) fn written(ty: &TypeExpr) -> Option<String> {
    let mut out = String::new();
    print(ty, None, &mut out).then(|| ty.to_string())
}

/// `ty` printed with every alias of `aliases` replaced by its expansion.
pub(crate) fn canonical(ty: &TypeExpr, aliases: &AliasTexts) -> Option<String> {
    let mut out = String::new();
    print(ty, Some(aliases), &mut out).then_some(out)
}

/// The alias a type refers to directly: a single-segment path without
/// generics or leading `::`.
pub(crate) fn alias_reference(ty: &TypeExpr) -> Option<&str> {
    match &ty.kind {
        TypeKind::Path {
            leading_colons: false,
            segments,
        } => match segments.as_slice() {
            [only] if only.generics.is_empty() => Some(only.name.name.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// Every alias name that `ty` mentions (for cycle detection).
pub(crate) fn mentioned_names(ty: &TypeExpr, out: &mut Vec<String>) {
    match &ty.kind {
        TypeKind::Path { segments, .. } => {
            if let Some(name) = alias_reference(ty) {
                out.push(name.to_string());
            }
            for segment in segments {
                for g in &segment.generics {
                    mentioned_names(g, out);
                }
            }
        }
        TypeKind::Tuple(items) => items.iter().for_each(|t| mentioned_names(t, out)),
        TypeKind::Array { element, .. }
        | TypeKind::Slice(element)
        | TypeKind::Ref { inner: element, .. }
        | TypeKind::Ptr { inner: element, .. } => mentioned_names(element, out),
        TypeKind::FnPtr { params, ret } => {
            params.iter().for_each(|t| mentioned_names(t, out));
            if let Some(ret) = ret {
                mentioned_names(ret, out);
            }
        }
        // Bounds name traits, never payload aliases (they are printed unexpanded).
        TypeKind::TraitObject(_) => {}
        TypeKind::Qualified {
            self_ty, as_trait, ..
        } => {
            mentioned_names(self_ty, out);
            if let Some(t) = as_trait {
                mentioned_names(t, out);
            }
        }
        TypeKind::Never | TypeKind::Error => {}
    }
}

/// Returns false when the type contains an error node.
fn print(ty: &TypeExpr, aliases: Option<&AliasTexts>, out: &mut String) -> bool {
    match &ty.kind {
        TypeKind::Path {
            leading_colons,
            segments,
        } => {
            if let (Some(aliases), Some(name)) = (aliases, alias_reference(ty)) {
                if let Some(text) = aliases.get(name) {
                    out.push_str(text);
                    return true;
                }
            }
            if *leading_colons {
                out.push_str("::");
            }
            let mut ok = true;
            for (i, segment) in segments.iter().enumerate() {
                if i > 0 {
                    out.push_str("::");
                }
                ok &= print_segment(segment, aliases, out);
            }
            ok
        }
        TypeKind::Tuple(items) => {
            out.push('(');
            let ok = print_separated(items, ", ", aliases, out);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
            ok
        }
        TypeKind::Array { element, len } => {
            out.push('[');
            let ok = print(element, aliases, out);
            out.push_str("; ");
            out.push_str(len.trim());
            out.push(']');
            ok
        }
        TypeKind::Slice(element) => {
            out.push('[');
            let ok = print(element, aliases, out);
            out.push(']');
            ok
        }
        TypeKind::Ref { mutable, inner } => {
            out.push('&');
            if *mutable {
                out.push_str("mut ");
            }
            print(inner, aliases, out)
        }
        TypeKind::Ptr { mutable, inner } => {
            out.push_str(if *mutable { "*mut " } else { "*const " });
            print(inner, aliases, out)
        }
        TypeKind::Never => {
            out.push('!');
            true
        }
        TypeKind::FnPtr { params, ret } => {
            out.push_str("fn(");
            let mut ok = print_separated(params, ", ", aliases, out);
            out.push(')');
            if let Some(ret) = ret {
                out.push_str(" -> ");
                ok &= print(ret, aliases, out);
            }
            ok
        }
        TypeKind::TraitObject(bounds) => {
            out.push_str("dyn ");
            // A bound names a trait, never a payload alias.
            print_separated(bounds, " + ", None, out)
        }
        TypeKind::Qualified {
            self_ty,
            as_trait,
            rest,
        } => {
            out.push('<');
            let mut ok = print(self_ty, aliases, out);
            if let Some(t) = as_trait {
                out.push_str(" as ");
                ok &= print(t, None, out);
            }
            out.push('>');
            for segment in rest {
                out.push_str("::");
                ok &= print_segment(segment, aliases, out);
            }
            ok
        }
        TypeKind::Error => false,
    }
}

/// `Name` or `Name<G1, G2>`; false when a generic argument has an error node.
fn print_segment(segment: &TypeSegment, aliases: Option<&AliasTexts>, out: &mut String) -> bool {
    out.push_str(&segment.name.name);
    if segment.generics.is_empty() {
        return true;
    }
    out.push('<');
    let ok = print_separated(&segment.generics, ", ", aliases, out);
    out.push('>');
    ok
}

/// The types joined by `separator`; false when one has an error node.
fn print_separated(
    types: &[TypeExpr],
    separator: &str,
    aliases: Option<&AliasTexts>,
    out: &mut String,
) -> bool {
    let mut ok = true;
    for (i, ty) in types.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        ok &= print(ty, aliases, out);
    }
    ok
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use crate::ast::{Item, StmtKind};

    fn payload_types(text: &str) -> Vec<TypeExpr> {
        let (file, diags) = crate::syntax::parse_source(text, crate::span::FileId(0));
        assert!(diags.is_empty(), "{diags:?}");
        file.items
            .iter()
            .filter_map(|i| match i {
                Item::Protocol(p) => Some(p),
                _ => None,
            })
            .flat_map(|p| &p.body.stmts)
            .filter_map(|s| match &s.kind {
                StmtKind::Message(m) => m.payload.clone(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn canonical_printing_without_aliases_matches_the_written_form() {
        let tys = payload_types(
            "protocol P { roles A, B;
               A -> B : L1(Vec<u8>); A -> B : L2((u32, String)); A -> B : L3((u32,));
               A -> B : L4([u8; 32]); A -> B : L5(::std::string::String);
               A -> B : L6(HashMap<K, Vec<(u8, [u16; 4])>>); A -> B : L7(()); }",
        );
        assert_eq!(tys.len(), 7);
        for ty in &tys {
            assert_eq!(canonical(ty, &AliasTexts::new()), written(ty));
        }
        assert_eq!(
            written(&tys[5]).as_deref(),
            Some("HashMap<K, Vec<(u8, [u16; 4])>>")
        );
    }

    #[test]
    fn aliases_expand_inside_generics_and_tuples() {
        let tys = payload_types("protocol P { roles A, B; A -> B : L(Vec<(Share, u8)>); }");
        let mut aliases = AliasTexts::new();
        aliases.insert("Share".into(), "[u8; 32]".into());
        assert_eq!(
            canonical(&tys[0], &aliases).as_deref(),
            Some("Vec<([u8; 32], u8)>")
        );
        assert_eq!(written(&tys[0]).as_deref(), Some("Vec<(Share, u8)>"));
    }
}
