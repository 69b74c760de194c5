//! `choice`, `rec`, `continue`, `par` and `for`.

use super::*;

impl Lowering<'_, '_> {
    pub(super) fn choice(
        &mut self,
        stmt: &Stmt,
        chooser: &RoleRef,
        branches: &[ast::ChoiceBranch],
        out: &mut Vec<GStmt>,
    ) -> Summary {
        let loc = self.loc(stmt.span);
        let who = self.role_ref(chooser, RefPlace::One("chooser"));
        if branches.is_empty() {
            self.empty_choice(stmt);
        }
        let mut names: HashMap<&str, Span> = HashMap::new();
        let mut lowered = Vec::with_capacity(branches.len());
        let mut reach = Vec::new();
        let mut passes = false;
        let mut all_jump = !branches.is_empty();
        let mut terminal = None;
        let mut continues = Vec::new();
        for b in branches {
            if let Some(&first) = names.get(b.name.name.as_str()) {
                self.duplicate_branch(&b.name, first);
            } else {
                names.insert(&b.name.name, b.name.span);
            }
            let (body, s) = self.block(&b.body);
            reach.extend(s.reach);
            passes |= s.passes;
            all_jump &= s.jumps.is_some();
            terminal = terminal.or(s.terminal);
            add_continues(&mut continues, s.continues);
            lowered.push(GBranch {
                name: String::from(b.name.name.as_str()),
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
            continues,
        }
    }

    pub(super) fn rec(
        &mut self,
        stmt: &Stmt,
        name: &ast::Ident,
        body: &Block,
        out: &mut Vec<GStmt>,
    ) -> Summary {
        let loc = self.loc(stmt.span);
        if let Some(outer) = self.recs.iter().rev().find(|f| f.name == name.name) {
            let outer_span = outer.span;
            self.rec_shadows(name, outer_span);
        }
        self.recs.push(RecFrame {
            name: String::from(name.name.as_str()),
            span: name.span,
            continued: false,
        });
        let (lowered, s) = self.block(body);
        let continued = self.recs.pop().is_some_and(|f| f.continued);
        if !continued {
            self.rec_never_continues(name);
        }
        let mut reach = Vec::new();
        for (target, at) in s.reach {
            if target == name.name {
                self.unguarded(name, at);
            } else {
                reach.push((target, at));
            }
        }
        out.push(GStmt::Rec {
            name: String::from(name.name.as_str()),
            body: lowered,
            loc,
        });
        Summary {
            reach,
            passes: s.passes,
            jumps: s.jumps.map(|_| self.loc(head_span(stmt))),
            terminal: s.terminal,
            continues: s
                .continues
                .into_iter()
                .filter(|(target, _)| *target != name.name)
                .collect(),
        }
    }

    pub(super) fn continue_(
        &mut self,
        stmt: &Stmt,
        name: &ast::Ident,
        out: &mut Vec<GStmt>,
    ) -> Summary {
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
                    name: String::from(name.name.as_str()),
                    loc,
                });
                Summary {
                    reach: vec![(String::from(name.name.as_str()), loc)],
                    passes: false,
                    jumps: Some(loc),
                    terminal: None,
                    continues: vec![(String::from(name.name.as_str()), loc)],
                }
            }
        }
    }

    pub(super) fn par(&mut self, stmt: &Stmt, branches: &[Block], out: &mut Vec<GStmt>) -> Summary {
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
        for (index, branch) in lowered.iter().enumerate() {
            if let Some((what, at)) = first_handover(branch) {
                let d = Diagnostic::error(
                    codes::HANDOVER_IN_PAR,
                    format!("a `{what}` inside branch {} of a `par`", index + 1),
                    at.file,
                    at.span,
                    format!("this `{what}` is inside a `par` branch"),
                )
                .with_secondary(loc.file, par_span, "the `par` that runs it concurrently")
                .with_hint(format!(
                    "a `{what}` ends or abandons its roles' part while the other branches may still need them: move it after the `par`"
                ));
                self.emit(d);
            }
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
            // A `continue` cannot leave a `par` (E0327).
            continues: Vec::new(),
        }
    }

    pub(super) fn for_(
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
        let Some(&index) = self.role_index.get(family.name.as_str()) else {
            let _ = self.undeclared(family);
            self.lossy = true;
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
            self.vars
                .push((String::from(var.name.as_str()), k, var.span));
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
            add_continues(&mut sum.continues, s.continues);
        }
        sum
    }

    pub(super) fn timeout(
        &mut self,
        stmt: &Stmt,
        duration: &ast::DurationLit,
        body: &Block,
        handler: &Block,
        out: &mut Vec<GStmt>,
    ) -> Summary {
        if duration.value == 0 {
            self.zero_timeout(duration);
        }
        let (b, bs) = self.block(body);
        let (h, hs) = self.block(handler);
        out.push(GStmt::Timeout {
            millis: duration.millis(),
            text: duration.to_string(),
            body: b,
            handler: h,
            loc: self.loc(stmt.span),
        });
        let head = self.loc(head_span(stmt));
        let mut reach = bs.reach;
        reach.extend(hs.reach);
        let mut continues = bs.continues;
        add_continues(&mut continues, hs.continues);
        Summary {
            reach,
            passes: bs.passes || hs.passes,
            jumps: bs.jumps.and(hs.jumps).map(|_| head),
            terminal: Some((head, Terminal::Timeout)),
            continues,
        }
    }

    #[inline(never)]
    fn zero_timeout(&mut self, duration: &ast::DurationLit) {
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

    #[inline(never)]
    fn empty_choice(&mut self, stmt: &Stmt) {
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

    #[inline(never)]
    fn duplicate_branch(&mut self, name: &ast::Ident, first: Span) {
        let d = self
            .error(
                codes::DUPLICATE_BRANCH,
                format!("duplicate branch `{}`", name.name),
                name.span,
                "second branch with this name",
            )
            .with_secondary(self.file, first, "first branch with this name")
            .with_hint("branch names become the chooser's selection enum variants: rename one");
        self.emit(d);
    }

    #[inline(never)]
    fn rec_shadows(&mut self, name: &ast::Ident, outer: Span) {
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
            .with_secondary(self.file, outer, "enclosing `rec` with this name")
            .with_hint(format!(
                "rename the inner loop, e.g. `rec {}Inner`",
                name.name
            ));
        self.emit(d);
    }

    #[inline(never)]
    fn rec_never_continues(&mut self, name: &ast::Ident) {
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

    #[inline(never)]
    fn unguarded(&mut self, name: &ast::Ident, at: Loc) {
        let d = self
            .error(
                codes::UNGUARDED_REC,
                format!("unguarded recursion in `rec {}`", name.name),
                name.span,
                "this loop can repeat without any interaction",
            )
            .with_secondary(
                at.file,
                at.span,
                "reached from the start of the body without a message",
            )
            .with_hint(
                "put a message on every path from the start of the `rec` body to this `continue`",
            );
        self.emit(d);
    }
}

/// The first `timeout` or `link` in `block`, looking through nested
/// statements (and so through inlined `call`s). Either one hands roles
/// over (to a handler or to another protocol) at a point the other
/// branches of a `par` cannot see, which the language contract leaves undefined and
/// the model checker shows can orphan messages or deadlock.
fn first_handover(block: &[GStmt]) -> Option<(&'static str, crate::global::Loc)> {
    block.iter().find_map(|stmt| match stmt {
        GStmt::Timeout { loc, .. } => Some(("timeout", *loc)),
        GStmt::Link { loc, .. } => Some(("link", *loc)),
        GStmt::Choice { branches, .. } => branches.iter().find_map(|b| first_handover(&b.body)),
        GStmt::Rec { body, .. } => first_handover(body),
        GStmt::Par { branches, .. } => branches.iter().find_map(|b| first_handover(b)),
        GStmt::Message(_) | GStmt::Continue { .. } | GStmt::Delegate { .. } => None,
    })
}
