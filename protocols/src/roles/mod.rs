//! Role logic: the aura protocols on their generated endpoints, driving
//! the crypto cores of this crate.
//!
//! Each module runs one role of one choreography over any
//! `choreo_runtime::Transport` (in memory, the simulator's node host, or
//! libp2p). No endpoint code is written by hand: every message goes
//! through the typestates generated from `protocols/choreo/*.choreo`.
//!
//! Authentication: a module's `session_spec` binds family member `j` of
//! the session to the node identity of participant `j` (in the order the
//! module documents). The node host delivers a frame of member `j` only if
//! it arrived on a link authenticated to that node, so the role logic tags
//! what member `j` sent with that node ([`Authenticated`](crate::roster::Authenticated)) and the crypto
//! cores attribute it through their [`Roster`]: blame follows the link,
//! never a field the sender wrote.
//!
//! * [`dkg`] — every participant of a DKG run;
//! * [`consensus`] — the witnesses of one consensus instance (fast path and
//!   fallback);
//! * [`reshare`] — the dealers and new holders of a reshare.

pub mod consensus;
pub mod dkg;
pub mod reshare;

use choreo_runtime::node;

use crate::error::ParticipantId;
use crate::roster::{NodeId, Roster};

/// Why a role's run stopped, by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// The local caller asked for something impossible (bad config, a
    /// session opened for another role).
    #[error("usage error: {0}")]
    Usage(String),
    /// The session failed: a peer went away or the network failed, or a
    /// peer broke the protocol's message order (named by role).
    #[error(transparent)]
    Session(#[from] choreo_runtime::Error),
    /// A crypto core refused a message (naming the participant whose
    /// authenticated link carried it), or failed locally.
    #[error(transparent)]
    Protocol(#[from] crate::Error),
    /// Consensus ended without a commit because no operation ever reached
    /// this witness or any witness it heard from (the initiator failed
    /// before proposing): there was nothing to agree on.
    #[error("no operation was proposed to this witness or the witnesses it heard from")]
    NothingProposed,
    /// A peer reported that the run failed on its side.
    #[error("{reporter} aborted the run: {reason}")]
    PeerAborted {
        /// Who reported it.
        reporter: ParticipantId,
        /// What it said.
        reason: String,
    },
}

impl RoleError {
    /// The participant this error blames, if a crypto core named one.
    pub fn culprit(&self) -> Option<ParticipantId> {
        match self {
            RoleError::Protocol(e) => e.culprit(),
            _ => None,
        }
    }
}

/// The node-host identity of an aura node id (same 32 bytes).
pub fn to_host(id: NodeId) -> node::NodeId {
    node::NodeId(id.0)
}

/// The aura node id of a node-host identity (same 32 bytes).
pub fn from_host(id: node::NodeId) -> NodeId {
    NodeId(id.0)
}

/// Participants of `roster` in ascending order, with their nodes.
fn ordered(roster: &Roster) -> Vec<(ParticipantId, NodeId)> {
    roster
        .participants()
        .filter_map(|p| roster.node(p).map(|n| (p, n)))
        .collect()
}

/// The family index of the local endpoint of `session`.
fn family_index<T: choreo_runtime::Transport>(
    session: &choreo_runtime::Session<T>,
) -> Result<usize, RoleError> {
    session
        .me()
        .index
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| RoleError::Usage("the session's local role is not a family member".into()))
}
