//! The checked global protocol: what the checker hands to projection.
//!
//! Names are resolved, `call`s are inlined, `for` loops are unrolled, index
//! arithmetic is evaluated, payload aliases are expanded for comparison,
//! and every static check that does not need projection has passed. Spans survive (with their file, since inlined statements may
//! come from another file) so projection can still point at source.
//!
//! Architecture invariant: this IR does not mention the AST. Projection
//! reads only this module's types.

pub use crate::name::Name;
use crate::span::{FileId, Span};
use std::sync::Arc;

/// A place in some source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Loc {
    pub file: FileId,
    pub span: Span,
}

/// Everything that checked: one entry per module, in input order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CheckedProgram {
    pub modules: Vec<CheckedModule>,
    /// Protocols with errors that were all recovered in place (an
    /// undeclared role read as its likely meaning, a bad annotation left
    /// off): their bodies say what the author wrote, so the driver projects
    /// them to report projection's errors in the same run. They are not in
    /// `modules`, so nothing is generated or verified from them.
    pub recovered: Vec<GlobalProtocol>,
}

/// A protocol of a [`CheckedProgram`]: its position in
/// [`CheckedProgram::protocols`] order. Every later phase keys its output
/// by it ([`crate::local::Projected`]), so phases join by id, never by
/// comparing names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolId(pub u32);

impl CheckedProgram {
    /// Every protocol that checked with its id, in program order.
    pub fn with_ids(&self) -> impl Iterator<Item = (ProtocolId, &GlobalProtocol)> {
        self.protocols()
            .enumerate()
            .map(|(i, p)| (ProtocolId(u32::try_from(i).unwrap_or(u32::MAX)), p))
    }

    /// The protocol with id `id`.
    pub fn get(&self, id: ProtocolId) -> Option<&GlobalProtocol> {
        self.protocols().nth(usize::try_from(id.0).ok()?)
    }

    /// Resolves a module and protocol name (a `link`'s target) to its id.
    pub fn id_of(&self, module: &str, name: &str) -> Option<ProtocolId> {
        self.with_ids()
            .find(|(_, p)| p.module == module && p.name == name)
            .map(|(id, _)| id)
    }

    /// Finds a protocol by module and name.
    pub fn protocol(&self, module: &str, name: &str) -> Option<&GlobalProtocol> {
        self.modules
            .iter()
            .filter(|m| m.name == module)
            .flat_map(|m| &m.protocols)
            .find(|p| p.name == name)
    }

    pub fn protocols(&self) -> impl Iterator<Item = &GlobalProtocol> {
        self.modules.iter().flat_map(|m| &m.protocols)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CheckedModule {
    /// Dotted module name (`aura.consensus`); the file stem when undeclared.
    pub name: String,
    pub file: FileId,
    /// Payload aliases in declaration order, type printed with rustfmt spacing.
    pub aliases: Vec<Alias>,
    pub protocols: Vec<GlobalProtocol>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub ty: String,
    pub docs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalProtocol {
    pub module: String,
    pub name: String,
    pub docs: Vec<String>,
    pub params: Vec<String>,
    pub roles: Vec<RoleInfo>,
    pub body: Vec<GStmt>,
    pub loc: Loc,
}

impl GlobalProtocol {
    pub fn role(&self, name: &str) -> Option<&RoleInfo> {
        self.roles.iter().find(|r| r.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: Name,
    /// `Some` for a family (`Witness[n]`).
    pub family: Option<Size>,
    pub loc: Loc,
}

/// A family size or quorum after resolution.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    Literal(u64),
    /// A parameter of the protocol, by name.
    Param(String),
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Literal(v) => write!(f, "{v}"),
            Size::Param(p) => f.write_str(p),
        }
    }
}

/// Who sends or receives in a global statement. The role name is shared
/// ([`Name`]): every message names two participants.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Participant {
    /// A single role: `Initiator`.
    Role(Name),
    /// One member of a family: `Witness[2]` (index already evaluated).
    Member(Name, u64),
    /// Every member of a family: `Witness[*]`.
    All(Name),
}

impl Participant {
    /// The declared role (or family) name.
    pub fn role_name(&self) -> &str {
        match self {
            Participant::Role(r) | Participant::Member(r, _) | Participant::All(r) => r,
        }
    }
}

impl std::fmt::Display for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Participant::Role(r) => f.write_str(r),
            Participant::Member(r, i) => write!(f, "{r}[{i}]"),
            Participant::All(r) => write!(f, "{r}[*]"),
        }
    }
}

