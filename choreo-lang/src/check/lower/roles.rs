//! Role references: resolution, indices, `for` variables.

use super::*;

impl Lowering<'_, '_> {
    /// Reports an undeclared role and returns the single role to read it
    /// as, so that the rest of the protocol is still checked as written:
    /// the declared single role it is a likely typo of, or else a role of
    /// its own (a *stand-in*, added to the protocol's roles). `None` when
    /// there is no good reading (no roles at all, or the likely meaning is
    /// a family).
    pub(super) fn undeclared(&mut self, id: &ast::Ident) -> Option<Name> {
        self.undeclared_seen = true;
        if self.no_roles {
            // Reported once for the protocol.
            self.errors = true;
            return None;
        }
        let suggestion = did_you_mean(&id.name, self.roles.iter().map(|r| r.name.as_str()));
        let reading = match &suggestion {
            Some(s) => self
                .roles
                .iter()
                .find(|r| &r.name == s && r.size.is_none())
                .map(|r| r.name.clone()),
            None => {
                if !self.stand_ins.iter().any(|(n, _)| n == &id.name) {
                    self.stand_ins
                        .push((String::from(id.name.as_str()), id.span));
                }
                Some(id.name.clone())
            }
        };
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
        reading
    }

    /// Resolves a role reference in the current `for` environment.
    pub(super) fn role_ref(&mut self, r: &RoleRef, place: RefPlace) -> Option<Participant> {
        let Some(&index) = self.role_index.get(r.role.name.as_str()) else {
            let reading = self.undeclared(&r.role);
            return match (reading, &r.index, place) {
                (Some(name), None, RefPlace::Endpoint | RefPlace::One(_)) => {
                    Some(Participant::Role(name))
                }
                _ => {
                    self.lossy = true;
                    None
                }
            };
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
                        let members = if s == 0 {
                            format!("`{name}` has no members")
                        } else if s == 1 {
                            format!("`{name}` has one member, `{name}[0]`")
                        } else {
                            format!(
                                "`{name}` has members `{name}[0]` … `{name}[{}]`",
                                s.saturating_sub(1)
                            )
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
                            .with_hint(if s == 0 {
                                format!("declare `{name}` with at least one member")
                            } else {
                                format!("use an index below {s}, or enlarge the family")
                            });
                        self.emit(d);
                        return None;
                    }
                }
                Some(Participant::Member(name, *value))
            }
            Some(RoleIndex::Var { var, offset, span }) => {
                let Some(&(_, value, _)) = self.vars.iter().rev().find(|(v, _, _)| *v == var.name)
                else {
                    let is_param = self.params.iter().any(|p| *p == var.name);
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

    /// Where a role is declared (the protocol name if it is unknown).
    pub(super) fn role_decl_span(&self, name: &str) -> Span {
        self.role_index
            .get(name)
            .and_then(|&i| self.roles.get(i))
            .map(|r| r.span)
            .unwrap_or(self.proto.name.span)
    }

    pub(super) fn family_size(&self, name: &str) -> Option<&Size> {
        self.role_index
            .get(name)
            .and_then(|&i| self.roles.get(i))
            .and_then(|r| r.size.as_ref())
    }

    /// ` (with i = 2)` when inside unrolled loops.
    pub(super) fn iteration(&self) -> String {
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
}
