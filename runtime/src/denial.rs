//! Why the guard chain refused a send: the refusal [`Error::Denied`]
//! carries, and the observer classes a `@leak` budget names. Kept below
//! both the error type and the guard chain (`crate::guard`), which
//! re-exports them.
//!
//! [`Error::Denied`]: crate::Error::Denied

use serde::{Deserialize, Serialize};

/// Why the guard chain refused a send. Nothing was sent, appended or
/// charged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// `@guard`: the sender's capability set lacks the capability.
    #[error("capability `{cap}` is not in the sender's capability set")]
    Capability {
        /// The capability asked for.
        cap: String,
    },
    /// `@cost`: the flow budget toward this peer in this context is too low.
    #[error("flow budget exhausted: the send costs {cost}, {available} left for this context and peer; wait for the refill")]
    FlowBudget {
        /// The send's cost.
        cost: u64,
        /// What was left.
        available: u64,
    },
    /// `@journal`: the fact could not be built or appended.
    #[error("journal coupling failed for fact `{fact}`: {reason}")]
    Journal {
        /// The annotation's fact name.
        fact: String,
        /// What failed.
        reason: String,
    },
    /// `@leak`: the leakage budget of an observer class is too low.
    #[error("leakage budget for {class:?} observers exhausted: the send leaks {bits} bits, {available} left")]
    Leakage {
        /// The observer class.
        class: ObserverClass,
        /// Bits the send would leak to that class.
        bits: u64,
        /// What was left.
        available: u64,
    },
    /// The guarded transport has no identity for the receiving peer.
    #[error("no peer identity is bound to roster peer {0}; build the guarded transport with one PeerKey per roster instance")]
    UnknownPeer(u32),
}

/// Who might learn metadata from a send (`@leak(class, bits)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObserverClass {
    /// The other party of the relationship.
    Relationship,
    /// Members of a shared group.
    Group,
    /// Nodes that relay or sit next to us on the network.
    Neighbor,
    /// Anyone else watching the network.
    External,
}

impl ObserverClass {
    /// Every class, in order.
    pub const ALL: [ObserverClass; 4] = [
        ObserverClass::Relationship,
        ObserverClass::Group,
        ObserverClass::Neighbor,
        ObserverClass::External,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            ObserverClass::Relationship => 0,
            ObserverClass::Group => 1,
            ObserverClass::Neighbor => 2,
            ObserverClass::External => 3,
        }
    }
}