/// A message label. `namespace` is the protocol that declares it, so a
/// label inlined by `call` never clashes with the caller's.
///
/// Both are shared (`Arc<str>`): every message of a protocol carries its
/// namespace, and projection copies each label into every local type that
/// sends or receives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: Arc<str>,
    pub namespace: Arc<str>,
}

/// A payload type. `written` keeps aliases (printed with rustfmt spacing,
/// `()` for a message written without payload); `canonical` has aliases
/// expanded and is what equality uses. `ty` is the canonical type as a typed
/// tree with the place of each part (what code generation emits, so its
/// errors point at the part they are about), `loc` the payload as written.
///
/// The texts and the tree are shared (`Arc`): projection copies a message's
/// payload into every local type that sends or receives it.
#[derive(Clone, Debug)]
pub struct Payload {
    pub written: Arc<str>,
    pub canonical: Arc<str>,
    pub ty: Arc<RustType>,
    pub loc: Loc,
}

/// Two payloads are the same type when their texts are: where they were
/// written does not matter.
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written && self.canonical == other.canonical
    }
}

impl Eq for Payload {}

impl std::hash::Hash for Payload {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.written.hash(state);
        self.canonical.hash(state);
    }
}

impl Payload {
    pub fn unit() -> Self {
        Payload::of(RustType {
            kind: RustTypeKind::Tuple(Vec::new()),
            loc: Loc::default(),
        })
    }

    /// A payload written without aliases: `written` and `canonical` are
    /// `ty` printed, `loc` is `ty`'s.
    pub fn of(ty: RustType) -> Self {
        let text: Arc<str> = Arc::from(ty.to_string());
        Payload {
            written: text.clone(),
            canonical: text,
            loc: ty.loc,
            ty: Arc::new(ty),
        }
    }

    pub fn is_unit(&self) -> bool {
        &*self.canonical == "()"
    }
}

/// A Rust type in a payload, checked as type syntax only (rustc checks the
/// rest), with the place of each part. Displays with rustfmt spacing:
/// `Vec<u8>`, `(u32,)`, `[u8; 32]`, `&mut [u8]`, `fn(u64) -> bool`,
/// `dyn Error + Send`, `<T as Trait>::Name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RustType {
    pub kind: RustTypeKind,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RustTypeKind {
    Path {
        leading_colons: bool,
        segments: Vec<RustSegment>,
    },
    Tuple(Vec<RustType>),
    /// The length as written: an integer or a constant's name.
    Array {
        element: Box<RustType>,
        len: String,
    },
    Slice(Box<RustType>),
    Ref {
        mutable: bool,
        inner: Box<RustType>,
    },
    Ptr {
        mutable: bool,
        inner: Box<RustType>,
    },
    Never,
    FnPtr {
        params: Vec<RustType>,
        ret: Option<Box<RustType>>,
    },
    /// `dyn A + B`: the bounds are paths.
    TraitObject(Vec<RustType>),
    Qualified {
        self_ty: Box<RustType>,
        as_trait: Option<Box<RustType>>,
        rest: Vec<RustSegment>,
    },
}

/// `Name` or `Name<G1, G2>` in a path. The name is the lexer's shared text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RustSegment {
    pub name: Name,
    pub generics: Vec<RustType>,
    /// The name's place.
    pub loc: Loc,
}

impl RustType {
    /// A one-segment path without generics (`u64`).
    pub fn named(name: &str, loc: Loc) -> Self {
        RustType::generic(name, Vec::new(), loc)
    }

    /// A one-segment path with generic arguments (`Vec<u8>`).
    pub fn generic(name: &str, generics: Vec<RustType>, loc: Loc) -> Self {
        RustType {
            kind: RustTypeKind::Path {
                leading_colons: false,
                segments: vec![RustSegment {
                    name: Name::from(name),
                    generics,
                    loc,
                }],
            },
            loc,
        }
    }
}

