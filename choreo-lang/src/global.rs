//! The checked global protocol: what the checker hands to projection.
//!
//! Names are resolved, `call`s are inlined, `for` loops are unrolled, index
//! arithmetic is evaluated, payload aliases are expanded for comparison,
//! and every static check that does not need projection has passed. Spans survive (with their file, since inlined statements may
//! come from another file) so projection can still point at source.
//!
//! Architecture invariant: this IR does not mention the AST. Projection
//! reads only this module's types.

use crate::span::{FileId, Span};

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

impl CheckedProgram {
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
    pub name: String,
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

/// Who sends or receives in a global statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Participant {
    /// A single role: `Initiator`.
    Role(String),
    /// One member of a family: `Witness[2]` (index already evaluated).
    Member(String, u64),
    /// Every member of a family: `Witness[*]`.
    All(String),
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub namespace: String,
}

/// A payload type. `written` keeps aliases (printed with rustfmt spacing,
/// `()` for a message written without payload); `canonical` has aliases
/// expanded and is what equality uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Payload {
    pub written: String,
    pub canonical: String,
}

impl Payload {
    pub fn unit() -> Self {
        Payload {
            written: "()".into(),
            canonical: "()".into(),
        }
    }

    pub fn is_unit(&self) -> bool {
        self.canonical == "()"
    }
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
