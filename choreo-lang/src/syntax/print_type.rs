//! The canonical printed form of a payload type (rustfmt spacing):
//! `Vec<u8>`, `(u32, String)`, `(u32,)`, `[u8; 32]`, `::std::string::String`,
//! `&mut [u8]`, `*const u8`, `!`, `fn(u64) -> bool`, `dyn Error + Send`,
//! `<T as Trait>::Name`.

use crate::ast::{TypeExpr, TypeKind};
use std::fmt;

impl fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TypeKind::Path {
                leading_colons,
                segments,
            } => {
                if *leading_colons {
                    f.write_str("::")?;
                }
                for (i, seg) in segments.iter().enumerate() {
                    if i > 0 {
                        f.write_str("::")?;
                    }
                    f.write_str(&seg.name.name)?;
                    if !seg.generics.is_empty() {
                        f.write_str("<")?;
                        write_list(f, &seg.generics)?;
                        f.write_str(">")?;
                    }
                }
                Ok(())
            }
            TypeKind::Tuple(items) => {
                f.write_str("(")?;
                write_list(f, items)?;
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            TypeKind::Array { element, len } => write!(f, "[{element}; {len}]"),
            TypeKind::Slice(element) => write!(f, "[{element}]"),
            TypeKind::Ref { mutable, inner } => {
                write!(f, "&{}{inner}", if *mutable { "mut " } else { "" })
            }
            TypeKind::Ptr { mutable, inner } => {
                write!(f, "*{} {inner}", if *mutable { "mut" } else { "const" })
            }
            TypeKind::Never => f.write_str("!"),
            TypeKind::FnPtr { params, ret } => {
                f.write_str("fn(")?;
                write_list(f, params)?;
                f.write_str(")")?;
                match ret {
                    Some(ret) => write!(f, " -> {ret}"),
                    None => Ok(()),
                }
            }
            TypeKind::TraitObject(bounds) => {
                f.write_str("dyn ")?;
                for (i, b) in bounds.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" + ")?;
                    }
                    write!(f, "{b}")?;
                }
                Ok(())
            }
            TypeKind::Qualified {
                self_ty,
                as_trait,
                rest,
            } => {
                write!(f, "<{self_ty}")?;
                if let Some(t) = as_trait {
                    write!(f, " as {t}")?;
                }
                f.write_str(">")?;
                for seg in rest {
                    write!(f, "::{}", seg.name.name)?;
                    if !seg.generics.is_empty() {
                        f.write_str("<")?;
                        write_list(f, &seg.generics)?;
                        f.write_str(">")?;
                    }
                }
                Ok(())
            }
            TypeKind::Error => f.write_str("{error}"),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[TypeExpr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
