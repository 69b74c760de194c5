//! Lowering one protocol: AST → [`global::GlobalProtocol`], with every
//! static check on the way. Iterates over statement sequences and recurses
//! only over nesting (blocks inside statements).

use crate::syntax::lexer::NameMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::annotations;
use super::codes;
use super::inline::{self, quorum_limit, Subst};
use super::par;
use super::program::Program;
use super::suggest::did_you_mean;
use super::types;
use crate::ast::{self, Block, Invocation, Message, RoleIndex, RoleRef, Stmt, StmtKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::global::{
    GBranch, GMessage, GStmt, GlobalProtocol, Label, Loc, Name, Participant, Payload, RoleInfo,
    Size,
};
use crate::span::{FileId, Span};

mod control;
mod invoke;
mod message;
mod roles;

/// The result of lowering one protocol.
#[derive(Debug)]
pub(crate) struct Lowered {
    /// No error in this protocol or anything it calls.
    pub ok: bool,
    /// Every error was recovered in place: the body is what the author
    /// wrote, so projection's diagnostics about it are worth reporting
    /// (the protocol still gets no code).
    pub faithful: bool,
    pub protocol: Option<GlobalProtocol>,
    pub summary: Summary,
    /// Statements in the lowered body, nested ones included.
    pub size: usize,
    /// Deepest block nesting of the lowered body.
    pub depth: usize,
}

/// Most statements one protocol may have after unrolling and inlining.
pub(crate) const MAX_STATEMENTS: usize = 200_000;
/// Deepest block nesting one protocol may reach after inlining (later
/// phases recurse over nesting).
pub(crate) const MAX_DEPTH: usize = 500;

/// What the rest of a block needs to know about a lowered statement or block.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    /// `rec`s whose `continue` can be reached from the start without any
    /// interaction, with the place of that `continue`.
    pub reach: Vec<(String, Loc)>,
    /// It can complete normally without any interaction.
    pub passes: bool,
    /// It never completes normally (every path continues a `rec`, or loops
    /// forever): the statement responsible.
    pub jumps: Option<Loc>,
    /// It ends with a `link` or `timeout` (which must be last in a block).
    pub terminal: Option<(Loc, Terminal)>,
    /// `continue`s on some of its paths that leave it (to a `rec` it does
    /// not declare): (rec, place), the first per rec. Whatever follows it in
    /// its block would be skipped on those paths, so they are not in tail
    /// position (the language contract §3.3).
    pub continues: Vec<(String, Loc)>,
}

