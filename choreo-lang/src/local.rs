//! Local types: one role's view of a protocol, produced by projection.
//!
//! Printing follows the language contract §5's canonical form (see
//! [`crate::project::print`]). Code generation and the model checker read
//! these types and nothing earlier.

pub use crate::global::{Annotation, Label, Loc, Name, Payload, ProtocolId, Size};

/// Projection's output for one protocol: its local types, keyed by the
/// protocol's id (module and name are kept for display).
#[derive(Clone, Debug)]
pub struct Projected {
    pub id: ProtocolId,
    pub module: String,
    pub protocol: String,
    pub locals: Vec<LocalProtocol>,
}

/// The projection of `id` among `projections` (in id order, as the driver
/// produces them).
pub fn projection(projections: &[Projected], id: ProtocolId) -> Option<&Projected> {
    projections
        .binary_search_by_key(&id, |p| p.id)
        .ok()
        .and_then(|i| projections.get(i))
}

/// Whose local type this is (the role name shared, like [`Peer`]'s).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A single role: `local Initiator in …`.
    Role(Name),
    /// Every member of a family treated uniformly: `local Witness in …`.
    /// When the protocol also names some members of a parameter-sized
    /// family (`W[*] -> W[0]` with `W[n]`), those get [`Target::Member`]
    /// local types and `Family` stands for every member *not* named.
    Family(Name),
    /// One member of a family that the protocol names by index:
    /// `local Node[0] in …`.
    Member(Name, u64),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Role(r) | Target::Family(r) => f.write_str(r),
            Target::Member(r, i) => write!(f, "{r}[{i}]"),
        }
    }
}

/// The other end of a point-to-point action (the role name shared with
/// the checked protocol's [`crate::global::Participant`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    Role(Name),
    Member(Name, u64),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Role(r) => f.write_str(r),
            Peer::Member(r, i) => write!(f, "{r}[{i}]"),
        }
    }
}

/// One role's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalProtocol {
    pub module: String,
    pub protocol: String,
    pub params: Vec<String>,
    pub target: Target,
    pub body: LocalBlock,
}

pub type LocalBlock = Vec<LocalAction>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arm {
    pub label: Label,
    pub payload: Payload,
    pub body: LocalBlock,
    /// The global message this arm receives (for diagnostics and spans in
    /// generated code; arms merged from several branches keep the first).
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAction {
    /// `send B L(T);`
    Send {
        to: Peer,
        label: Label,
        payload: Payload,
        annotations: Vec<Annotation>,
        loc: Loc,
    },
    /// `recv A L(T);` — a one-arm branch, kept separate for readable output.
    Recv {
        from: Peer,
        label: Label,
        payload: Payload,
        loc: Loc,
    },
    /// `send all W L(T);` — to every member of `family` (every other member
    /// when the sender belongs to it); one value per recipient.
    SendAll {
        family: String,
        label: Label,
        payload: Payload,
        annotations: Vec<Annotation>,
        loc: Loc,
    },
    /// `recv all W L(T) quorum q;` — from every member (every other member
    /// when the receiver belongs to it), in any order.
    RecvAll {
        family: String,
        label: Label,
        payload: Payload,
        quorum: Option<Size>,
        loc: Loc,
    },
    /// `exchange W L(T) quorum q;` — send to and receive from every other member.
    Exchange {
        family: String,
        label: Label,
        payload: Payload,
        quorum: Option<Size>,
        annotations: Vec<Annotation>,
        loc: Loc,
    },
    /// `select { Left => { … } Right => { … } }` — the chooser.
    Select {
        branches: Vec<(String, LocalBlock)>,
        loc: Loc,
    },
    /// `branch A { L1(T) => { … } L2 => { … } }`
    Branch {
        from: Peer,
        arms: Vec<Arm>,
        loc: Loc,
    },
    Rec {
        name: String,
        body: LocalBlock,
        loc: Loc,
    },
    Continue {
        name: String,
        loc: Loc,
    },
    Par {
        branches: Vec<LocalBlock>,
        loc: Loc,
    },
    /// `link Sub(A, W);`
    Link {
        module: String,
        protocol: String,
        args_text: String,
        loc: Loc,
    },
    /// `delegate to S;` — the projection of the delegating role ends here.
    DelegateTo {
        to: Peer,
        loc: Loc,
    },
    /// `accept from R;` — followed by R's remaining actions.
    AcceptFrom {
        from: Peer,
        loc: Loc,
    },
    /// `timeout 2s { … } else { … }`
    Timeout {
        millis: u64,
        text: String,
        body: LocalBlock,
        handler: LocalBlock,
        loc: Loc,
    },
}

/// Number of actions in a block, nested ones included.
pub fn block_size(block: &[LocalAction]) -> usize {
    block
        .iter()
        .map(|a| {
            1 + match a {
                LocalAction::Select { branches, .. } => {
                    branches.iter().map(|(_, b)| block_size(b)).sum()
                }
                LocalAction::Branch { arms, .. } => arms.iter().map(|a| block_size(&a.body)).sum(),
                LocalAction::Rec { body, .. } => block_size(body),
                LocalAction::Par { branches, .. } => branches.iter().map(|b| block_size(b)).sum(),
                LocalAction::Timeout { body, handler, .. } => {
                    block_size(body) + block_size(handler)
                }
                _ => 0,
            }
        })
        .sum()
}
