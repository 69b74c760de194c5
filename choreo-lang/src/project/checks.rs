//! The projection-based checks (E04xx), a pass over what projection
//! returned: each target's local type and the [`Fact`]s its walk recorded.
//! This module decides which facts are errors and words them (message,
//! labels, and a hint that fixes the mistake).

use super::codes;
use super::facts::{BranchRef, Conflict, Fact, FirstAction};
use super::head;
use super::merge;

use crate::diagnostic::Diagnostic;
use crate::global::{Loc, Participant};
use crate::local::{LocalAction, LocalBlock, Peer, Target};

/// The verdicts on one target's projection.
#[derive(Default)]
pub(super) struct Verdicts {
    pub diagnostics: Vec<Diagnostic>,
    /// Knowledge-of-choice errors with their choice: dropped when the
    /// chooser of that choice fails to start a branch by sending (fixing
    /// the chooser is the fix for both).
    pub knowledge: Vec<(Loc, Diagnostic)>,
    /// Choices whose chooser (this target) does not start a branch by
    /// sending.
    pub failed_choices: Vec<Loc>,
}

/// Checks the facts recorded while projecting `protocol` (its name is the
/// label namespace hints propose) onto `target`, in walk order.
pub(super) fn check(protocol: &str, target: &Target, facts: Vec<Fact>) -> Verdicts {
    let mut c = Checker {
        target,
        namespace: protocol,
        out: Verdicts::default(),
    };
    for fact in facts {
        if fact.is_error() {
            c.report(fact);
        }
    }
    c.out
}

struct Checker<'a> {
    target: &'a Target,
    namespace: &'a str,
    out: Verdicts,
}

