//! The syntax tree produced by the parser: what the user wrote, with byte
//! spans, and explicit `Error` nodes where the parser recovered.
//!
//! Architecture invariant: the AST knows nothing about checking or
//! projection. Later phases read it; they never add to it.

pub use crate::name::Name;
use crate::span::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: Name,
    pub span: Span,
}

/// A dotted module path: `aura.consensus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModulePath {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl ModulePath {
    /// `a.b.c`
    pub fn dotted(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Comments and doc comments that precede an item or statement. `fmt`
/// keeps both; generated rustdoc uses `docs`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Leading {
    /// `///` lines, text after the slashes, in order.
    pub docs: Vec<String>,
    /// Ordinary `//` and `/* */` comments, verbatim including the markers.
    pub comments: Vec<String>,
}

/// One source file (or the body of one `choreography!` invocation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct File {
    /// Comments before the `module`/`use` declarations (a file header),
    /// kept by `fmt`.
    pub header_comments: Vec<String>,
    pub module: Option<ModulePath>,
    pub uses: Vec<Use>,
    pub items: Vec<Item>,
    /// Comments after the last item, kept by `fmt`.
    pub trailing_comments: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    pub path: ModulePath,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    TypeAlias(TypeAlias),
    Protocol(Protocol),
    /// The parser skipped malformed text here and reported it.
    Error(Span),
}

/// `type Share = frost_ed25519::round2::SignatureShare;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeAlias {
    pub leading: Leading,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// A Rust type as written in a payload or alias. The compiler checks only
/// that it is well-formed type syntax; rustc checks the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind {
    /// `u8`, `crate::x::Y`, `Vec<u8>`, `::std::string::String`, `HashMap<K, V>`.
    Path {
        leading_colons: bool,
        segments: Vec<TypeSegment>,
    },
    /// `()`, `(u32,)`, `(u32, String)`.
    Tuple(Vec<TypeExpr>),
    /// `[u8; 32]`; the length is kept as written.
    Array { element: Box<TypeExpr>, len: String },
    /// `[u8]`
    Slice(Box<TypeExpr>),
    /// `&T`, `&mut T` (no lifetimes: the token rules have no `'`).
    Ref { mutable: bool, inner: Box<TypeExpr> },
    /// `*const T`, `*mut T`.
    Ptr { mutable: bool, inner: Box<TypeExpr> },
    /// `!`
    Never,
    /// `fn(u64, &str) -> bool`; `ret` is `None` without `->`.
    FnPtr {
        params: Vec<TypeExpr>,
        ret: Option<Box<TypeExpr>>,
    },
    /// `dyn std::error::Error + Send + Sync`: the bounds are paths.
    TraitObject(Vec<TypeExpr>),
    /// `<T as Trait>::Name` (`<T>::Name` without `as`).
    Qualified {
        self_ty: Box<TypeExpr>,
        as_trait: Option<Box<TypeExpr>>,
        rest: Vec<TypeSegment>,
    },
    /// Malformed type syntax, already reported.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeSegment {
    pub name: Ident,
    /// `<…>` arguments; empty when absent.
    pub generics: Vec<TypeExpr>,
}

/// `protocol Name(params) { roles …; statements }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub leading: Leading,
    pub name: Ident,
    /// Empty when the parameter list is absent or `()`.
    pub params: Vec<Ident>,
    pub roles: Vec<RoleDecl>,
    /// Span of the whole `roles …;` declaration, if present.
    pub roles_span: Option<Span>,
    pub body: Block,
    pub span: Span,
}

/// `Initiator` or `Witness[n]` in a `roles` declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDecl {
    pub name: Ident,
    pub family: Option<Size>,
    pub span: Span,
}

/// A family size or quorum: a literal or a protocol parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Size {
    Literal { value: u64, span: Span },
    Param(Ident),
}

impl Size {
    pub fn span(&self) -> Span {
        match self {
            Size::Literal { span, .. } => *span,
            Size::Param(id) => id.span,
        }
    }
}

/// `{ statements }`
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    /// Comments before the closing brace, kept by `fmt`.
    pub trailing_comments: Vec<String>,
    pub span: Span,
}

