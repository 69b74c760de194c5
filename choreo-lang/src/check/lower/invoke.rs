//! `call` (inlined) and `link` (resolved and checked).

use super::*;

impl Lowering<'_, '_> {
    /// Checks the arguments of `call`/`link` against the target's roles and
    /// parameters. Returns the target id, the bound role arguments and the
    /// substitution.
    pub(super) fn bind(
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
                None => String::from(r.name.name.as_str()),
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
                    subst
                        .singles
                        .insert(String::from(decl_name.as_str()), arg.clone());
                }
                (Some(size), Participant::All(f)) => {
                    subst
                        .families
                        .insert(String::from(decl_name.as_str()), f.clone());
                    let arg_size = self.family_size(f).cloned().unwrap_or_else(bad_size);
                    subst
                        .caller_sizes
                        .insert(String::from(f.as_str()), arg_size.clone());
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
                        ast::Size::Param(p) => match subst.params.get(p.name.as_str()) {
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
                                subst.params.insert(String::from(p.name.as_str()), arg_size);
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
            .filter(|p| !subst.params.contains_key(p.name.as_str()))
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
                        format!(
                            "expected {} for {}",
                            if rest.len() == 1 { "a value" } else { "values" },
                            rest.iter()
                                .map(|p| format!("`{}`", p.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
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
                        subst.params.insert(String::from(p.name.as_str()), s);
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

    pub(super) fn link(&mut self, stmt: &Stmt, inv: &Invocation) -> Option<GStmt> {
        let (target, roles, _) = self.bind(stmt, inv, "link")?;
        let callee = self.program.protos.get(target)?;
        let module = self.program.modules.get(callee.module)?.name.clone();
        let mut params = Vec::new();
        for p in &inv.params {
            params.push(self.size(p, "parameter argument")?);
        }
        Some(GStmt::Link {
            module,
            protocol: String::from(callee.ast.name.name.as_str()),
            roles,
            params,
            args_text: inv.args_text.clone(),
            loc: self.loc(stmt.span),
        })
    }

    pub(super) fn call(&mut self, stmt: &Stmt, inv: &Invocation, out: &mut Vec<GStmt>) -> Summary {
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
            // The callee's `continue`s name its own `rec`s.
            continues: Vec::new(),
        }
    }
}