impl Checker<'_> {
    fn report(&mut self, fact: Fact) {
        match fact {
            Fact::Chooses {
                chooser,
                choice,
                branch,
                first,
            } => {
                self.chooser_not_sending(&chooser, &branch, first.as_ref());
                self.out.failed_choices.push(choice);
            }
            Fact::Handles { timeout, first } => self.handler_not_sending(&first, timeout),
            Fact::Conflict(conflict) => self.knowledge_of_choice(&conflict),
            Fact::TooLarge { choice, size } => self.too_large(choice, size),
            Fact::ActsAfterLink { link, first } => self.active_at_link(link, first),
            Fact::ActsAfterAccept {
                at,
                accepted,
                plays,
            } => self.acts_after_accept(at, accepted, plays.as_ref()),
            Fact::PathsDiffer { at, what, compound } => {
                self.delegate_on_some_paths(at, what, compound)
            }
            Fact::LoopDiffers { at, rec, cont } => self.delegate_in_loop(at, &rec, cont),
        }
    }

    /// E0405: after accepting a delegation, the target's own role acts.
    fn acts_after_accept(&mut self, at: Loc, accepted: Loc, plays: Option<&Target>) {
        let me = self.target.to_string();
        let plays = plays.map_or_else(String::new, ToString::to_string);
        self.out.diagnostics.push(
            Diagnostic::error(
                codes::DELEGATE_TARGET_ACTS,
                format!("role `{me}` acts after it was delegated `{plays}`'s part"),
                at.file,
                at.span,
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
    fn too_large(&mut self, choice: Loc, size: usize) {
        let me = self.target.to_string();
        let at = head(choice, "choice".len());
        self.out.diagnostics.push(
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

    /// E0404: the target acts after a `link` it is not passed to.
    fn active_at_link(&mut self, link: Loc, first: Loc) {
        let me = self.target.to_string();
        self.out.diagnostics.push(
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

    /// E0406: a loop repeats with the role played by someone else.
    fn delegate_in_loop(&mut self, at: Loc, rec: &str, cont: Loc) {
        self.out.diagnostics.push(
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

    /// E0406: the paths of a compound statement leave the role played by
    /// different holders.
    fn delegate_on_some_paths(&mut self, at: Loc, what: &str, compound: Loc) {
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
        self.out.diagnostics.push(d.with_hint(if what == "choice" {
            "delegate the same way in every branch, or move the `delegate` after the `choice`"
                .to_string()
        } else {
            format!("move the `delegate` after the `{what}`")
        }));
    }

    /// E0402: the chooser does not start a branch by sending.
    fn chooser_not_sending(
        &mut self,
        chooser: &Participant,
        branch: &BranchRef,
        first: Option<&FirstAction>,
    ) {
        let name = &branch.name;
        let branch_head = branch_head(branch);
        let mut d = match first {
            Some(first) => Diagnostic::error(
                codes::CHOOSER_NOT_SENDING,
                format!("the chooser `{chooser}` does not start branch `{name}` by sending"),
                first.at.file,
                first.at.span,
                format!("`{chooser}` first does {} here", first.does),
            )
            .with_secondary(
                branch_head.file,
                branch_head.span,
                format!("branch `{name}` chosen by `{chooser}`"),
            ),
            None => Diagnostic::error(
                codes::CHOOSER_NOT_SENDING,
                format!("the chooser `{chooser}` does not start branch `{name}` by sending"),
                branch_head.file,
                branch_head.span,
                format!("`{chooser}` does nothing in branch `{name}`"),
            ),
        };
        let to = first
            .and_then(|f| f.peer.clone())
            .unwrap_or_else(|| "…".to_string());
        d = d.with_hint(format!(
            "make `{chooser}` send first in branch `{name}`, e.g. `{chooser} -> {to} : {name};`, \
             so the other roles learn the choice"
        ));
        self.out.diagnostics.push(d);
    }

    /// E0403: the target cannot start a timeout handler by sending.
    fn handler_not_sending(&mut self, first: &FirstAction, timeout: Loc) {
        let me = self.target.to_string();
        let at = first.at;
        self.out.diagnostics.push(
            Diagnostic::error(
                codes::HANDLER_NOT_SENDING,
                format!("role `{me}` cannot start the timeout handler by sending"),
                at.file,
                at.span,
                format!("`{me}` first does {} in the handler", first.does),
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
    /// of the two branches and the first whose merge succeeds is named,
    /// preferring one added message to two.
    fn informing_hint(&self, c: &Conflict) -> String {
        let me = self.target.to_string();
        let to = match self.target {
            Target::Family(w) => format!("{w}[*]"),
            t => t.to_string(),
        };
        let chooser = &c.chooser;
        let (lb, rb) = (&c.left.1, &c.right.1);
        let (left_block, right_block) = (&c.left_block, &c.right_block);
        let from = match chooser {
            Participant::Role(r) | Participant::All(r) => Peer::Role(r.clone()),
            Participant::Member(r, i) => Peer::Member(r.clone(), *i),
        };
        let informed = |block: &LocalBlock, branch: &BranchRef| -> LocalBlock {
            let mut out = Vec::with_capacity(block.len() + 1);
            out.push(LocalAction::Recv {
                from: from.clone(),
                label: crate::global::Label {
                    name: branch.name.as_str().into(),
                    namespace: self.namespace.into(),
                },
                payload: crate::global::Payload::unit(),
                loc: branch.loc,
            });
            out.extend(block.iter().cloned());
            out
        };
        let add = |b: &BranchRef| {
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

    /// E0401: the target cannot tell two branches apart.
    fn knowledge_of_choice(&mut self, c: &Conflict) {
        let hint = self.informing_hint(c);
        let me = self.target.to_string();
        let (lb, rb) = (&c.left.1, &c.right.1);
        let conflict = &c.conflict;
        let chooser = &c.chooser;
        let place = |at: Option<Loc>, b: &BranchRef| at.unwrap_or_else(|| branch_head(b));
        let label = |at: Option<Loc>, b: &BranchRef, does: &str| match at {
            Some(_) => format!("in branch `{}`, `{me}` does {does}", b.name),
            None => format!("in branch `{}`, `{me}` does nothing more", b.name),
        };
        // Primary: the later branch; secondary: the earlier one.
        let (p, s) = (place(conflict.right, rb), place(conflict.left, lb));
        self.out.knowledge.push((
            c.choice,
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
fn branch_head(b: &BranchRef) -> Loc {
    head(b.loc, b.name.len())
}
