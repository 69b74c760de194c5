//! Payload types: printing with rustfmt spacing and alias expansion
//! (the language contract §2: two payloads are the same when their token sequences
//! are equal after aliases are expanded).

use std::collections::HashMap;

use crate::ast::{Name, TypeExpr, TypeKind, TypeSegment};
use crate::global::{Loc, RustSegment, RustType, RustTypeKind};
use crate::span::FileId;

/// Expanded (canonical) type of each alias of one module, by alias name.
pub(crate) type AliasTypes = HashMap<String, RustType>;

/// `ty` as written (aliases kept), in the one canonical printed form of a
/// type (`RustType`'s, rustfmt spacing). `None` if it contains an
/// already-reported syntax error.
pub(crate) fn written(ty: &TypeExpr) -> Option<String> {
    lower(ty, None, FileId::default()).map(|t| t.to_string())
}

/// `ty` (written in `file`) as a typed tree with every alias of `aliases`
/// replaced by its expansion. `None` if it contains an already-reported
/// syntax error.
pub(crate) fn canonical(ty: &TypeExpr, aliases: &AliasTypes, file: FileId) -> Option<RustType> {
    lower(ty, Some(aliases), file)
}

/// The alias a type refers to directly: a single-segment path without
/// generics or leading `::`.
pub(crate) fn alias_reference(ty: &TypeExpr) -> Option<&str> {
    simple_name(ty).map(Name::as_str)
}

/// The name of a single-segment path without generics or leading `::`
/// (`u64`, `Share`), the text the lexer shares: such a type, when it is
/// no alias, prints as that name.
pub(crate) fn simple_name(ty: &TypeExpr) -> Option<&Name> {
    match &ty.kind {
        TypeKind::Path {
            leading_colons: false,
            segments,
        } => match segments.as_slice() {
            [only] if only.generics.is_empty() => Some(&only.name.name),
            _ => None,
        },
        _ => None,
    }
}

/// Every alias name that `ty` mentions (for cycle detection).
pub(crate) fn mentioned_names<'a>(ty: &'a TypeExpr, out: &mut Vec<&'a str>) {
    for_each_mentioned(ty, &mut |name| out.push(name));
}

/// Calls `f` with every alias name that `ty` mentions, in order.
pub(crate) fn for_each_mentioned<'a>(ty: &'a TypeExpr, f: &mut impl FnMut(&'a str)) {
    match &ty.kind {
        TypeKind::Path { segments, .. } => {
            if let Some(name) = alias_reference(ty) {
                f(name);
            }
            for segment in segments {
                for g in &segment.generics {
                    for_each_mentioned(g, f);
                }
            }
        }
        TypeKind::Tuple(items) => items.iter().for_each(|t| for_each_mentioned(t, f)),
        TypeKind::Array { element, .. }
        | TypeKind::Slice(element)
        | TypeKind::Ref { inner: element, .. }
        | TypeKind::Ptr { inner: element, .. } => for_each_mentioned(element, f),
        TypeKind::FnPtr { params, ret } => {
            params.iter().for_each(|t| for_each_mentioned(t, f));
            if let Some(ret) = ret {
                for_each_mentioned(ret, f);
            }
        }
        // Bounds name traits, never payload aliases (they are printed unexpanded).
        TypeKind::TraitObject(_) => {}
        TypeKind::Qualified {
            self_ty,
            as_trait,
            rest,
        } => {
            for_each_mentioned(self_ty, f);
            if let Some(t) = as_trait {
                for_each_mentioned(t, f);
            }
            for segment in rest {
                segment
                    .generics
                    .iter()
                    .for_each(|g| for_each_mentioned(g, f));
            }
        }
        TypeKind::Never | TypeKind::Error => {}
    }
}