/// The layout an author chose around a statement, which `fmt` keeps: a
/// blank line before it, and comments after it on its last line. Only the
/// text lexer sees layout; a token stream gives the default.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Layout {
    /// A blank line separates the statement from the previous one (never
    /// set on the first statement of a block, where `fmt` prints none).
    pub blank_line_before: bool,
    /// Comments after the statement on the same line, verbatim.
    pub end_of_line: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    pub leading: Leading,
    pub layout: Layout,
    /// `@name(args)` written before the statement. The parser accepts them
    /// anywhere; the checker rejects them on anything but a message.
    pub annotations: Vec<Annotation>,
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    Message(Message),
    /// `choice at A { Left => { … } Right => { … } }`
    Choice {
        chooser: RoleRef,
        branches: Vec<ChoiceBranch>,
    },
    /// `rec Loop { … }`
    Rec {
        name: Ident,
        body: Block,
    },
    /// `continue Loop;`
    Continue {
        name: Ident,
    },
    /// `par { … } and { … } and { … }`
    Par {
        branches: Vec<Block>,
    },
    /// `for i in W { … }`
    For {
        var: Ident,
        family: Ident,
        body: Block,
    },
    /// `call Sub(A, W; t);`
    Call(Invocation),
    /// `link Sub(A, W);`
    Link(Invocation),
    /// `delegate R to S;`
    Delegate {
        from: RoleRef,
        to: RoleRef,
    },
    /// `timeout 2s { … } else { … }`
    Timeout {
        duration: DurationLit,
        body: Block,
        handler: Block,
    },
    /// The parser skipped a malformed statement here and reported it.
    Error,
}

/// `Sender -> Receiver : Label(Type) quorum q;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: RoleRef,
    pub to: RoleRef,
    pub label: Ident,
    /// `None` for `Label;`. `Some` with an empty tuple for `Label(())`.
    pub payload: Option<TypeExpr>,
    pub quorum: Option<Size>,
}

/// `A`, `W[*]`, `W[2]`, `W[i]`, `W[i+1]`, `W[i-1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRef {
    pub role: Ident,
    pub index: Option<RoleIndex>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleIndex {
    /// `[*]`
    All { span: Span },
    /// `[3]`
    Literal { value: u64, span: Span },
    /// `[i]`, `[i+1]`, `[i-2]`: a `for` variable plus a constant offset.
    /// (`var` may also name a protocol parameter, which the checker rejects.)
    Var { var: Ident, offset: i64, span: Span },
}

impl RoleIndex {
    pub fn span(&self) -> Span {
        match self {
            RoleIndex::All { span }
            | RoleIndex::Literal { span, .. }
            | RoleIndex::Var { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChoiceBranch {
    pub leading: Leading,
    pub name: Ident,
    pub body: Block,
    pub span: Span,
}

/// The target and arguments of `call` or `link`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// `Sub` or `other.module.Sub`.
    pub protocol: ModulePath,
    pub roles: Vec<RoleRef>,
    /// Arguments after `;`.
    pub params: Vec<Size>,
    /// The argument list exactly as written between the parentheses,
    /// whitespace normalised (`A, W; t`), for canonical printing.
    pub args_text: String,
}

/// `500ms`, `2s`, `5m`, `24h`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationLit {
    pub value: u64,
    pub unit: DurationUnit,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl DurationLit {
    /// Total milliseconds, saturating.
    pub fn millis(&self) -> u64 {
        let per = match self.unit {
            DurationUnit::Millis => 1,
            DurationUnit::Seconds => 1_000,
            DurationUnit::Minutes => 60_000,
            DurationUnit::Hours => 3_600_000,
        };
        self.value.saturating_mul(per)
    }
}

impl std::fmt::Display for DurationLit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            DurationUnit::Millis => "ms",
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
        };
        write!(f, "{}{}", self.value, unit)
    }
}

/// `@guard("cap")`, `@cost(100)`, `@leak(group, 8)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub name: Ident,
    pub args: Vec<AnnotationArg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnotationArg {
    Str { value: String, span: Span },
    Int { value: u64, span: Span },
    Ident(Ident),
}
