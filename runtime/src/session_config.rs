//! What opens a session, without its transport: [`SessionConfig`] for
//! [`Session::new`](crate::Session::new) and [`LinkedSession`] for
//! [`Transport::open_linked`](crate::Transport::open_linked). Below both
//! the transport trait and the session, which name them.

use crate::ids::{PeerId, ProtocolInfo, RoleId, SessionId};
use crate::roster::Roster;

/// What [`Session::new`](crate::Session::new) needs besides the transport.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Fresh per run; all participants use the same id.
    pub id: SessionId,
    /// The protocol descriptor emitted by the code generator.
    pub protocol: &'static ProtocolInfo,
    /// The local role instance.
    pub me: RoleId,
    /// All role instances of the session (same on every participant).
    pub roster: Roster,
}

/// The session a link opens, for [`Transport::open_linked`](crate::Transport::open_linked).
#[derive(Clone, Debug)]
pub struct LinkedSession {
    /// The linked session: its id, protocol, local role and roster.
    pub config: SessionConfig,
    /// `peers[k]` is the linking transport's peer that plays the linked
    /// roster's instance `k`.
    pub peers: Vec<PeerId>,
}
