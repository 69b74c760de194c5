//! The projection-based checks (E04xx) as the walk meets them: what each
//! reports, where, and the hint that fixes it. The walk in the parent
//! module decides *when* a check fails; this module only words it.

use super::super::codes;
use super::super::head;
use super::super::merge::{self, describe, label_loc, MergeConflict};
use super::{involves, Projector, State};

use crate::diagnostic::Diagnostic;
use crate::global::{GBranch, Loc, Participant};
use crate::local::{LocalAction, LocalBlock, Peer, Target};

impl Projector<'_> {
    /// E0406 unless `end` plays the same role as `start`.
    pub(super) fn keep_identity(&mut self, start: &State, end: &State, what: &str, compound: Loc) {
        if !start.same_identity(end) {
            let at = end.delegated_at.unwrap_or(compound);
            self.delegate_on_some_paths(at, what, compound);
        }
    }

    /// E0405: after accepting a delegation, the target's own role acts.
    pub(super) fn check_acts_later(&mut self, parts: &[&Participant], st: &State, loc: Loc) {
        let Some(accepted) = st.accepted_at else {
            return;
        };
        if self.reported_acts || !parts.iter().any(|p| involves(p, &self.target)) {
            return;
        }
        self.reported_acts = true;
        let me = self.target.to_string();
        let plays = st.me.as_ref().map_or_else(String::new, ToString::to_string);
        self.diagnostics.push(
            Diagnostic::error(
                codes::DELEGATE_TARGET_ACTS,
                format!("role `{me}` acts after it was delegated `{plays}`'s part"),
                loc.file,
                loc.span,
                format!("`{me}` acts here"),
            )
            .with_secondary(
                accepted.file,
                accepted.span,
                format!("from here on `{me}` plays `{plays}`"),
            )
            .with_hint(format!(
                "delegate `{plays}` to a role that has finished its own part, \
                 or move this statement before the `delegate`"
            )),
        );
    }

    /// E0407: merging this choice would exceed the budget.
    pub(super) fn too_large(&mut self, choice: Loc, size: usize) {
        self.budget = 0;
        if self.reported_size {
            return;
        }
        self.reported_size = true;
        let me = self.target.to_string();
        let at = head(choice, "choice".len());
        self.diagnostics.push(
            Diagnostic::error(
                codes::PROJECTION_TOO_LARGE,
                format!("the projection onto `{me}` grows too large ({size} actions at this choice)"),
                at.file,
                at.span,
                format!("merging the branches of this choice for `{me}` copies its continuation into every arm"),
            )
            .with_hint(format!(
                "make `{me}` behave the same after nested choices (a common continuation \
                 stays after the merged `branch`), or split the protocol with `link`"
            )),
        );
    }

    pub(super) fn active_at_link(&mut self, link: Loc, first: Loc) {
        if self.reported_link {
            return;
        }
        self.reported_link = true;
        let me = self.target.to_string();
        self.diagnostics.push(
            Diagnostic::error(
                codes::ACTIVE_AT_LINK,
                format!("role `{me}` is still active after a `link` it is not passed to"),
                first.file,
                first.span,
                format!("`{me}` still acts here"),
            )
            .with_secondary(
                link.file,
                link.span,
                format!("`{me}` must have finished at this link point"),
            )
            .with_hint(format!(
                "pass `{me}` to the linked protocol, or move `{me}`'s remaining \
                 interactions before the `link`"
            )),
        );
    }

    pub(super) fn delegate_in_loop(&mut self, at: Loc, rec: &str, cont: Loc) {
        self.diagnostics.push(
            Diagnostic::error(
                codes::DELEGATE_ON_SOME_PATHS,
                format!("this `delegate` changes who plays a role on only some iterations of `rec {rec}`"),
                at.file,
                at.span,
                "delegation happens here".to_string(),
            )
            .with_secondary(
                cont.file,
                cont.span,
                "the loop repeats here with the role played by someone else",
            )
            .with_hint(format!(
                "delegate on a path that leaves `rec {rec}` (one without `continue {rec}`), or after the loop"
            )),
        );
    }

    pub(super) fn delegate_on_some_paths(&mut self, at: Loc, what: &str, compound: Loc) {
        let mut d = Diagnostic::error(
            codes::DELEGATE_ON_SOME_PATHS,
            format!("this `delegate` changes who plays a role on only some paths of a `{what}`"),
            at.file,
            at.span,
            "delegation happens here".to_string(),
        );
        if compound != at {
            let kw = head(compound, what.len());
            d = d.with_secondary(kw.file, kw.span, format!("inside this `{what}`"));
        }
        self.diagnostics.push(d.with_hint(if what == "choice" {
            "delegate the same way in every branch, or move the `delegate` after the `choice`"
                .to_string()
        } else {
            format!("move the `delegate` after the `{what}`")
        }));
    }

    pub(super) fn chooser_not_sending(
        &mut self,
        chooser: &Participant,
        branch: &GBranch,
        block: &LocalBlock,
    ) {
        let name = &branch.name;
        let mut d = match block.first() {
            Some(first) => {
                let at = label_loc(first);
                Diagnostic::error(
                    codes::CHOOSER_NOT_SENDING,
                    format!("the chooser `{chooser}` does not start branch `{name}` by sending"),
                    at.file,
                    at.span,
                    format!("`{chooser}` first does {} here", describe(first)),
                )
                .with_secondary(
                    branch_head(branch).file,
                    branch_head(branch).span,
                    format!("branch `{name}` chosen by `{chooser}`"),
                )
            }
            None => Diagnostic::error(
                codes::CHOOSER_NOT_SENDING,
                format!("the chooser `{chooser}` does not start branch `{name}` by sending"),
                branch_head(branch).file,
                branch_head(branch).span,
                format!("`{chooser}` does nothing in branch `{name}`"),
            ),
        };
        let to = block
            .first()
            .and_then(first_peer)
            .unwrap_or_else(|| "…".to_string());
        d = d.with_hint(format!(
            "make `{chooser}` send first in branch `{name}`, e.g. `{chooser} -> {to} : {name};`, \
             so the other roles learn the choice"
        ));
        self.diagnostics.push(d);
    }

    pub(super) fn handler_not_sending(&mut self, handler: &LocalBlock, timeout: Loc) {
        let me = self.target.to_string();
        let Some(first) = handler.first() else {
            return;
        };
        let at = label_loc(first);
        self.diagnostics.push(
            Diagnostic::error(
                codes::HANDLER_NOT_SENDING,
                format!("role `{me}` cannot start the timeout handler by sending"),
                at.file,
                at.span,
                format!("`{me}` first does {} in the handler", describe(first)),
            )
            .with_secondary(
                head(timeout, "timeout".len()).file,
                head(timeout, "timeout".len()).span,
                "the handler of this `timeout`",
            )
            .with_hint(format!(
                "any participant may start the handler alone: make `{me}`'s first handler \
                 action a send, or `link` to a fallback protocol"
            )),
        );
    }

    /// A fix for an E0401 that is known to work: messages from the chooser
    /// to this role, labelled with the branch name, at the start of one
    /// branch or of both. Each candidate is tried on this role's projections
    /// of the two branches (`left`, `right`) and the first whose merge
    /// succeeds is named, preferring one added message to two.
    pub(super) fn informing_hint(
        &self,
        chooser: &Participant,
        branches: &[GBranch],
        (left, right): (usize, usize),
        (left_block, right_block): (&LocalBlock, &LocalBlock),
    ) -> String {
        let me = self.target.to_string();
        let to = match &self.target {
            Target::Family(w) => format!("{w}[*]"),
            t => t.to_string(),
        };
        let (Some(lb), Some(rb)) = (branches.get(left), branches.get(right)) else {
            return format!("let `{chooser}` tell `{me}` which branch it chose");
        };
        let from = match chooser {
            Participant::Role(r) | Participant::All(r) => Peer::Role(r.clone()),
            Participant::Member(r, i) => Peer::Member(r.clone(), *i),
        };
        let informed = |block: &LocalBlock, branch: &GBranch| -> LocalBlock {
            let mut out = Vec::with_capacity(block.len() + 1);
            out.push(LocalAction::Recv {
                from: from.clone(),
                label: crate::global::Label {
                    name: branch.name.clone(),
                    namespace: self.namespace.clone(),
                },
                payload: crate::global::Payload::unit(),
                loc: branch.loc,
            });
            out.extend(block.iter().cloned());
            out
        };
        let add = |b: &GBranch| {
            format!(
                "`{chooser} -> {to} : {};` at the start of branch `{}`",
                b.name, b.name
            )
        };
        let learns = format!("so `{me}` learns the choice");
        if merge::merge(&informed(left_block, lb), right_block).is_ok() {
            format!("add {} {learns}", add(lb))
        } else if merge::merge(left_block, &informed(right_block, rb)).is_ok() {
            format!("add {} {learns}", add(rb))
        } else if merge::merge(&informed(left_block, lb), &informed(right_block, rb)).is_ok() {
            format!("add {} and {} {learns}", add(lb), add(rb))
        } else {
            format!(
                "`{me}` must be told which branch `{chooser}` chose before it acts: start both \
                 branches with a message from `{chooser}` to `{to}`, with a different label in each"
            )
        }
    }

    pub(super) fn knowledge_of_choice(
        &mut self,
        chooser: &Participant,
        branches: &[GBranch],
        choice: Loc,
        (left, right): (usize, usize),
        conflict: &MergeConflict,
        hint: String,
    ) {
        let me = self.target.to_string();
        let (Some(lb), Some(rb)) = (branches.get(left), branches.get(right)) else {
            return;
        };
        let place = |at: Option<Loc>, b: &GBranch| at.unwrap_or_else(|| branch_head(b));
        let label = |at: Option<Loc>, b: &GBranch, does: &str| match at {
            Some(_) => format!("in branch `{}`, `{me}` does {does}", b.name),
            None => format!("in branch `{}`, `{me}` does nothing more", b.name),
        };
        // Primary: the later branch; secondary: the earlier one.
        let (p, s) = (place(conflict.right, rb), place(conflict.left, lb));
        self.knowledge.push((
            choice,
            Diagnostic::error(
                codes::KNOWLEDGE_OF_CHOICE,
                format!(
                    "role `{me}` cannot tell branch `{}` from branch `{}` of the choice at `{chooser}`",
                    lb.name, rb.name
                ),
                p.file,
                p.span,
                label(conflict.right, rb, &conflict.right_does),
            )
            .with_secondary(s.file, s.span, label(conflict.left, lb, &conflict.left_does))
            .with_hint(hint),
        ));
    }
}

/// The name of a branch (`Left` in `Left => { … }`).
fn branch_head(b: &GBranch) -> Loc {
    head(b.loc, b.name.len())
}

/// The branch whose span contains `at`.
pub(super) fn branch_containing(branches: &[GBranch], at: Option<Loc>) -> Option<usize> {
    let at = at?;
    branches.iter().position(|b| {
        b.loc.file == at.file && b.loc.span.start <= at.span.start && at.span.end <= b.loc.span.end
    })
}

/// The peer of a first action, for hints.
fn first_peer(action: &LocalAction) -> Option<String> {
    match action {
        LocalAction::Recv { from, .. } | LocalAction::Branch { from, .. } => Some(from.to_string()),
        LocalAction::RecvAll { family, .. } => Some(format!("{family}[*]")),
        LocalAction::Rec { body, .. } | LocalAction::Timeout { body, .. } => {
            body.first().and_then(first_peer)
        }
        _ => None,
    }
}
