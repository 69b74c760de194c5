//! `delegate R to S` between guarded in-memory endpoints. The rule is the
//! node host's (see `node::shared`): the guard is the holder's. R's
//! endpoint leaves its guard behind — what that guard charged and
//! journaled stays there — and S's `accept` puts it behind the guard of
//! S's own endpoint: S's guard, flow context and capability set as
//! attenuated so far. In one process both guards are in the same address
//! space, but each endpoint's guard still stands for its holder's policy
//! (`memory_sessions` gives every endpoint its own), so the moved endpoint
//! sends under the new holder's.

use std::task::{Context, Poll};

use super::transport::GuardedTransport;
use crate::error::Error;
use crate::handoff::{Handoff, Handover};
use crate::ids::RoleId;
use crate::memory::MemoryTransport;
use crate::session::Session;

impl Handover for GuardedTransport<MemoryTransport> {
    fn hand_over(handoff: Handoff<Self>, to: RoleId) -> Result<(), Error> {
        let (session, state, params) = handoff.into_parts();
        let session = session.retransport(|guarded| guarded.inner_mut().detach());
        MemoryTransport::hand_over(Handoff::new(session, state, params), to)
    }

    fn poll_take_over(
        session: &mut Session<Self>,
        cx: &mut Context<'_>,
        from: RoleId,
    ) -> Poll<Result<Handoff<Self>, Error>> {
        let from_peer = session.peer_of(from)?;
        let guarded = session.transport_mut();
        let Poll::Ready(parcel) = guarded.inner_mut().poll_parcel(cx, from_peer) else {
            return Poll::Pending;
        };
        let (moved, state, params) = parcel.into_parts();
        // Same session, same roster: each peer keeps the guard identity
        // S's endpoint already knows it by.
        let peers = guarded.peer_keys().to_vec();
        let moved = moved.retransport(|inner| guarded.rewrap(inner.detach(), peers));
        Poll::Ready(Ok(Handoff::new(moved, state, params)))
    }
}
