//! Lowering one protocol: AST → [`global::GlobalProtocol`], with every
//! static check on the way. Iterates over statement sequences and recurses
//! only over nesting (blocks inside statements).

use std::collections::{HashMap, HashSet};

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
    GBranch, GMessage, GStmt, GlobalProtocol, Label, Loc, Participant, Payload, RoleInfo, Size,
};
use crate::span::{FileId, Span};

/// The result of lowering one protocol.
#[derive(Debug)]
pub(crate) struct Lowered {
    /// No error in this protocol or anything it calls.
    pub ok: bool,
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
    name: String,
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
    canonical: String,
    written: String,
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
    role_index: HashMap<String, usize>,
    params: Vec<String>,
    labels: HashMap<String, LabelUse>,
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
    /// Left out without a diagnostic of its own (parse error, or a callee
    /// with errors).
    silent: bool,
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
        role_index: HashMap::new(),
        params: Vec::new(),
        labels: HashMap::new(),
        recs: Vec::new(),
        barriers: Vec::new(),
        vars: Vec::new(),
        diags: Vec::new(),
        seen: HashSet::new(),
        errors: false,
        undeclared_seen: false,
        pending_warnings: Vec::new(),
        no_roles: false,
        produced: 0,
        depth: 0,
        max_depth: 0,
        too_large: false,
        silent: proto.duplicate,
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
        name: proto.ast.name.name.clone(),
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
            self.params.push(p.name.clone());
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
            if let Some(&first) = self.role_index.get(&decl.name.name) {
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
                .insert(decl.name.name.clone(), self.roles.len());
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
                if self.params.contains(&id.name) {
                    return Some(Size::Param(id.name.clone()));
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
        if self.undeclared_seen {
            // A typo's target would show up as "unused".
            self.roles.iter_mut().for_each(|r| r.used = true);
        }
        let unused: Vec<(String, Span)> = self
            .roles
            .iter()
            .filter(|r| !r.used)
            .map(|r| (r.name.clone(), r.span))
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
            if let Some(jump) = sum.jumps {
                if !unreachable_reported {
                    unreachable_reported = true;
                    let d = self
                        .error(
                            codes::UNREACHABLE,
                            "unreachable statement",
                            stmt.span,
                            "this can never run",
                        )
                        .with_secondary(jump.file, jump.span, "execution never gets past this: every path through it continues a `rec`")
                        .with_hint("remove the statement, or move it before the loop");
                    self.emit(d);
                }
            }
            let before = out.len();
            let s = self.stmt(stmt, &mut out);
            self.produced = self
                .produced
                .saturating_add(out.len().saturating_sub(before));
            let is_last = i + 1 == count;
            if !is_last {
                self.not_last(stmt, &s, block.stmts.get(i + 1));
            }
            if sum.passes {
                sum.reach.extend(s.reach);
            }
            sum.passes = sum.passes && s.passes;
            if sum.jumps.is_none() {
                sum.jumps = s.jumps;
                // A `continue` followed by statements is reported as not
                // in tail position; "unreachable" would say it twice.
                if s.jumps.is_some() && matches!(stmt.kind, StmtKind::Continue { .. }) {
                    unreachable_reported = true;
                }
            }
            sum.terminal = s.terminal;
        }
        self.depth -= 1;
        (out, sum)
    }

