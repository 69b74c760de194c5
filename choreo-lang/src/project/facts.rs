//! What the projection walk observed on its way, as typed facts: the
//! walk's second output beside the local type. The walk records them
//! without judging them; [`super::checks`] decides which are errors and
//! words every E04xx diagnostic from them.

use super::merge::{describe, label_loc, MergeConflict};
use super::starts_by_sending;

use crate::global::{Loc, Participant};
use crate::local::{LocalAction, LocalBlock, Target};

/// The first action of a block, as the checks need it: a summary, so
/// recording it never copies a nested block.
#[derive(Clone, Debug)]
pub(super) struct FirstAction {
    /// Does the block start by sending (the language contract §3.2)?
    pub sends: bool,
    /// Where to point at it.
    pub at: Loc,
    /// Its printed head, for messages.
    pub does: String,
    /// The peer it receives from, for hints.
    pub peer: Option<String>,
}

impl FirstAction {
    pub(super) fn of(block: &[LocalAction]) -> Option<FirstAction> {
        let first = block.first()?;
        Some(FirstAction {
            sends: starts_by_sending(block),
            at: label_loc(first),
            does: describe(first),
            peer: first_peer(first),
        })
    }
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

/// A branch of a global choice, by name and place.
#[derive(Clone, Debug)]
pub(super) struct BranchRef {
    pub name: String,
    /// The whole branch, `Name => { … }`.
    pub loc: Loc,
}

/// Two branches of a choice whose projections onto the target do not merge.
#[derive(Debug)]
pub(super) struct Conflict {
    pub chooser: Participant,
    pub choice: Loc,
    /// The earlier branch (index `left.0`) and the later one.
    pub left: (usize, BranchRef),
    pub right: (usize, BranchRef),
    pub conflict: MergeConflict,
    /// The target's projections of the two branches (hints try fixes on them).
    pub left_block: LocalBlock,
    pub right_block: LocalBlock,
}

/// One observation of the walk onto one target, in walk order.
#[derive(Debug)]
pub(super) enum Fact {
    /// The target chooses at `choice`; `first` is its first action in
    /// `branch` (`None`: it does nothing there).
    Chooses {
        chooser: Participant,
        choice: Loc,
        branch: BranchRef,
        first: Option<FirstAction>,
    },
    /// The target takes part in the handler of `timeout`, starting with
    /// `first`.
    Handles { timeout: Loc, first: FirstAction },
    /// The branches of a choice do not merge for the target (projection
    /// went on with the first branch).
    Conflict(Box<Conflict>),
    /// Merging the branches of `choice` would give the target `size`
    /// actions, over the budget (recorded once per target).
    TooLarge { choice: Loc, size: usize },
    /// The target acts at `first` on a path that passed `link` without
    /// being passed to it (recorded once per target).
    ActsAfterLink { link: Loc, first: Loc },
    /// A statement at `at` involves the target's own role after it accepted
    /// `plays`'s part at `accepted` (recorded once per target).
    ActsAfterAccept {
        at: Loc,
        accepted: Loc,
        plays: Option<Target>,
    },
    /// The paths through a `choice`, `par` or `timeout` (`what`, at
    /// `compound`) leave the target playing different roles; `at` is the
    /// `delegate` that made the difference.
    PathsDiffer {
        at: Loc,
        what: &'static str,
        compound: Loc,
    },
    /// `continue rec` at `cont` comes back playing another role than at the
    /// start of the loop, since the `delegate` at `at`.
    LoopDiffers { at: Loc, rec: String, cont: Loc },
}

impl Fact {
    /// Is this fact an error? Chooser and handler facts are errors when
    /// their first action is not a send (the language contract §3.2); every
    /// other fact is one.
    pub(super) fn is_error(&self) -> bool {
        match self {
            Fact::Chooses { first, .. } => !first.as_ref().is_some_and(|f| f.sends),
            Fact::Handles { first, .. } => !first.sends,
            Fact::Conflict(_)
            | Fact::TooLarge { .. }
            | Fact::ActsAfterLink { .. }
            | Fact::ActsAfterAccept { .. }
            | Fact::PathsDiffer { .. }
            | Fact::LoopDiffers { .. } => true,
        }
    }
}