/// Adds `more` to `into`, keeping the first place per `rec`.
fn add_continues(into: &mut Vec<(String, Loc)>, more: Vec<(String, Loc)>) {
    for (name, at) in more {
        if !into.iter().any(|(n, _)| *n == name) {
            into.push((name, at));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Terminal {
    Link,
    Timeout,
}

impl Summary {
    fn empty() -> Self {
        Summary {
            reach: Vec::new(),
            passes: true,
            jumps: None,
            terminal: None,
            continues: Vec::new(),
        }
    }

    /// A plain interaction (message, delegate).
    fn interaction() -> Self {
        Summary {
            passes: false,
            ..Summary::empty()
        }
    }
}

struct RoleEntry {
    /// The declaration's name, shared by every participant that names it.
    name: Name,
    size: Option<Size>,
    span: Span,
    used: bool,
}

struct RecFrame {
    name: String,
    span: Span,
    continued: bool,
}

struct LabelUse {
    /// The label's name, shared by every message that carries it.
    name: Arc<str>,
    canonical: Arc<str>,
    written: Arc<str>,
    span: Span,
}

/// Where a role reference appears, which decides its allowed forms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RefPlace {
    /// Sender or receiver of a message: a single role, `W[*]` or a member.
    Endpoint,
    /// One participant: chooser, delegate.
    One(&'static str),
    /// `call`/`link` argument: a single role, a member, or a bare family.
    Argument,
}

struct Lowering<'p, 'a> {
    program: &'p Program<'a>,
    results: &'p [Option<Lowered>],
    file: FileId,
    file_index: usize,
    proto: &'a ast::Protocol,
    roles: Vec<RoleEntry>,
    role_index: NameMap<String, usize>,
    params: Vec<String>,
    labels: NameMap<String, LabelUse>,
    /// The protocol's name, every label's namespace.
    namespace: Arc<str>,
    /// Payload texts seen so far (each stored once).
    texts: NameMap<String, Arc<str>>,
    recs: Vec<RecFrame>,
    /// `recs.len()` when entering each enclosing `par` branch or `for` body.
    barriers: Vec<(usize, &'static str, Span)>,
    /// Bound `for` variables: name, current value, span of the binding.
    vars: Vec<(String, u64, Span)>,
    diags: Vec<Diagnostic>,
    seen: HashSet<(Code, FileId, Span)>,
    errors: bool,
    /// Statements produced so far (nested and inlined ones included).
    produced: usize,
    /// Current and deepest block nesting.
    depth: usize,
    max_depth: usize,
    /// The size limit was hit (reported once); lowering stops.
    too_large: bool,
    /// Warnings shown only when the protocol has no errors (after an
    /// error they are mostly its echo).
    pending_warnings: Vec<Diagnostic>,
    /// The protocol declares no roles at all (reported once, not per use).
    no_roles: bool,
    /// An undeclared role was reported (a typo makes "unused" noise).
    undeclared_seen: bool,
    /// The parser skipped malformed text in the body: the roles it named
    /// are unknown, so "unused" would be noise.
    skipped_text: bool,
    /// Left out without a diagnostic of its own (parse error, or a callee
    /// with errors).
    silent: bool,
    /// An error made the lowered body differ from the source (a statement
    /// dropped); errors that are recovered in place (an undeclared role
    /// read as its likely meaning, a bad annotation left off) do not set
    /// it, so the body still says what the author wrote.
    lossy: bool,
    /// Undeclared single roles read as roles of their own, in first-use
    /// order (see `undeclared`).
    stand_ins: Vec<(String, Span)>,
}

/// Lowers and checks protocol `id`. Every callee must already have a result.
pub(crate) fn lower_protocol(
    program: &Program<'_>,
    id: usize,
    results: &[Option<Lowered>],
    diags: &mut Vec<Diagnostic>,
) -> Lowered {
    let Some(proto) = program.protos.get(id) else {
        return Lowered {
            ok: false,
            faithful: false,
            protocol: None,
            summary: Summary::empty(),
            size: 0,
            depth: 0,
        };
    };
    let mut cx = Lowering {
        program,
        results,
        file: proto.file,
        file_index: proto.file_index,
        proto: proto.ast,
        roles: Vec::new(),
        role_index: NameMap::default(),
        params: Vec::new(),
        labels: NameMap::default(),
        namespace: Arc::from(proto.ast.name.name.as_str()),
        texts: NameMap::default(),
        recs: Vec::new(),
        barriers: Vec::new(),
        vars: Vec::new(),
        diags: Vec::new(),
        seen: HashSet::new(),
        errors: false,
        undeclared_seen: false,
        skipped_text: false,
        pending_warnings: Vec::new(),
        no_roles: false,
        produced: 0,
        depth: 0,
        max_depth: 0,
        too_large: false,
        silent: proto.duplicate,
        lossy: false,
        stand_ins: Vec::new(),
    };
    cx.declarations();
    let (body, summary) = cx.block(&proto.ast.body);
    cx.finish();
    let module = program
        .modules
        .get(proto.module)
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let protocol = GlobalProtocol {
        module,
        name: String::from(proto.ast.name.name.as_str()),
        docs: proto.ast.leading.docs.clone(),
        params: cx.params.clone(),
        roles: cx
            .roles
            .iter()
            .map(|r| RoleInfo {
                name: r.name.clone(),
                family: r.size.clone(),
                loc: Loc {
                    file: cx.file,
                    span: r.span,
                },
            })
            .chain(cx.stand_ins.iter().map(|(name, span)| RoleInfo {
                name: Name::from(name.as_str()),
                family: None,
                loc: Loc {
                    file: cx.file,
                    span: *span,
                },
            }))
            .collect(),
        body,
        loc: Loc {
            file: cx.file,
            span: proto.ast.name.span,
        },
    };
    diags.append(&mut cx.diags);
    Lowered {
        ok: !cx.errors && !cx.silent,
        faithful: !cx.lossy && !cx.silent && !cx.too_large,
        protocol: Some(protocol),
        summary,
        size: cx.produced,
        depth: cx.max_depth,
    }
}

impl<'p, 'a> Lowering<'p, 'a> {
    fn loc(&self, span: Span) -> Loc {
        Loc {
            file: self.file,
            span,
        }
    }

    fn emit(&mut self, d: Diagnostic) {
        if d.is_error() {
            self.errors = true;
            let recovered_in_place = [
                codes::UNDECLARED_ROLE,
                codes::UNKNOWN_ANNOTATION,
                codes::ANNOTATION_ARGS,
            ];
            if !recovered_in_place.contains(&d.code) {
                self.lossy = true;
            }
        }
        if self.seen.insert((d.code, d.primary.file, d.primary.span)) {
            self.diags.push(d);
        }
    }

    fn error(
        &self,
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, message, self.file, span, label)
    }

    /// Reports (once) and returns true when adding `size` statements at
    /// `depth` more levels would exceed the limits.
    fn over_budget(&mut self, stmt: &Stmt, size: usize, depth: usize) -> bool {
        let too_many = self.produced.saturating_add(size) > MAX_STATEMENTS;
        let too_deep = self.depth.saturating_add(depth) > MAX_DEPTH;
        if !too_many && !too_deep {
            return false;
        }
        self.too_large = true;
        let what = if too_many {
            format!("more than {MAX_STATEMENTS} statements")
        } else {
            format!("blocks nested more than {MAX_DEPTH} deep")
        };
        let d = self
            .error(
                codes::TOO_LARGE,
                format!("protocol `{}` is too large after unrolling and inlining", self.name()),
                head_span(stmt),
                format!("unrolling or inlining this gives {what}"),
            )
            .with_hint("use `[*]` forms instead of `for` over large families, or `link` instead of deeply nested `call`s");
        self.emit(d);
        true
    }

    fn name(&self) -> &str {
        &self.proto.name.name
    }

    // ----- declarations -------------------------------------------------

    fn declarations(&mut self) {
        let proto = self.proto;
        let mut param_spans: HashMap<&str, Span> = HashMap::new();
        for p in &proto.params {
            if let Some(first) = param_spans.get(p.name.as_str()) {
                let d = self
                    .error(
                        codes::DUPLICATE_PARAM,
                        format!("parameter `{}` is declared twice", p.name),
                        p.span,
                        "second declaration",
                    )
                    .with_secondary(self.file, *first, "first declared here")
                    .with_hint("rename or remove one of them");
                self.emit(d);
                continue;
            }
            param_spans.insert(&p.name, p.span);
            self.params.push(String::from(p.name.as_str()));
        }

        if let (Some(roles_span), Some(first)) = (proto.roles_span, proto.body.stmts.first()) {
            if first.span.start < roles_span.start {
                let d = self
                    .error(
                        codes::ROLES_FIRST,
                        "`roles` must come first in a protocol body",
                        roles_span,
                        "declared after a statement",
                    )
                    .with_secondary(self.file, first.span, "first statement")
                    .with_hint("move the `roles …;` line to the top of the protocol body");
                self.emit(d);
            }
        }
        if proto.roles_span.is_none() && proto.roles.is_empty() && !proto.body.stmts.is_empty() {
            self.no_roles = true;
        }
        let parse_error = proto
            .body
            .stmts
            .iter()
            .any(|st| matches!(st.kind, StmtKind::Error));
        if self.no_roles && parse_error {
            // The parser already reported what went wrong with this body
            // (for example `roles` after a statement).
            self.silent = true;
        } else if self.no_roles {
            let d = self
                .error(
                    codes::ROLES_FIRST,
                    format!("protocol `{}` declares no roles", proto.name.name),
                    proto.name.span,
                    "no `roles` declaration",
                )
                .with_hint("start the body with the participants, e.g. `roles Client, Server;`");
            self.emit(d);
        }

        for decl in &proto.roles {
            if let Some(&first) = self.role_index.get(decl.name.name.as_str()) {
                let first_span = self.roles.get(first).map(|r| r.span).unwrap_or_default();
                let d = self
                    .error(
                        codes::DUPLICATE_ROLE,
                        format!("role `{}` is declared twice", decl.name.name),
                        decl.span,
                        "second declaration",
                    )
                    .with_secondary(self.file, first_span, "first declared here")
                    .with_hint("role names are unique in a protocol: remove or rename one");
                self.emit(d);
                continue;
            }
            let size = decl.family.as_ref().map(|s| self.size(s, "family size"));
            self.role_index
                .insert(String::from(decl.name.name.as_str()), self.roles.len());
            self.roles.push(RoleEntry {
                name: decl.name.name.clone(),
                // Keep the family a family even when its size is bad.
                size: size
                    .flatten()
                    .or_else(|| decl.family.as_ref().map(|_| bad_size())),
                span: decl.span,
                used: false,
            });
            if let Some(ast::Size::Literal { value: 0, span }) = &decl.family {
                let d = self
                    .error(
                        codes::ZERO_FAMILY,
                        format!("family `{}` has no members", decl.name.name),
                        *span,
                        "size 0",
                    )
                    .with_hint("a family needs at least one member");
                self.emit(d);
            }
        }
    }

    /// Resolves a size (family size, quorum, parameter argument).
    fn size(&mut self, size: &ast::Size, what: &str) -> Option<Size> {
        match size {
            ast::Size::Literal { value, .. } => Some(Size::Literal(*value)),
            ast::Size::Param(id) => {
                if self.params.iter().any(|p| *p == id.name) {
                    return Some(Size::Param(String::from(id.name.as_str())));
                }
                let suggestion = did_you_mean(&id.name, self.params.iter().map(String::as_str));
                let name = self.name().to_string();
                let d = self
                    .error(
                        codes::UNKNOWN_PARAM,
                        format!("unknown parameter `{}`", id.name),
                        id.span,
                        format!("`{name}` has no parameter `{}`", id.name),
                    )
                    .with_hint(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "a {what} is a literal or a parameter: declare it, `protocol {name}({}) {{ … }}`",
                            self.params
                                .iter()
                                .map(String::as_str)
                                .chain(std::iter::once(id.name.as_str()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                self.emit(d);
                None
            }
        }
    }

    fn finish(&mut self) {
        let proto = self.proto;
        if proto.body.stmts.is_empty() {
            let d = Diagnostic::warning(
                codes::EMPTY_PROTOCOL,
                format!("protocol `{}` has no statements", proto.name.name),
                self.file,
                proto.name.span,
                "empty protocol",
            )
            .with_hint("every role's projection is empty; add messages or remove the protocol");
            self.emit(d);
            return;
        }
        if self.undeclared_seen || self.skipped_text {
            // A typo's target would show up as "unused".
            self.roles.iter_mut().for_each(|r| r.used = true);
        }
        let unused: Vec<(String, Span)> = self
            .roles
            .iter()
            .filter(|r| !r.used)
            .map(|r| (String::from(r.name.as_str()), r.span))
            .collect();
        for (name, span) in unused {
            let d = Diagnostic::warning(
                codes::UNUSED_ROLE,
                format!("role `{name}` takes no part in `{}`", proto.name.name),
                self.file,
                span,
                "declared but never used",
            )
            .with_hint(format!(
                "remove `{name}` from `roles`, or give it a message"
            ));
            self.pending_warnings.push(d);
        }
        if !self.errors {
            for d in std::mem::take(&mut self.pending_warnings) {
                self.emit(d);
            }
        }
    }

    // ----- blocks and statements ---------------------------------------

    fn block(&mut self, block: &Block) -> (Vec<GStmt>, Summary) {
        let mut out = Vec::with_capacity(block.stmts.len());
        let mut sum = Summary::empty();
        let mut unreachable_reported = false;
        let count = block.stmts.len();
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
        for (i, stmt) in block.stmts.iter().enumerate() {
            if self.too_large {
                break;
            }
            if let (Some(jump), false) = (sum.jumps, unreachable_reported) {
                unreachable_reported = true;
                self.unreachable(stmt, jump);
            }
            let before = out.len();
            let s = self.stmt(stmt, &mut out);
            self.produced = self
                .produced
                .saturating_add(out.len().saturating_sub(before));
            let is_last = i + 1 == count;
            if !is_last && self.not_last(stmt, &s, block.stmts.get(i + 1)) {
                // "Must be last" already points at what follows; saying
                // "unreachable" too would report it twice.
                unreachable_reported = true;
            } else if !is_last && s.jumps.is_none() && !unreachable_reported {
                if let (Some((name, at)), Some(next)) =
                    (s.continues.first(), block.stmts.get(i + 1))
                {
                    self.continue_not_tail_in(stmt, name, *at, next);
                    unreachable_reported = true;
                }
            }
            add_continues(&mut sum.continues, s.continues.clone());
            if sum.passes {
                sum.reach.extend(s.reach);
            }
            sum.passes = sum.passes && s.passes;
            if sum.jumps.is_none() {
                sum.jumps = s.jumps;
            }
            sum.terminal = s.terminal;
        }
        self.depth -= 1;
        (out, sum)
    }

    /// `continue`, `link`, `timeout` (and calls ending with one) must be last.
    #[inline(never)]
    fn unreachable(&mut self, stmt: &Stmt, jump: Loc) {
        let d = self
            .error(
                codes::UNREACHABLE,
                "unreachable statement",
                stmt.span,
                "this can never run",
            )
            .with_secondary(
                jump.file,
                jump.span,
                "execution never gets past this: every path through it continues a `rec`",
            )
            .with_hint("remove the statement, or move it before the loop");
        self.emit(d);
    }

    /// A `continue` on some path through `stmt` (a `choice`, …) skips the
    /// statements after `stmt`: it is not in tail position.
    #[inline(never)]
    fn continue_not_tail_in(&mut self, stmt: &Stmt, name: &str, at: Loc, next: &Stmt) {
        let what = match &stmt.kind {
            StmtKind::Choice { .. } => "choice",
            StmtKind::Rec { .. } => "rec",
            StmtKind::For { .. } => "for",
            StmtKind::Timeout { .. } => "timeout",
            _ => "statement",
        };
        let d = Diagnostic::error(
            codes::CONTINUE_NOT_TAIL,
            format!("`continue {name}` is not in tail position"),
            at.file,
            at.span,
            format!("jumps back to `rec {name}` here, from inside a `{what}`"),
        )
        .with_secondary(
            self.file,
            next.span,
            format!("but this follows the `{what}`, so the jump would skip it"),
        )
        .with_hint(format!(
            "a `continue` must end its path: move the statements after the `{what}` into each of its branches (before the `continue`), or end the `rec` after the `{what}`"
        ));
        self.emit(d);
    }

    /// Returns true when it reported something.
    #[inline(never)]
    fn not_last(&mut self, stmt: &Stmt, s: &Summary, next: Option<&Stmt>) -> bool {
        let next_span = next.map(|n| n.span).unwrap_or(stmt.span);
        match &stmt.kind {
            StmtKind::Continue { name } => {
                let d = self
                    .error(
                        codes::CONTINUE_NOT_TAIL,
                        format!(
                            "`continue {}` is not the last statement of its block",
                            name.name
                        ),
                        stmt.span,
                        "jumps back to the `rec` here",
                    )
                    .with_secondary(self.file, next_span, "so this would never run")
                    .with_hint("move the statements after `continue` before it, or remove them");
                self.emit(d);
                true
            }
            StmtKind::Link(inv) => {
                let d = self
                    .error(
                        codes::LINK_NOT_LAST,
                        format!("`link {}` is not the last statement of its block", inv.protocol.dotted()),
                        stmt.span,
                        "the linked roles leave this protocol here",
                    )
                    .with_secondary(self.file, next_span, "but this statement follows")
                    .with_hint("make the `link` the last statement: move what follows before it, or into the linked protocol");
                self.emit(d);
                true
            }
            StmtKind::Timeout { .. } => {
                let d = self
                    .error(
                        codes::TIMEOUT_NOT_LAST,
                        "`timeout` is not the last statement of its block",
                        head_span(stmt),
                        "this `timeout` …",
                    )
                    .with_secondary(self.file, next_span, "… is followed by this")
                    .with_hint(
                        "move the statements that follow into both the body and the `else` handler",
                    );
                self.emit(d);
                true
            }
            StmtKind::Call(inv) => {
                let Some((loc, kind)) = s.terminal else {
                    return false;
                };
                let (code, what) = match kind {
                    Terminal::Link => (codes::LINK_NOT_LAST, "`link`"),
                    Terminal::Timeout => (codes::TIMEOUT_NOT_LAST, "`timeout`"),
                };
                let d = self
                    .error(
                        code,
                        format!(
                            "`call {}` ends with a {what} but is not the last statement of its block",
                            inv.protocol.dotted()
                        ),
                        stmt.span,
                        format!("the inlined protocol ends with a {what}"),
                    )
                    .with_secondary(loc.file, loc.span, format!("the {what} is here"))
                    .with_secondary(self.file, next_span, "but this statement follows the call")
                    .with_hint("make the `call` the last statement of its block");
                self.emit(d);
                true
            }
            _ => false,
        }
    }

    /// Lowers one statement. Recursion goes through here, so it keeps a
    /// small stack frame: every arm with diagnostics of its own calls out.
    fn stmt(&mut self, stmt: &Stmt, out: &mut Vec<GStmt>) -> Summary {
        if !stmt.annotations.is_empty() && !matches!(stmt.kind, StmtKind::Message(_)) {
            self.misplaced_annotations(stmt);
        }
        match &stmt.kind {
            StmtKind::Message(m) => {
                if let Some(g) = self.message(stmt, m) {
                    out.push(GStmt::Message(g));
                }
                Summary::interaction()
            }
            StmtKind::Choice { chooser, branches } => self.choice(stmt, chooser, branches, out),
            StmtKind::Rec { name, body } => self.rec(stmt, name, body, out),
            StmtKind::Continue { name } => self.continue_(stmt, name, out),
            StmtKind::Par { branches } => self.par(stmt, branches, out),
            StmtKind::For { var, family, body } => self.for_(stmt, var, family, body, out),
            StmtKind::Call(inv) => self.call(stmt, inv, out),
            StmtKind::Link(inv) => {
                if let Some(link) = self.link(stmt, inv) {
                    out.push(link);
                }
                Summary {
                    terminal: Some((self.loc(stmt.span), Terminal::Link)),
                    ..Summary::interaction()
                }
            }
            StmtKind::Delegate { from, to } => {
                if let Some(d) = self.delegate(stmt, from, to) {
                    out.push(d);
                }
                Summary::interaction()
            }
            StmtKind::Timeout {
                duration,
                body,
                handler,
            } => self.timeout(stmt, duration, body, handler, out),
            StmtKind::Error => {
                self.silent = true;
                self.skipped_text = true;
                Summary::interaction()
            }
        }
    }

    #[inline(never)]
    fn misplaced_annotations(&mut self, stmt: &Stmt) {
        for a in &stmt.annotations {
            let d = self
                .error(
                    codes::ANNOTATION_PLACE,
                    format!("`@{}` can only annotate a message", a.name.name),
                    a.span,
                    "not before a message",
                )
                .with_secondary(self.file, own_part(stmt), "this statement is not a message")
                .with_hint("move the annotation before the message it applies to");
            self.emit(d);
        }
    }

    #[inline(never)]
    fn delegate(&mut self, stmt: &Stmt, from: &RoleRef, to: &RoleRef) -> Option<GStmt> {
        let f = self.role_ref(from, RefPlace::One("delegate"));
        let t = self.role_ref(to, RefPlace::One("delegate"));
        let (f, t) = (f?, t?);
        if f == t {
            let d = self
                .error(
                    codes::DELEGATE_SELF,
                    format!("`{f}` delegates to itself"),
                    to.span,
                    "the same participant as the delegating role",
                )
                .with_hint("delegate to another role, or remove the statement");
            self.emit(d);
            return None;
        }
        Some(GStmt::Delegate {
            from: f,
            to: t,
            loc: self.loc(stmt.span),
        })
    }
}

/// The size of a family whose declared size was reported as invalid.
fn bad_size() -> Size {
    Size::Param(String::new())
}

/// The first line of a statement, for secondary labels: `rec Loop`,
/// `choice at A`, `timeout 2s`, `par`, `for i in W`; a whole simple statement.
fn head_span(stmt: &Stmt) -> Span {
    let end = match &stmt.kind {
        StmtKind::Choice { chooser, .. } => chooser.span.end,
        StmtKind::Rec { name, .. } => name.span.end,
        StmtKind::Timeout { duration, .. } => duration.span.end,
        StmtKind::Par { .. } => stmt.span.start.saturating_add(3),
        StmtKind::For { family, .. } => family.span.end,
        _ => stmt.span.end,
    };
    Span {
        start: stmt.span.start,
        end: end.clamp(stmt.span.start, stmt.span.end),
    }
}

/// A span inside the statement that does not include its annotations.
fn own_part(stmt: &Stmt) -> Span {
    match &stmt.kind {
        StmtKind::Choice { chooser, .. } => chooser.span,
        StmtKind::Rec { name, .. } | StmtKind::Continue { name } => name.span,
        StmtKind::Timeout { duration, .. } => duration.span,
        StmtKind::For { var, family, .. } => var.span.to(family.span),
        StmtKind::Call(inv) | StmtKind::Link(inv) => inv.protocol.span,
        StmtKind::Delegate { from, to } => from.span.to(to.span),
        StmtKind::Par { branches } => branches.first().map(|b| b.span).unwrap_or(stmt.span),
        StmtKind::Message(_) | StmtKind::Error => stmt.span,
    }
}

fn member_index(member: &str) -> Option<u64> {
    let open = member.rfind('[')?;
    member
        .get(open + 1..member.len().saturating_sub(1))?
        .parse()
        .ok()
}
