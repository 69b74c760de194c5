//! Messages: endpoints, self-sends, quorums, payloads and labels.

use super::*;

impl Lowering<'_, '_> {
    pub(super) fn message(&mut self, stmt: &Stmt, m: &Message) -> Option<GMessage> {
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
                    .with_hint(match &from {
                        Participant::Member(w, _) => format!(
                            "remove `quorum`, or gather from every member: `{w}[*] -> {to} : …`"
                        ),
                        _ => {
                            "remove `quorum`, or gather from every member of a family: `W[*] -> …`"
                                .to_string()
                        }
                    });
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
                            .with_secondary(
                                self.file,
                                self.role_decl_span(from.role_name()),
                                format!(
                                    "`{}` has {} members",
                                    from.role_name(),
                                    size.map(|s| s.to_string()).unwrap_or_default()
                                ),
                            )
                            .with_hint(format!("use a quorum between 1 and {limit}"));
                        self.emit(d);
                    }
                }
            }
        }

        let payload = payload?;
        let name = self.label(m, &payload);
        Some(GMessage {
            from,
            to,
            label: Label {
                name,
                namespace: self.namespace.clone(),
            },
            payload,
            quorum,
            annotations,
            loc: self.loc(stmt.span),
        })
    }

    pub(super) fn payload(&mut self, m: &Message) -> Option<Payload> {
        let Some(ty) = &m.payload else {
            return Some(Payload::unit());
        };
        let module = self.program.module_of_file(self.file_index)?;
        // Every name an alias could expand is mentioned: without one, the
        // written form is the canonical one.
        let (mut bad, mut aliased) = (false, false);
        types::for_each_mentioned(ty, &mut |name| {
            bad = bad || module.bad_aliases.contains(name);
            aliased = aliased || module.alias_types.contains_key(name);
        });
        if bad {
            self.silent = true;
        }
        let canonical = types::canonical(ty, &module.alias_types, self.file);
        let written = match &canonical {
            // A lone name that is no alias prints as itself: share the
            // lexer's text instead of printing and looking it up.
            Some(_) if !aliased => match types::simple_name(ty) {
                Some(name) => Some(name.as_arc().clone()),
                None => canonical.as_ref().map(|c| self.shared(&c.to_string())),
            },
            _ => types::written(ty).map(|w| self.shared(&w)),
        };
        match (written, canonical) {
            (Some(written), Some(canonical)) => Some(Payload {
                canonical: if aliased {
                    self.shared(&canonical.to_string())
                } else {
                    written.clone()
                },
                written,
                ty: Arc::new(canonical),
                loc: self.loc(ty.span),
            }),
            _ => {
                self.silent = true;
                None
            }
        }
    }

    /// Records the payload `m`'s label carries (E0206 when it carried
    /// another before) and returns the label's name, shared by all its uses.
    pub(super) fn label(&mut self, m: &Message, payload: &Payload) -> Arc<str> {
        let name = &m.label.name;
        let span = m
            .payload
            .as_ref()
            .map(|p| m.label.span.to(p.span))
            .unwrap_or(m.label.span);
        match self.labels.get(name.as_str()) {
            None => {
                self.labels.insert(
                    String::from(name.as_str()),
                    LabelUse {
                        name: name.as_arc().clone(),
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
        self.labels
            .get(name.as_str())
            .map_or_else(|| name.as_arc().clone(), |u| u.name.clone())
    }

    /// One allocation per distinct payload text of the protocol.
    fn shared(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.texts.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.texts.insert(text.to_string(), shared.clone());
        shared
    }
}
