//! `call` inlining: the callee's checked body with its roles and
//! parameters replaced by the caller's arguments (the language contract §3.6).
//! Labels keep the callee's namespace; locations keep pointing into the
//! callee's source.

use std::collections::HashMap;

use crate::global::{GBranch, GMessage, GStmt, Loc, Name, Participant, Size};

/// How a callee's names map to the caller's.
#[derive(Debug, Default)]
pub(crate) struct Subst {
    /// Callee single role -> caller single role or literal member.
    pub singles: HashMap<String, Participant>,
    /// Callee family -> caller family.
    pub families: HashMap<String, Name>,
    /// Callee parameter -> caller size.
    pub params: HashMap<String, Size>,
    /// Sizes of the caller's families.
    pub caller_sizes: HashMap<String, Size>,
}

/// A problem that only shows once the callee is bound to these arguments.
#[derive(Debug)]
pub(crate) enum Problem {
    /// The callee names member `index` of a family whose argument has `size` members.
    OutOfRange {
        loc: Loc,
        member: String,
        family: String,
        size: u64,
    },
    /// The bound quorum is 0.
    QuorumZero { loc: Loc },
    /// The bound quorum exceeds the number of senders.
    QuorumTooLarge { loc: Loc, quorum: u64, limit: u64 },
}

/// How many values a collective receive can get: `W[*] -> A` has size(W)
/// senders, `W[*] -> W[k]` size(W) - 1, and an exchange `W[*] -> W[*]`
/// counts the member's own value (size(W)). `None` when the size is not a
/// literal or the receive is not collective.
pub(crate) fn quorum_limit(
    from: &Participant,
    to: &Participant,
    size: Option<&Size>,
) -> Option<u64> {
    let Participant::All(family) = from else {
        return None;
    };
    let Some(Size::Literal(s)) = size else {
        return None;
    };
    Some(match to {
        Participant::Member(f, _) if f == family => s.saturating_sub(1),
        _ => *s,
    })
}

impl Subst {
    pub fn block(&self, body: &[GStmt], problems: &mut Vec<Problem>) -> Vec<GStmt> {
        body.iter().map(|s| self.stmt(s, problems)).collect()
    }

    fn stmt(&self, stmt: &GStmt, problems: &mut Vec<Problem>) -> GStmt {
        match stmt {
            GStmt::Message(m) => GStmt::Message(self.message(m, problems)),
            GStmt::Choice {
                chooser,
                branches,
                loc,
            } => GStmt::Choice {
                chooser: self.participant(chooser, *loc, problems),
                branches: branches
                    .iter()
                    .map(|b| GBranch {
                        name: b.name.clone(),
                        body: self.block(&b.body, problems),
                        loc: b.loc,
                    })
                    .collect(),
                loc: *loc,
            },
            GStmt::Rec { name, body, loc } => GStmt::Rec {
                name: name.clone(),
                body: self.block(body, problems),
                loc: *loc,
            },
            GStmt::Continue { .. } => stmt.clone(),
            GStmt::Par { branches, loc } => GStmt::Par {
                branches: branches.iter().map(|b| self.block(b, problems)).collect(),
                loc: *loc,
            },
            GStmt::Link {
                module,
                protocol,
                roles,
                params,
                args_text,
                loc,
            } => GStmt::Link {
                module: module.clone(),
                protocol: protocol.clone(),
                roles: roles
                    .iter()
                    .map(|r| self.participant(r, *loc, problems))
                    .collect(),
                params: params.iter().map(|p| self.size(p)).collect(),
                args_text: self.args_text(roles, params, args_text),
                loc: *loc,
            },
            GStmt::Delegate { from, to, loc } => GStmt::Delegate {
                from: self.participant(from, *loc, problems),
                to: self.participant(to, *loc, problems),
                loc: *loc,
            },
            GStmt::Timeout {
                millis,
                text,
                body,
                handler,
                loc,
            } => GStmt::Timeout {
                millis: *millis,
                text: text.clone(),
                body: self.block(body, problems),
                handler: self.block(handler, problems),
                loc: *loc,
            },
        }
    }

    fn message(&self, m: &GMessage, problems: &mut Vec<Problem>) -> GMessage {
        let from = self.participant(&m.from, m.loc, problems);
        let to = self.participant(&m.to, m.loc, problems);
        let quorum = m.quorum.as_ref().map(|q| self.size(q));
        match &quorum {
            Some(Size::Literal(0)) => problems.push(Problem::QuorumZero { loc: m.loc }),
            Some(Size::Literal(q)) => {
                let size = self.caller_sizes.get(from.role_name());
                if let Some(limit) = quorum_limit(&from, &to, size) {
                    if *q > limit {
                        problems.push(Problem::QuorumTooLarge {
                            loc: m.loc,
                            quorum: *q,
                            limit,
                        });
                    }
                }
            }
            _ => {}
        }
        GMessage {
            from,
            to,
            label: m.label.clone(),
            payload: m.payload.clone(),
            quorum,
            annotations: m.annotations.clone(),
            loc: m.loc,
        }
    }

    fn size(&self, size: &Size) -> Size {
        match size {
            Size::Param(p) => self.params.get(p).cloned().unwrap_or_else(|| size.clone()),
            Size::Literal(_) => size.clone(),
        }
    }

    fn participant(&self, p: &Participant, loc: Loc, problems: &mut Vec<Problem>) -> Participant {
        match p {
            Participant::Role(r) => self
                .singles
                .get(r.as_str())
                .cloned()
                .unwrap_or_else(|| p.clone()),
            Participant::Member(f, k) => match self.families.get(f.as_str()) {
                Some(to) => {
                    if let Some(Size::Literal(s)) = self.caller_sizes.get(to.as_str()) {
                        if k >= s {
                            problems.push(Problem::OutOfRange {
                                loc,
                                member: format!("{f}[{k}]"),
                                family: String::from(to.as_str()),
                                size: *s,
                            });
                        }
                    }
                    Participant::Member(to.clone(), *k)
                }
                None => p.clone(),
            },
            Participant::All(f) => match self.families.get(f.as_str()) {
                Some(to) => Participant::All(to.clone()),
                None => p.clone(),
            },
        }
    }

    /// The arguments of an inlined `link`, printed in the caller's names.
    fn args_text(&self, roles: &[Participant], params: &[Size], written: &str) -> String {
        if self.singles.is_empty() && self.families.is_empty() && self.params.is_empty() {
            return written.to_string();
        }
        let roles: Vec<String> = roles
            .iter()
            .map(|r| match r {
                Participant::Role(n) => self
                    .singles
                    .get(n.as_str())
                    .map(ToString::to_string)
                    .unwrap_or_else(|| n.to_string()),
                Participant::All(f) => self.families.get(f.as_str()).unwrap_or(f).to_string(),
                Participant::Member(f, k) => {
                    format!("{}[{k}]", self.families.get(f.as_str()).unwrap_or(f))
                }
            })
            .collect();
        let params: Vec<String> = params.iter().map(|p| self.size(p).to_string()).collect();
        if params.is_empty() {
            roles.join(", ")
        } else {
            format!("{}; {}", roles.join(", "), params.join(", "))
        }
    }
}
