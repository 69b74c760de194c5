//! Connection-level admission: who may stay connected, and where known
//! peers can be dialed.
//!
//! The allow rule is a predicate supplied by the owner of the swarm (the
//! node driver asks the node core: "is this peer bound in an open session's
//! roster or in the configured peer list?"). A connection from a peer the
//! predicate rejects is closed right after the Noise handshake authenticated
//! it — before any stream can be opened on it. The dialer sees its
//! connection established and then closed without a single byte of
//! application data; that is how a client recognises a refusal (see
//! [`super::HostEvent::Refused`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// Decides whether a peer may be connected. Called on the swarm's task for
/// every new connection and every inbound stream, so it must be quick.
pub type AllowPeer = Arc<dyn Fn(&PeerId) -> bool + Send + Sync>;

/// Why a connection was closed by the gate.
#[derive(Debug, thiserror::Error)]
#[error("peer {peer} is not allowed: it is bound in no open session's roster and not in the configured peer list")]
pub struct NotAllowed {
    /// The refused peer.
    pub peer: PeerId,
}

/// The admission behaviour: denies connections of peers the predicate
/// rejects and tells the swarm the addresses of peers it was told about.
pub struct Gate {
    allow: AllowPeer,
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

/// Addresses kept per peer; older ones are forgotten first.
const MAX_ADDRESSES_PER_PEER: usize = 8;

impl Gate {
    /// A gate admitting exactly the peers `allow` accepts.
    pub fn new(allow: AllowPeer) -> Self {
        Gate {
            allow,
            addresses: HashMap::new(),
        }
    }

    /// Does the rule admit `peer` now?
    pub fn allows(&self, peer: &PeerId) -> bool {
        (self.allow)(peer)
    }

    /// Remembers an address to dial `peer` at (from the user, or mDNS).
    pub fn add_address(&mut self, peer: PeerId, address: Multiaddr) {
        let known = self.addresses.entry(peer).or_default();
        if known.contains(&address) {
            return;
        }
        if known.len() == MAX_ADDRESSES_PER_PEER {
            known.remove(0);
        }
        known.push(address);
    }

    fn admit(&self, peer: PeerId) -> Result<(), ConnectionDenied> {
        if self.allows(&peer) {
            Ok(())
        } else {
            Err(ConnectionDenied::new(NotAllowed { peer }))
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _connection: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        let Some(peer) = peer else {
            return Ok(Vec::new());
        };
        self.admit(peer)?;
        Ok(self.addresses.get(&peer).cloned().unwrap_or_default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        peer: PeerId,
        _address: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::NewExternalAddrOfPeer(new) = event {
            self.add_address(new.peer_id, new.addr.clone());
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