    /// `continue`, `link`, `timeout` (and calls ending with one) must be last.
    fn not_last(&mut self, stmt: &Stmt, s: &Summary, next: Option<&Stmt>) {
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
            }
            StmtKind::Call(inv) => {
                if let Some((loc, kind)) = s.terminal {
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
                }
            }
            _ => {}
        }
    }

    fn stmt(&mut self, stmt: &Stmt, out: &mut Vec<GStmt>) -> Summary {
        if !stmt.annotations.is_empty() && !matches!(stmt.kind, StmtKind::Message(_)) {
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
        let loc = self.loc(stmt.span);
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
                    terminal: Some((loc, Terminal::Link)),
                    ..Summary::interaction()
                }
            }
            StmtKind::Delegate { from, to } => {
                let f = self.role_ref(from, RefPlace::One("delegate"));
                let t = self.role_ref(to, RefPlace::One("delegate"));
                if let (Some(f), Some(t)) = (f, t) {
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
                    } else {
                        out.push(GStmt::Delegate {
                            from: f,
                            to: t,
                            loc,
                        });
                    }
                }
                Summary::interaction()
            }
            StmtKind::Timeout {
                duration,
                body,
                handler,
            } => {
                if duration.value == 0 {
                    let d = self
                        .error(
                            codes::ZERO_TIMEOUT,
                            "`timeout` of zero duration",
                            duration.span,
                            "the deadline would pass at once",
                        )
                        .with_hint("use a positive duration such as `500ms` or `2s`");
                    self.emit(d);
                }
                let (b, bs) = self.block(body);
                let (h, hs) = self.block(handler);
                out.push(GStmt::Timeout {
                    millis: duration.millis(),
                    text: duration.to_string(),
                    body: b,
                    handler: h,
                    loc,
                });
                let mut reach = bs.reach;
                reach.extend(hs.reach);
                Summary {
                    reach,
                    passes: bs.passes || hs.passes,
                    jumps: bs.jumps.and(hs.jumps).map(|_| self.loc(head_span(stmt))),
                    terminal: Some((self.loc(head_span(stmt)), Terminal::Timeout)),
                }
            }
            StmtKind::Error => {
                self.silent = true;
                Summary::interaction()
            }
        }
    }

    // ----- role references ---------------------------------------------

    fn undeclared(&mut self, id: &ast::Ident) {
        self.undeclared_seen = true;
        if self.no_roles {
            // Reported once for the protocol.
            self.errors = true;
            return;
        }
        let suggestion = did_you_mean(&id.name, self.roles.iter().map(|r| r.name.as_str()));
        let name = self.name().to_string();
        let mut d = self.error(
            codes::UNDECLARED_ROLE,
            format!("undeclared role `{}`", id.name),
            id.span,
            format!("`{}` is not a role of `{name}`", id.name),
        );
        if let Some(span) = self.proto.roles_span {
            d = d.with_secondary(self.file, span, "roles are declared here");
        }
        d = d.with_hint(match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("add `{}` to the `roles` declaration", id.name),
        });
        self.emit(d);
    }

    /// Resolves a role reference in the current `for` environment.
    fn role_ref(&mut self, r: &RoleRef, place: RefPlace) -> Option<Participant> {
        let Some(&index) = self.role_index.get(&r.role.name) else {
            self.undeclared(&r.role);
            return None;
        };
        let (name, size, decl_span) = {
            let entry = self.roles.get_mut(index)?;
            entry.used = true;
            (entry.name.clone(), entry.size.clone(), entry.span)
        };
        let Some(size) = size else {
            // A single role.
            return match &r.index {
                None => Some(Participant::Role(name)),
                Some(RoleIndex::All { span }) => {
                    let d = self
                        .error(
                            codes::ALL_ON_SINGLE,
                            format!("`[*]` on single role `{name}`"),
                            *span,
                            "`[*]` means every member of a family",
                        )
                        .with_secondary(
                            self.file,
                            decl_span,
                            format!("`{name}` is declared as a single role here"),
                        )
                        .with_hint(format!(
                            "write `{name}` without brackets, or declare a family: `{name}[n]`"
                        ));
                    self.emit(d);
                    None
                }
                Some(idx) => {
                    let d = self
                        .error(
                            codes::INDEX_ON_SINGLE,
                            format!("index on single role `{name}`"),
                            idx.span(),
                            format!("`{name}` has no members"),
                        )
                        .with_secondary(
                            self.file,
                            decl_span,
                            format!("`{name}` is declared as a single role here"),
                        )
                        .with_hint(format!(
                            "write `{name}` without an index, or declare a family: `{name}[n]`"
                        ));
                    self.emit(d);
                    None
                }
            };
        };
        match &r.index {
            None => match place {
                RefPlace::Argument => Some(Participant::All(name)),
                RefPlace::Endpoint => {
                    let d = self
                        .error(
                            codes::FAMILY_WITHOUT_INDEX,
                            format!("family `{name}` needs an index here"),
                            r.span,
                            "which members?",
                        )
                        .with_secondary(
                            self.file,
                            decl_span,
                            format!("`{name}` is a family of size {size}"),
                        )
                        .with_hint(format!(
                            "write `{name}[*]` for every member, or `{name}[0]` for one member"
                        ));
                    self.emit(d);
                    None
                }
                RefPlace::One(what) => {
                    let d = self
                        .error(
                            codes::BAD_CHOOSER,
                            format!("the {what} must be one participant, not family `{name}`"),
                            r.span,
                            "a whole family",
                        )
                        .with_secondary(
                            self.file,
                            decl_span,
                            format!("`{name}` is a family of size {size}"),
                        )
                        .with_hint(format!("name one member, e.g. `{name}[0]`"));
                    self.emit(d);
                    None
                }
            },
            Some(RoleIndex::All { span }) => {
                match place {
                    RefPlace::Endpoint => Some(Participant::All(name)),
                    RefPlace::One(what) => {
                        let d = self
                            .error(
                                codes::BAD_CHOOSER,
                                format!("the {what} must be one participant, not `{name}[*]`"),
                                r.span,
                                "every member of a family",
                            )
                            .with_hint(format!("name one member, e.g. `{name}[0]`"));
                        let _ = span;
                        self.emit(d);
                        None
                    }
                    RefPlace::Argument => {
                        let d = self
                        .error(
                            codes::ALL_NOT_ALLOWED,
                            format!("`{name}[*]` cannot be passed as an argument"),
                            *span,
                            "pass the family by its bare name",
                        )
                        .with_hint(format!("write `{name}` to bind a family, or `{name}[0]` to bind one member"));
                        self.emit(d);
                        None
                    }
                }
            }
            Some(RoleIndex::Literal { value, span }) => {
                if let Size::Literal(s) = size {
                    if *value >= s {
                        let members = if s == 1 {
                            format!("`{name}` has one member, `{name}[0]`")
                        } else {
                            format!("`{name}` has members `{name}[0]` … `{name}[{}]`", s - 1)
                        };
                        let d = self
                            .error(
                                codes::INDEX_OUT_OF_RANGE,
                                format!(
                                    "index {value} is out of range for family `{name}` of size {s}"
                                ),
                                *span,
                                members,
                            )
                            .with_secondary(self.file, decl_span, "size declared here")
                            .with_hint(format!("use an index below {s}, or enlarge the family"));
                        self.emit(d);
                        return None;
                    }
                }
                Some(Participant::Member(name, *value))
            }
            Some(RoleIndex::Var { var, offset, span }) => {
                let Some(&(_, value, _)) = self.vars.iter().rev().find(|(v, _, _)| *v == var.name)
                else {
                    let is_param = self.params.contains(&var.name);
                    let suggestion =
                        did_you_mean(&var.name, self.vars.iter().map(|(v, _, _)| v.as_str()));
                    let label = if is_param {
                        format!(
                            "`{}` is a parameter; only `for` variables can index",
                            var.name
                        )
                    } else {
                        format!("no enclosing `for` binds `{}`", var.name)
                    };
                    let d = self
                        .error(
                            codes::UNBOUND_INDEX,
                            format!("unbound index variable `{}`", var.name),
                            var.span,
                            label,
                        )
                        .with_hint(match suggestion {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "wrap the statement in `for {} in {name} {{ … }}`, or use a literal index or `[*]`",
                                var.name
                            ),
                        });
                    self.emit(d);
                    return None;
                };
                let Size::Literal(s) = size else {
                    if size == bad_size() {
                        return None;
                    }
                    let d = self
                        .error(
                            codes::FOR_NEEDS_LITERAL,
                            format!(
                                "`{name}[{}…]` needs family `{name}` to have a literal size",
                                var.name
                            ),
                            *span,
                            "cannot be evaluated at compile time",
                        )
                        .with_secondary(
                            self.file,
                            decl_span,
                            format!("`{name}` is sized by parameter `{size}`"),
                        )
                        .with_hint(format!(
                            "declare `{name}` with a literal size, e.g. `{name}[4]`"
                        ));
                    self.emit(d);
                    return None;
                };
                if s == 0 {
                    return None;
                }
                let index = (i128::from(value) + i128::from(*offset)).rem_euclid(i128::from(s));
                Some(Participant::Member(name, u64::try_from(index).unwrap_or(0)))
            }
        }
    }

    fn family_size(&self, name: &str) -> Option<&Size> {
        self.role_index
            .get(name)
            .and_then(|&i| self.roles.get(i))
            .and_then(|r| r.size.as_ref())
    }

    /// ` (with i = 2)` when inside unrolled loops.
    fn iteration(&self) -> String {
        if self.vars.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .vars
            .iter()
            .map(|(v, k, _)| format!("{v} = {k}"))
            .collect();
        format!(" (when {})", parts.join(", "))
    }

    // ----- messages ------------------------------------------------------

    fn message(&mut self, stmt: &Stmt, m: &Message) -> Option<GMessage> {
        let mut found = Vec::new();
        let annotations = annotations::check(&stmt.annotations, self.file, &mut found);
        for d in found {
            // Through `emit`, so an unrolled loop reports each once.
            self.emit(d);
        }
        if annotations.len() != stmt.annotations.len() {
            self.errors = true;
        }
        let from = self.role_ref(&m.from, RefPlace::Endpoint);
        let to = self.role_ref(&m.to, RefPlace::Endpoint);
        let payload = self.payload(m);
        let quorum = m.quorum.as_ref().and_then(|q| self.size(q, "quorum"));
        let (from, to) = (from?, to?);

        // Self-sends, also those that appear only after unrolling.
        let same_family = |a: &str, b: &str| a == b;
        let family_one = |name: &str| matches!(self.family_size(name), Some(Size::Literal(1)));
        let problem = match (&from, &to) {
            (Participant::Role(a), Participant::Role(b)) if a == b => {
                Some(format!("`{a}` sends to itself"))
            }
            (Participant::Member(a, i), Participant::Member(b, j)) if a == b && i == j => {
                Some(format!("`{a}[{i}]` sends to itself{}", self.iteration()))
            }
            (Participant::Member(a, i), Participant::All(b))
                if same_family(a, b) && family_one(a) =>
            {
                Some(format!(
                "`{a}[{i}]` broadcasts to the other members of `{a}`, but `{a}` has only one member"
            ))
            }
            (Participant::All(a), Participant::Member(b, i))
                if same_family(a, b) && family_one(a) =>
            {
                Some(format!(
                    "the other members of `{a}` send to `{a}[{i}]`, but `{a}` has only one member"
                ))
            }
            (Participant::All(a), Participant::All(b)) if same_family(a, b) && family_one(a) => {
                Some(format!(
                    "the members of `{a}` exchange values, but `{a}` has only one member"
                ))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            let d = self
                .error(
                    codes::SELF_SEND,
                    format!("self-send: {problem}"),
                    m.to.span,
                    "the receiver is the sender",
                )
                .with_secondary(self.file, m.from.span, "sender")
                .with_hint(
                    "a role never messages itself: keep the value locally, or send to another role",
                );
            self.emit(d);
            return None;
        }

        if let Some(q) = &m.quorum {
            let collective = matches!(from, Participant::All(_));
            if !collective {
                let d = self
                    .error(
                        codes::QUORUM_NOT_COLLECTIVE,
                        format!("`quorum` on a receive from the single sender `{from}`"),
                        q.span(),
                        "only a collective receive waits for several values",
                    )
                    .with_secondary(self.file, m.from.span, "one sender")
                    .with_hint("remove `quorum`, or gather from every member: `W[*] -> …`");
                self.emit(d);
            } else if let Some(Size::Literal(0)) = quorum {
                let d = self
                    .error(
                        codes::QUORUM_ZERO,
                        "`quorum 0` waits for nothing",
                        q.span(),
                        "must be at least 1",
                    )
                    .with_hint(
                        "a receiver must wait for at least one value: use `quorum 1` or more",
                    );
                self.emit(d);
            } else if let Some(Size::Literal(qv)) = quorum {
                let size = self.family_size(from.role_name()).cloned();
                if let Some(limit) = quorum_limit(&from, &to, size.as_ref()) {
                    if qv > limit {
                        let what = match (&from, &to) {
                            (Participant::All(a), Participant::All(b)) if a == b => {
                                format!("an exchange in `{a}` yields {limit} values per member, its own included")
                            }
                            (Participant::All(a), Participant::Member(b, i)) if a == b => {
                                format!("`{a}[*] -> {b}[{i}]` has {limit} senders (every member but `{b}[{i}]`)")
                            }
                            _ => format!("`{from}` has {limit} senders"),
                        };
                        let d = self
                            .error(
                                codes::QUORUM_TOO_LARGE,
                                format!("quorum {qv} can never be reached"),
                                q.span(),
                                what,
                            )
                            .with_hint(format!("use a quorum between 1 and {limit}"));
                        self.emit(d);
                    }
                }
            }
        }

        let payload = payload?;
        self.label(m, &payload);
        Some(GMessage {
            from,
            to,
            label: Label {
                name: m.label.name.clone(),
                namespace: self.name().to_string(),
            },
            payload,
            quorum,
            annotations,
            loc: self.loc(stmt.span),
        })
    }

    fn payload(&mut self, m: &Message) -> Option<Payload> {
        let Some(ty) = &m.payload else {
            return Some(Payload::unit());
        };
        let module = self.program.module_of_file(self.file_index)?;
        let mut mentioned = Vec::new();
        types::mentioned_names(ty, &mut mentioned);
        if mentioned.iter().any(|n| module.bad_aliases.contains(n)) {
            self.silent = true;
        }
        match (
            types::written(ty),
            types::canonical(ty, &module.alias_texts),
        ) {
            (Some(written), Some(canonical)) => Some(Payload { written, canonical }),
            _ => {
                self.silent = true;
                None
            }
        }
    }

    fn label(&mut self, m: &Message, payload: &Payload) {
        let name = &m.label.name;
        let span = m
            .payload
            .as_ref()
            .map(|p| m.label.span.to(p.span))
            .unwrap_or(m.label.span);
        match self.labels.get(name) {
            None => {
                self.labels.insert(
                    name.clone(),
                    LabelUse {
                        canonical: payload.canonical.clone(),
                        written: payload.written.clone(),
                        span,
                    },
                );
            }
            Some(first) if first.canonical != payload.canonical => {
                let (first_written, first_span) = (first.written.clone(), first.span);
                let expanded = |w: &str, c: &str| {
                    if w == c {
                        format!("`{w}`")
                    } else {
                        format!("`{w}` (= `{c}`)")
                    }
                };
                let first_text = expanded(&first_written, &first.canonical.clone());
                let this_text = expanded(&payload.written, &payload.canonical);
                let d = self
                    .error(
                        codes::LABEL_PAYLOAD,
                        format!("label `{name}` is used with two payload types"),
                        span,
                        format!("here it carries {this_text}"),
                    )
                    .with_secondary(self.file, first_span, format!("first used here with {first_text}"))
                    .with_hint(format!(
                        "within one protocol a label always carries the same type: rename this label (e.g. `{name}2`) or use {first_text}"
                    ));
                self.emit(d);
            }
            Some(_) => {}
        }
    }

    // ----- choice, rec, continue, par, for ----------------------------------

    fn choice(
        &mut self,
        stmt: &Stmt,
        chooser: &RoleRef,
        branches: &[ast::ChoiceBranch],
        out: &mut Vec<GStmt>,
    ) -> Summary {
        let loc = self.loc(stmt.span);
        let who = self.role_ref(chooser, RefPlace::One("chooser"));
        if branches.is_empty() {
            let d = self
                .error(
                    codes::EMPTY_CHOICE,
                    "`choice` without branches",
                    stmt.span,
                    "no branches",
                )
                .with_hint("add at least one branch: `Name => { … }`, or remove the `choice`");
            self.emit(d);
        }
        let mut names: HashMap<&str, Span> = HashMap::new();
        let mut lowered = Vec::with_capacity(branches.len());
        let mut reach = Vec::new();
        let mut passes = false;
        let mut all_jump = !branches.is_empty();
        let mut terminal = None;
        for b in branches {
            if let Some(first) = names.get(b.name.name.as_str()) {
                let d = self
                    .error(
                        codes::DUPLICATE_BRANCH,
                        format!("duplicate branch `{}`", b.name.name),
                        b.name.span,
                        "second branch with this name",
                    )
                    .with_secondary(self.file, *first, "first branch with this name")
                    .with_hint(
                        "branch names become the chooser's selection enum variants: rename one",
                    );
                self.emit(d);
            } else {
                names.insert(&b.name.name, b.name.span);
            }
            let (body, s) = self.block(&b.body);
            reach.extend(s.reach);
            passes |= s.passes;
            all_jump &= s.jumps.is_some();
            terminal = terminal.or(s.terminal);
            lowered.push(GBranch {
                name: b.name.name.clone(),
                body,
                loc: self.loc(b.span),
            });
        }
        if let Some(chooser) = who {
            out.push(GStmt::Choice {
                chooser,
                branches: lowered,
                loc,
            });
        }
        Summary {
            reach,
            passes,
            jumps: all_jump.then_some(self.loc(head_span(stmt))),
            terminal,
        }
    }

    fn rec(
        &mut self,
        stmt: &Stmt,
        name: &ast::Ident,
        body: &Block,
        out: &mut Vec<GStmt>,
    ) -> Summary {
        let loc = self.loc(stmt.span);
        if let Some(outer) = self.recs.iter().rev().find(|f| f.name == name.name) {
            let outer_span = outer.span;
            let d = self
                .error(
                    codes::REC_SHADOWS,
                    format!(
                        "`rec {}` shadows an enclosing `rec` of the same name",
                        name.name
                    ),
                    name.span,
                    "inner `rec`",
                )
                .with_secondary(self.file, outer_span, "enclosing `rec` with this name")
                .with_hint(format!(
                    "rename the inner loop, e.g. `rec {}Inner`",
                    name.name
                ));
            self.emit(d);
        }
        self.recs.push(RecFrame {
            name: name.name.clone(),
            span: name.span,
            continued: false,
        });
        let (lowered, s) = self.block(body);
        let continued = self.recs.pop().is_some_and(|f| f.continued);
        if !continued {
            let d = Diagnostic::warning(
                codes::REC_NEVER_CONTINUES,
                format!("`rec {}` never continues, so it runs once", name.name),
                self.file,
                name.span,
                "no `continue` in its body",
            )
            .with_hint(format!(
                "add `continue {};` where the loop should repeat, or remove the `rec`",
                name.name
            ));
            self.pending_warnings.push(d);
        }
        let mut reach = Vec::new();
        for (target, at) in s.reach {
            if target == name.name {
                let d = self
                    .error(
                        codes::UNGUARDED_REC,
                        format!("unguarded recursion in `rec {}`", name.name),
                        name.span,
                        "this loop can repeat without any interaction",
                    )
                    .with_secondary(at.file, at.span, "reached from the start of the body without a message")
                    .with_hint("put a message on every path from the start of the `rec` body to this `continue`");
                self.emit(d);
            } else {
                reach.push((target, at));
            }
        }
        out.push(GStmt::Rec {
            name: name.name.clone(),
            body: lowered,
            loc,
        });
        Summary {
            reach,
            passes: s.passes,
            jumps: s.jumps.map(|_| self.loc(head_span(stmt))),
            terminal: s.terminal,
        }
    }

    fn continue_(&mut self, stmt: &Stmt, name: &ast::Ident, out: &mut Vec<GStmt>) -> Summary {
        let loc = self.loc(stmt.span);
        let found = self.recs.iter().rposition(|f| f.name == name.name);
        match found {
            None => {
                let suggestion =
                    did_you_mean(&name.name, self.recs.iter().map(|f| f.name.as_str()));
                let label = if self.recs.is_empty() {
                    "not inside any `rec`".to_string()
                } else {
                    format!("no enclosing `rec {}`", name.name)
                };
                let d = self
                    .error(
                        codes::UNBOUND_CONTINUE,
                        format!(
                            "`continue {}` has no enclosing `rec {}`",
                            name.name, name.name
                        ),
                        name.span,
                        label,
                    )
                    .with_hint(match suggestion {
                        Some(s) => format!("did you mean `continue {s};`?"),
                        None => format!("wrap the loop body in `rec {} {{ … }}`", name.name),
                    });
                self.emit(d);
                Summary::interaction()
            }
            Some(index) => {
                if let Some(frame) = self.recs.get_mut(index) {
                    frame.continued = true;
                }
                if let Some(&(depth, kind, span)) = self.barriers.last() {
                    if index < depth {
                        let rec_span = self.recs.get(index).map(|f| f.span).unwrap_or_default();
                        let d = self
                            .error(
                                codes::CONTINUE_ESCAPES,
                                format!("`continue {}` jumps out of a `{kind}`", name.name),
                                stmt.span,
                                format!("inside this `{kind}`"),
                            )
                            .with_secondary(self.file, span, format!("the `{kind}` starts here"))
                            .with_secondary(self.file, rec_span, "the `rec` is outside it")
                            .with_hint(format!(
                                "put `continue {};` after the `{kind}` instead",
                                name.name
                            ));
                        self.emit(d);
                    }
                }
                out.push(GStmt::Continue {
                    name: name.name.clone(),
                    loc,
                });
                Summary {
                    reach: vec![(name.name.clone(), loc)],
                    passes: false,
                    jumps: Some(loc),
                    terminal: None,
                }
            }
        }
    }

    fn par(&mut self, stmt: &Stmt, branches: &[Block], out: &mut Vec<GStmt>) -> Summary {
        let loc = self.loc(stmt.span);
        let par_span = head_span(stmt);
        let mut lowered = Vec::with_capacity(branches.len());
        let mut passes = true;
        let mut jumps = None;
        for b in branches {
            self.barriers.push((self.recs.len(), "par", par_span));
            let (body, s) = self.block(b);
            self.barriers.pop();
            passes &= s.passes;
            jumps = jumps.or(s.jumps.map(|_| self.loc(head_span(stmt))));
            lowered.push(body);
        }
        for shared in par::shared_pairs(&lowered) {
            let d = Diagnostic::error(
                codes::PAR_SHARED_PAIR,
                format!(
                    "`par` branches {} and {} both send from `{}` to `{}`",
                    shared.earlier_branch + 1,
                    shared.later_branch + 1,
                    shared.sender,
                    shared.receiver
                ),
                shared.later.file,
                shared.later.span,
                format!("branch {} sends from `{}` to `{}` here", shared.later_branch + 1, shared.sender, shared.receiver),
            )
            .with_secondary(
                shared.earlier.file,
                shared.earlier.span,
                format!("branch {} uses the same pair here", shared.earlier_branch + 1),
            )
            .with_hint("a message could be received by the wrong branch: sequence these messages outside the `par`, or use different roles");
            self.emit(d);
        }
        out.push(GStmt::Par {
            branches: lowered,
            loc,
        });
        Summary {
            reach: Vec::new(),
            passes,
            jumps,
            terminal: None,
        }
    }

    fn for_(
        &mut self,
        stmt: &Stmt,
        var: &ast::Ident,
        family: &ast::Ident,
        body: &Block,
        out: &mut Vec<GStmt>,
    ) -> Summary {
        if let Some((_, _, outer)) = self.vars.iter().rev().find(|(v, _, _)| *v == var.name) {
            let outer = *outer;
            let d = self
                .error(
                    codes::INDEX_VAR_SHADOWS,
                    format!("`for {}` shadows an enclosing loop variable", var.name),
                    var.span,
                    "inner loop variable",
                )
                .with_secondary(self.file, outer, "enclosing loop variable with this name")
                .with_hint("pick another name, e.g. `j`");
            self.emit(d);
            return Summary::interaction();
        }
        let Some(&index) = self.role_index.get(&family.name) else {
            self.undeclared(family);
            return Summary::interaction();
        };
        let (size, decl_span) = match self.roles.get_mut(index) {
            Some(entry) => {
                entry.used = true;
                (entry.size.clone(), entry.span)
            }
            None => return Summary::interaction(),
        };
        let count = match size {
            None => {
                let d = self
                    .error(
                        codes::FOR_OVER_SINGLE,
                        format!("`for` over single role `{}`", family.name),
                        family.span,
                        "not a family",
                    )
                    .with_secondary(
                        self.file,
                        decl_span,
                        format!("`{}` is declared as a single role here", family.name),
                    )
                    .with_hint(format!(
                        "iterate over a family (declared `{}[n]`), or drop the `for`",
                        family.name
                    ));
                self.emit(d);
                return Summary::interaction();
            }
            Some(Size::Param(p)) if p.is_empty() => return Summary::interaction(),
            Some(Size::Param(p)) => {
                let d = self
                    .error(
                        codes::FOR_NEEDS_LITERAL,
                        format!("`for` over family `{}`, whose size is not a literal", family.name),
                        family.span,
                        "cannot unroll",
                    )
                    .with_secondary(self.file, decl_span, format!("sized by parameter `{p}`"))
                    .with_hint(format!(
                        "`for` is unrolled at compile time: declare `{}` with a literal size (e.g. `{}[4]`), or use `[*]` forms",
                        family.name, family.name
                    ));
                self.emit(d);
                return Summary::interaction();
            }
            Some(Size::Literal(n)) => n,
        };
        if usize::try_from(count).map_or(true, |c| c > MAX_STATEMENTS) {
            self.over_budget(stmt, usize::MAX, 0);
            return Summary::interaction();
        }
        let for_span = head_span(stmt);
        let mut sum = Summary::empty();
        for k in 0..count {
            if let Some(jump) = sum.jumps {
                let d = self
                    .error(
                        codes::UNREACHABLE,
                        format!(
                            "iterations after `{} = {}` are unreachable",
                            var.name,
                            k.saturating_sub(1)
                        ),
                        stmt.span,
                        "the body never finishes",
                    )
                    .with_secondary(jump.file, jump.span, "this loops forever")
                    .with_hint("move the `rec` out of the `for`, or give it a way out");
                self.emit(d);
                break;
            }
            if self.over_budget(stmt, 0, 0) {
                break;
            }
            self.vars.push((var.name.clone(), k, var.span));
            self.barriers.push((self.recs.len(), "for", for_span));
            let (lowered, s) = self.block(body);
            self.barriers.pop();
            self.vars.pop();
            out.extend(lowered);
            if sum.passes {
                sum.reach.extend(s.reach);
            }
            sum.passes = sum.passes && s.passes;
            sum.jumps = sum.jumps.or(s.jumps);
            sum.terminal = s.terminal;
        }
        sum
    }

    // ----- call and link -------------------------------------------------

    /// Checks the arguments of `call`/`link` against the target's roles and
    /// parameters. Returns the target id, the bound role arguments and the
    /// substitution.
    fn bind(
        &mut self,
        stmt: &Stmt,
        inv: &Invocation,
        keyword: &str,
    ) -> Option<(usize, Vec<Participant>, Subst)> {
        let args: Vec<Option<Participant>> = inv
            .roles
            .iter()
            .map(|r| self.role_ref(r, RefPlace::Argument))
            .collect();
        let target = match self.program.resolve(self.file_index, &inv.protocol) {
            Ok(t) => t,
            Err(d) => {
                self.emit(*d);
                return None;
            }
        };
        let callee = self.program.protos.get(target)?;
        let callee_ast = callee.ast;
        let callee_name = &callee_ast.name.name;
        let callee_roles_span = callee_ast.roles_span.unwrap_or(callee_ast.name.span);
        let signature = callee_ast
            .roles
            .iter()
            .map(|r| match &r.family {
                Some(ast::Size::Literal { value, .. }) => format!("{}[{value}]", r.name.name),
                Some(ast::Size::Param(p)) => format!("{}[{}]", r.name.name, p.name),
                None => r.name.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        if inv.roles.len() != callee_ast.roles.len() {
            let d = self
                .error(
                    codes::ROLE_ARITY,
                    format!(
                        "`{callee_name}` takes {} role{} but {} {} passed",
                        callee_ast.roles.len(),
                        if callee_ast.roles.len() == 1 { "" } else { "s" },
                        inv.roles.len(),
                        if inv.roles.len() == 1 { "was" } else { "were" }
                    ),
                    stmt.span,
                    format!("{} role argument{}", inv.roles.len(), if inv.roles.len() == 1 { "" } else { "s" }),
                )
                .with_secondary(callee.file, callee_roles_span, format!("`{callee_name}` declares `roles {signature};`"))
                .with_hint(format!("pass one argument per role of `{callee_name}`, in order: `{keyword} {}({signature});`", inv.protocol.dotted()));
            self.emit(d);
            return None;
        }
        let mut ok = true;
        let mut subst = Subst::default();
        let mut bound: Vec<(Participant, Span)> = Vec::new();
        for ((arg, r), decl) in args.iter().zip(&inv.roles).zip(&callee_ast.roles) {
            let Some(arg) = arg else {
                ok = false;
                continue;
            };
            let decl_name = &decl.name.name;
            match (&decl.family, arg) {
                (Some(_), Participant::All(_))
                | (None, Participant::Role(_) | Participant::Member(_, _)) => {}
                (Some(_), single) => {
                    let d = self
                        .error(
                            codes::ROLE_KIND,
                            format!("`{callee_name}` expects a family for `{decl_name}`, but `{single}` is one participant"),
                            r.span,
                            "one participant",
                        )
                        .with_secondary(callee.file, decl.span, format!("`{decl_name}` is a family of `{callee_name}`"))
                        .with_hint(match self.roles.iter().find(|r| r.size.is_some()) {
                            Some(f) => format!("pass a family by its bare name, e.g. `{}`", f.name),
                            None => format!("declare a family in `roles` (e.g. `{}[n]`) and pass it by its bare name", single.role_name()),
                        });
                    self.emit(d);
                    ok = false;
                    continue;
                }
                (None, Participant::All(f)) => {
                    let d = self
                        .error(
                            codes::ROLE_KIND,
                            format!("`{callee_name}` expects one participant for `{decl_name}`, but `{f}` is a family"),
                            r.span,
                            "a whole family",
                        )
                        .with_secondary(callee.file, decl.span, format!("`{decl_name}` is a single role of `{callee_name}`"))
                        .with_hint(format!("pass a single role or one member, e.g. `{f}[0]`"));
                    self.emit(d);
                    ok = false;
                    continue;
                }
            }
            // Bound twice (a family and its member overlap).
            let overlap = bound.iter().find(|(b, _)| match (b, arg) {
                (Participant::All(f), Participant::Member(g, _))
                | (Participant::Member(g, _), Participant::All(f)) => f == g,
                _ => b == arg,
            });
            if let Some((other, other_span)) = overlap {
                let d = self
                    .error(
                        codes::ROLE_BOUND_TWICE,
                        format!(
                            "`{arg}` is bound twice in `{keyword} {}`",
                            inv.protocol.dotted()
                        ),
                        r.span,
                        format!("binds `{decl_name}` of `{callee_name}`"),
                    )
                    .with_secondary(
                        self.file,
                        *other_span,
                        format!("`{other}` is already bound here"),
                    )
                    .with_hint("each role of the target must be played by a different participant");
                self.emit(d);
                ok = false;
            }
            bound.push((arg.clone(), r.span));
            match (&decl.family, arg) {
                (None, _) => {
                    subst.singles.insert(decl_name.clone(), arg.clone());
                }
                (Some(size), Participant::All(f)) => {
                    subst.families.insert(decl_name.clone(), f.clone());
                    let arg_size = self.family_size(f).cloned().unwrap_or_else(bad_size);
                    subst.caller_sizes.insert(f.clone(), arg_size.clone());
                    if arg_size == bad_size() {
                        // Its size was already reported as invalid.
                        ok = false;
                        continue;
                    }
                    match size {
                        ast::Size::Literal { value, .. } => {
                            if arg_size != Size::Literal(*value) {
                                let d = self
                                    .error(
                                        codes::FAMILY_SIZE_MISMATCH,
                                        format!("`{callee_name}` needs `{decl_name}` to have exactly {value} members, but `{f}` has {arg_size}"),
                                        r.span,
                                        format!("`{f}` has size {arg_size}"),
                                    )
                                    .with_secondary(callee.file, decl.span, format!("declared `{decl_name}[{value}]` in `{callee_name}`"))
                                    .with_hint(format!("pass a family of literal size {value}"));
                                self.emit(d);
                                ok = false;
                            }
                        }
                        ast::Size::Param(p) => match subst.params.get(&p.name) {
                            Some(prev) if *prev != arg_size => {
                                let d = self
                                    .error(
                                        codes::FAMILY_SIZE_MISMATCH,
                                        format!("`{callee_name}` sizes several families by `{}`, but the arguments have sizes {prev} and {arg_size}", p.name),
                                        r.span,
                                        format!("`{f}` has size {arg_size}"),
                                    )
                                    .with_secondary(callee.file, decl.span, format!("`{decl_name}[{}]` in `{callee_name}`", p.name))
                                    .with_hint("pass families of the same size");
                                self.emit(d);
                                ok = false;
                            }
                            _ => {
                                subst.params.insert(p.name.clone(), arg_size);
                            }
                        },
                    }
                }
                _ => {}
            }
        }
        // The remaining parameters come after `;`, in declaration order.
        let rest: Vec<&ast::Ident> = callee_ast
            .params
            .iter()
            .filter(|p| !subst.params.contains_key(&p.name))
            .collect();
        if !ok {
            // Role arguments already failed; parameter counts would only add noise.
        } else if rest.len() != inv.params.len() {
            let wanted = rest
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let d = self
                .error(
                    codes::PARAM_ARITY,
                    format!(
                        "`{callee_name}` needs {} parameter argument{} after `;` but {} {} given",
                        rest.len(),
                        if rest.len() == 1 { "" } else { "s" },
                        inv.params.len(),
                        if inv.params.len() == 1 { "was" } else { "were" }
                    ),
                    stmt.span,
                    if rest.is_empty() {
                        "every parameter of the target is bound by a family argument".to_string()
                    } else {
                        format!("expected values for {wanted}")
                    },
                )
                .with_secondary(
                    callee.file,
                    callee_ast.name.span,
                    format!("`{callee_name}` is declared here"),
                )
                .with_hint(if rest.is_empty() {
                    format!(
                        "remove the arguments after `;`: `{keyword} {}(…)`",
                        inv.protocol.dotted()
                    )
                } else {
                    format!(
                        "give them after the roles: `{keyword} {}(…; {wanted})`",
                        inv.protocol.dotted()
                    )
                });
            self.emit(d);
            ok = false;
        } else {
            for (p, arg) in rest.iter().zip(&inv.params) {
                match self.size(arg, "parameter argument") {
                    Some(s) => {
                        subst.params.insert(p.name.clone(), s);
                    }
                    None => ok = false,
                }
            }
        }
        if !ok {
            return None;
        }
        let roles = bound.into_iter().map(|(p, _)| p).collect();
        Some((target, roles, subst))
    }

    fn link(&mut self, stmt: &Stmt, inv: &Invocation) -> Option<GStmt> {
        let (target, roles, _) = self.bind(stmt, inv, "link")?;
        let callee = self.program.protos.get(target)?;
        let module = self.program.modules.get(callee.module)?.name.clone();
        let mut params = Vec::new();
        for p in &inv.params {
            params.push(self.size(p, "parameter argument")?);
        }
        Some(GStmt::Link {
            module,
            protocol: callee.ast.name.name.clone(),
            roles,
            params,
            args_text: inv.args_text.clone(),
            loc: self.loc(stmt.span),
        })
    }

    fn call(&mut self, stmt: &Stmt, inv: &Invocation, out: &mut Vec<GStmt>) -> Summary {
        let loc = self.loc(stmt.span);
        let Some((target, _, subst)) = self.bind(stmt, inv, "call") else {
            return Summary::interaction();
        };
        let results = self.results;
        let Some(Some(callee)) = results.get(target) else {
            // On a call cycle (reported once for the cycle).
            self.silent = true;
            return Summary::interaction();
        };
        let (true, Some(protocol)) = (callee.ok, &callee.protocol) else {
            // The callee's own errors are reported there.
            self.silent = true;
            return Summary::interaction();
        };
        if self.over_budget(stmt, callee.size, callee.depth) {
            return Summary::interaction();
        }
        let mut problems = Vec::new();
        let body = subst.block(&protocol.body, &mut problems);
        // `block` counts the top-level statements; add the nested ones.
        self.produced = self
            .produced
            .saturating_add(callee.size.saturating_sub(body.len()));
        self.max_depth = self.max_depth.max(self.depth + callee.depth);
        for problem in problems {
            let d = match problem {
                inline::Problem::OutOfRange { loc: at, member, family, size } => self
                    .error(
                        codes::FAMILY_SIZE_MISMATCH,
                        format!("`{}` uses `{member}`, which does not exist in `{family}` of size {size}", protocol.name),
                        stmt.span,
                        format!("binds a family of size {size}"),
                    )
                    .with_secondary(at.file, at.span, format!("`{member}` used here"))
                    .with_hint(format!("pass a family with more than {} members", member_index(&member).unwrap_or(0))),
                inline::Problem::QuorumZero { loc: at } => self
                    .error(codes::QUORUM_ZERO, format!("this call makes a quorum in `{}` zero", protocol.name), stmt.span, "binds the quorum parameter to 0")
                    .with_secondary(at.file, at.span, "the quorum is used here")
                    .with_hint("pass a quorum of at least 1"),
                inline::Problem::QuorumTooLarge { loc: at, quorum, limit } => self
                    .error(
                        codes::QUORUM_TOO_LARGE,
                        format!("this call makes a quorum in `{}` unreachable: {quorum} of {limit} possible values", protocol.name),
                        stmt.span,
                        format!("binds the quorum to {quorum}"),
                    )
                    .with_secondary(at.file, at.span, format!("at most {limit} values arrive here"))
                    .with_hint(format!("pass a quorum between 1 and {limit}")),
            };
            self.emit(d);
        }
        out.extend(body);
        let s = &callee.summary;
        Summary {
            reach: Vec::new(),
            passes: s.passes,
            jumps: s.jumps.map(|_| loc),
            // Keeps the callee's own link/timeout for the secondary label.
            terminal: s.terminal,
        }
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