/// The typed tree of `ty`; `None` when it contains an error node. Trait
/// bounds name traits, never payload aliases, so they are not expanded.
fn lower(ty: &TypeExpr, aliases: Option<&AliasTypes>, file: FileId) -> Option<RustType> {
    let loc = Loc {
        file,
        span: ty.span,
    };
    let all = |types: &[TypeExpr], aliases: Option<&AliasTypes>| -> Option<Vec<RustType>> {
        types.iter().map(|t| lower(t, aliases, file)).collect()
    };
    let boxed = |t: &TypeExpr, aliases: Option<&AliasTypes>| lower(t, aliases, file).map(Box::new);
    let kind = match &ty.kind {
        TypeKind::Path {
            leading_colons,
            segments,
        } => {
            if let (Some(aliases), Some(name)) = (aliases, alias_reference(ty)) {
                if let Some(expanded) = aliases.get(name) {
                    return Some(expanded.clone());
                }
            }
            RustTypeKind::Path {
                leading_colons: *leading_colons,
                segments: match segments.as_slice() {
                    // Most payloads are one name (`u64`): a vector of
                    // exactly one segment, not the four a collect reserves.
                    [only] => vec![lower_segment(only, aliases, file)?],
                    _ => segments
                        .iter()
                        .map(|s| lower_segment(s, aliases, file))
                        .collect::<Option<_>>()?,
                },
            }
        }
        TypeKind::Tuple(items) => RustTypeKind::Tuple(all(items, aliases)?),
        TypeKind::Array { element, len } => RustTypeKind::Array {
            element: boxed(element, aliases)?,
            len: len.trim().to_string(),
        },
        TypeKind::Slice(element) => RustTypeKind::Slice(boxed(element, aliases)?),
        TypeKind::Ref { mutable, inner } => RustTypeKind::Ref {
            mutable: *mutable,
            inner: boxed(inner, aliases)?,
        },
        TypeKind::Ptr { mutable, inner } => RustTypeKind::Ptr {
            mutable: *mutable,
            inner: boxed(inner, aliases)?,
        },
        TypeKind::Never => RustTypeKind::Never,
        TypeKind::FnPtr { params, ret } => RustTypeKind::FnPtr {
            params: all(params, aliases)?,
            ret: match ret {
                Some(ret) => Some(boxed(ret, aliases)?),
                None => None,
            },
        },
        TypeKind::TraitObject(bounds) => RustTypeKind::TraitObject(all(bounds, None)?),
        TypeKind::Qualified {
            self_ty,
            as_trait,
            rest,
        } => RustTypeKind::Qualified {
            self_ty: boxed(self_ty, aliases)?,
            as_trait: match as_trait {
                Some(t) => Some(boxed(t, None)?),
                None => None,
            },
            rest: rest
                .iter()
                .map(|s| lower_segment(s, aliases, file))
                .collect::<Option<_>>()?,
        },
        TypeKind::Error => return None,
    };
    Some(RustType { kind, loc })
}

/// `Name` or `Name<G1, G2>`; `None` when a generic argument has an error node.
fn lower_segment(
    segment: &TypeSegment,
    aliases: Option<&AliasTypes>,
    file: FileId,
) -> Option<RustSegment> {
    Some(RustSegment {
        name: segment.name.name.clone(),
        generics: if segment.generics.is_empty() {
            Vec::new()
        } else {
            segment
                .generics
                .iter()
                .map(|g| lower(g, aliases, file))
                .collect::<Option<_>>()?
        },
        loc: Loc {
            file,
            span: segment.name.span,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::written as written_form;
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
            assert_eq!(
                canonical(ty, &AliasTypes::new(), FileId(0)).map(|t| t.to_string()),
                written(ty)
            );
        }
        assert_eq!(
            written(&tys[5]).as_deref(),
            Some("HashMap<K, Vec<(u8, [u16; 4])>>")
        );
    }

    #[test]
    fn aliases_expand_inside_generics_and_tuples() {
        let tys = payload_types("protocol P { roles A, B; A -> B : L(Vec<(Share, u8)>); }");
        let share = payload_types("protocol P { roles A, B; A -> B : L([u8; 32]); }");
        let mut aliases = AliasTypes::new();
        aliases.insert(
            "Share".into(),
            canonical(&share[0], &AliasTypes::new(), FileId(0)).unwrap(),
        );
        assert_eq!(
            canonical(&tys[0], &aliases, FileId(0))
                .map(|t| t.to_string())
                .as_deref(),
            Some("Vec<([u8; 32], u8)>")
        );
        assert_eq!(written(&tys[0]).as_deref(), Some("Vec<(Share, u8)>"));
    }

    #[test]
    fn payload_types_print_in_rustfmt_spacing() {
        for (written, printed) in [
            ("Vec < u8 >", "Vec<u8>"),
            ("(u32,String)", "(u32, String)"),
            ("(u32,)", "(u32,)"),
            ("[u8;32]", "[u8; 32]"),
            ("[u8]", "[u8]"),
            ("::std::string::String", "::std::string::String"),
            ("HashMap<K,Vec<(u8,u16)>>", "HashMap<K, Vec<(u8, u16)>>"),
            ("crate::x::Y", "crate::x::Y"),
            ("(T)", "T"),
        ] {
            let tys = payload_types(&format!(
                "protocol P {{ roles A, B; A -> B : L({written}); }}"
            ));
            assert_eq!(written_form(&tys[0]).as_deref(), Some(printed), "{written}");
        }
    }
}