impl std::fmt::Display for RustType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            RustTypeKind::Path {
                leading_colons,
                segments,
            } => {
                if *leading_colons {
                    f.write_str("::")?;
                }
                write_joined(f, segments, "::")
            }
            RustTypeKind::Tuple(items) => {
                f.write_str("(")?;
                write_joined(f, items, ", ")?;
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            RustTypeKind::Array { element, len } => write!(f, "[{element}; {len}]"),
            RustTypeKind::Slice(element) => write!(f, "[{element}]"),
            RustTypeKind::Ref { mutable, inner } => {
                write!(f, "&{}{inner}", if *mutable { "mut " } else { "" })
            }
            RustTypeKind::Ptr { mutable, inner } => {
                write!(f, "*{} {inner}", if *mutable { "mut" } else { "const" })
            }
            RustTypeKind::Never => f.write_str("!"),
            RustTypeKind::FnPtr { params, ret } => {
                f.write_str("fn(")?;
                write_joined(f, params, ", ")?;
                f.write_str(")")?;
                match ret {
                    Some(ret) => write!(f, " -> {ret}"),
                    None => Ok(()),
                }
            }
            RustTypeKind::TraitObject(bounds) => {
                f.write_str("dyn ")?;
                write_joined(f, bounds, " + ")
            }
            RustTypeKind::Qualified {
                self_ty,
                as_trait,
                rest,
            } => {
                write!(f, "<{self_ty}")?;
                if let Some(t) = as_trait {
                    write!(f, " as {t}")?;
                }
                f.write_str(">")?;
                for segment in rest {
                    write!(f, "::{segment}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for RustSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if !self.generics.is_empty() {
            f.write_str("<")?;
            write_joined(f, &self.generics, ", ")?;
            f.write_str(">")?;
        }
        Ok(())
    }
}

fn write_joined<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    items: &[T],
    separator: &str,
) -> std::fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// A checked annotation, ready for the runtime's guard chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Annotation {
    Guard { capability: String },
    Cost { amount: u64 },
    Journal { fact: String },
    Leak { class: LeakClass, bits: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeakClass {
    Relationship,
    Group,
    Neighbor,
    External,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GMessage {
    pub from: Participant,
    pub to: Participant,
    pub label: Label,
    pub payload: Payload,
    pub quorum: Option<Size>,
    pub annotations: Vec<Annotation>,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GBranch {
    pub name: String,
    pub body: Vec<GStmt>,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GStmt {
    Message(GMessage),
    Choice {
        /// A single role or a literal family member.
        chooser: Participant,
        branches: Vec<GBranch>,
        loc: Loc,
    },
    Rec {
        name: String,
        body: Vec<GStmt>,
        loc: Loc,
    },
    Continue {
        name: String,
        loc: Loc,
    },
    Par {
        branches: Vec<Vec<GStmt>>,
        loc: Loc,
    },
    Link {
        /// Module of the linked protocol.
        module: String,
        protocol: String,
        /// Role arguments, positionally bound to the callee's roles.
        roles: Vec<Participant>,
        params: Vec<Size>,
        /// Arguments as written, for printing: `A, W; t`.
        args_text: String,
        loc: Loc,
    },
    Delegate {
        from: Participant,
        to: Participant,
        loc: Loc,
    },
    Timeout {
        millis: u64,
        /// As written: `2s`.
        text: String,
        body: Vec<GStmt>,
        handler: Vec<GStmt>,
        loc: Loc,
    },
}

impl GStmt {
    pub fn loc(&self) -> Loc {
        match self {
            GStmt::Message(m) => m.loc,
            GStmt::Choice { loc, .. }
            | GStmt::Rec { loc, .. }
            | GStmt::Continue { loc, .. }
            | GStmt::Par { loc, .. }
            | GStmt::Link { loc, .. }
            | GStmt::Delegate { loc, .. }
            | GStmt::Timeout { loc, .. } => *loc,
        }
    }
}
