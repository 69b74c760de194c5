//! Who is who: the binding of participant ids to node identities, and
//! messages tagged with the sender the transport authenticated.
//!
//! Every protocol message travels on a link authenticated to the sender's
//! node identity (libp2p's Noise handshake proves the Ed25519 key behind a
//! PeerId). The cores in this crate never trust an id a sender wrote into
//! its own message: the caller (the transport driver) hands each message
//! over as [`Authenticated`], and the session's [`Roster`] turns the
//! authenticated node into a [`ParticipantId`]. Blame therefore always
//! names the node that actually sent the bytes. A node that relays or
//! rewrites someone else's message in transit sends it *as itself*, so the
//! rewrite is attributed to it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::error::NodeId;
use crate::error::{Error, ParticipantId, Result, Usage, Violation};

/// A message together with the node identity the transport authenticated
/// for it. Only the transport driver builds these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated<M> {
    /// The node the link is authenticated to.
    pub sender: NodeId,
    /// What it sent.
    pub message: M,
}

impl<M> Authenticated<M> {
    /// Tag `message` with the node it came from.
    pub fn new(sender: NodeId, message: M) -> Self {
        Authenticated { sender, message }
    }
}

/// The binding of each participant of one session to a node identity,
/// agreed before the session starts (from the journal or the config).
/// One node holds at most one participant id per roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    nodes: BTreeMap<ParticipantId, NodeId>,
}

impl Roster {
    /// Bind participants to nodes. Participant 0 and a node bound twice
    /// are usage errors.
    pub fn new(bindings: impl IntoIterator<Item = (ParticipantId, NodeId)>) -> Result<Self> {
        let mut nodes = BTreeMap::new();
        for (p, node) in bindings {
            if p.0 == 0 {
                return Err(Usage::ZeroParticipant.into());
            }
            if nodes.values().any(|n| *n == node) || nodes.insert(p, node).is_some() {
                return Err(Usage::DuplicateBinding(p).into());
            }
        }
        Ok(Roster { nodes })
    }

    /// The participant a node is bound to.
    pub fn participant(&self, node: &NodeId) -> Option<ParticipantId> {
        self.nodes
            .iter()
            .find_map(|(p, n)| (n == node).then_some(*p))
    }

    /// The node a participant is bound to.
    pub fn node(&self, participant: ParticipantId) -> Option<NodeId> {
        self.nodes.get(&participant).copied()
    }

    /// Every bound participant, in order.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.nodes.keys().copied()
    }

    /// Whether `p` is bound.
    pub fn contains(&self, p: ParticipantId) -> bool {
        self.nodes.contains_key(&p)
    }

    /// The participant behind an authenticated sender, or an error naming
    /// the unbound node.
    pub(crate) fn attribute(&self, sender: &NodeId) -> Result<ParticipantId> {
        self.participant(sender)
            .ok_or(Error::UnknownSender { node: *sender })
    }

    /// Feed the binding into a transcript hash, so everyone who agrees on
    /// the transcript also agrees on who is who.
    pub(crate) fn hash_into(&self, h: &mut Sha256) {
        h.update((self.nodes.len() as u64).to_be_bytes());
        for (p, n) in &self.nodes {
            h.update(p.0.to_be_bytes());
            h.update(n.0);
        }
    }
}

/// Collect exactly one message per other member of `expected`, naming
/// (by authenticated sender) whoever sent something unexpected,
/// equivocated, or stayed silent. Our own broadcast may be included and is
/// skipped. Shared by DKG and reshare.
pub(crate) fn collect_from_others<'a, M: PartialEq>(
    roster: &Roster,
    session: &[u8; 32],
    expected: &BTreeSet<ParticipantId>,
    me: Option<ParticipantId>,
    messages: &'a [Authenticated<M>],
    meta: impl Fn(&M) -> [u8; 32],
) -> Result<BTreeMap<ParticipantId, &'a M>> {
    let mut got: BTreeMap<ParticipantId, &M> = BTreeMap::new();
    for a in messages {
        let from = roster.attribute(&a.sender)?;
        let m = &a.message;
        if Some(from) == me {
            continue; // our own broadcast looped back
        }
        if meta(m) != *session || !expected.contains(&from) {
            return Err(Error::violation(from, Violation::Unexpected));
        }
        match got.get(&from) {
            Some(prev) if *prev != m => return Err(Error::violation(from, Violation::Duplicate)),
            Some(_) => {}
            None => {
                got.insert(from, m);
            }
        }
    }
    if let Some(missing) = expected
        .iter()
        .find(|p| Some(**p) != me && !got.contains_key(p))
    {
        return Err(Error::violation(*missing, Violation::Missing));
    }
    Ok(got)
}
