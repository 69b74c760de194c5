//! [`SharedNode`]: the node behind a lock, shared by its driver and the
//! transports of its sessions; [`NodeTransport`]: one session's view.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{Node, NodeId, Time};
use crate::envelope::{Frame, Header, Message};
use crate::error::{Error, TransportError, UsageError};
use crate::guard::{Grant, Guard, GuardedTransport, PeerKey};
use crate::handoff::{CoreState, Handoff, Handover};
use crate::ids::{PeerId, ProtocolInfo, RoleId, SessionId};
use crate::link::LinkedSession;
use crate::roster::Roster;
use crate::session::{Session, SessionConfig};
use crate::transport::Transport;

/// What [`SharedNode::open_session`] needs.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// Fresh per run; every participant uses the same id.
    pub id: SessionId,
    /// The protocol descriptor the code generator emitted.
    pub protocol: &'static ProtocolInfo,
    /// The local role instance.
    pub me: RoleId,
    /// All role instances (same on every participant).
    pub roster: Roster,
    /// `peers[i]` is the node bound to roster peer `i`
    /// (`roster.instances()[i]`); `peers[me]` must be this node, and no
    /// other instance may be bound to it.
    pub peers: Vec<NodeId>,
    /// How long a silent peer is tolerated before its receives fail
    /// (`None`: [`LinkConfig::patience`](super::LinkConfig::patience)).
    pub patience: Option<Duration>,
}

/// A cloneable, thread-safe handle to a [`Node`], shared by the driver and
/// the [`NodeTransport`]s of its sessions. Every call takes the lock for
/// one synchronous step.
#[derive(Clone, Debug)]
pub struct SharedNode {
    inner: Arc<Shared>,
}

/// Where the sessions of a node read the time: set by the driver.
pub type ClockFn = Arc<dyn Fn() -> Time + Send + Sync>;

/// A driver's way to put queued frames on the wire from whichever task
/// queued them (see [`SharedNode::set_flush`]). Returns whether the driver
/// must still be woken.
pub type FlushFn = Arc<dyn Fn(&SharedNode) -> bool + Send + Sync>;

struct Shared {
    node: Mutex<Node>,
    driver: Mutex<Option<Waker>>,
    flush: Mutex<Option<FlushFn>>,
    clock: Mutex<Option<ClockFn>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the node half-updated in
    // a way later calls rely on (every step re-checks its state), so keep
    // going rather than poison every session.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SharedNode {
    /// Share `node`.
    pub fn new(node: Node) -> Self {
        Self {
            inner: Arc::new(Shared {
                node: Mutex::new(node),
                driver: Mutex::new(None),
                flush: Mutex::new(None),
                clock: Mutex::new(None),
            }),
        }
    }

    /// Lock the node and run `f` on it (drivers call `handle_frame`,
    /// `poll_transmit`, `poll_timeout`, `handle_timeout` and `poll_event`
    /// through this).
    pub fn with<R>(&self, f: impl FnOnce(&mut Node) -> R) -> R {
        f(&mut lock(&self.inner.node))
    }

    /// Register the driver's waker: woken whenever a session queued
    /// something to transmit (a send, a close). The driver then calls
    /// `poll_transmit` until `None` and re-reads `poll_timeout`.
    pub fn set_driver_waker(&self, waker: Waker) {
        *lock(&self.inner.driver) = Some(waker);
    }

    /// Register a flush: called, outside the node's lock, whenever a
    /// session queued something to transmit, before the driver is woken.
    /// A driver whose writes never wait (they go to bounded per-peer
    /// queues) drains [`Node::poll_transmit`] there, so a send reaches the
    /// network from the sender's own task instead of after a hop through
    /// the driver's. The flush returns whether the driver must still be
    /// woken: a driver that knows what it waits for (say, its timer is
    /// already armed at or before [`Node::poll_timeout`], and
    /// [`Node::has_events`] is false) answers `false` and saves its task
    /// a wake-up.
    pub fn set_flush(&self, flush: FlushFn) {
        *lock(&self.inner.flush) = Some(flush);
    }

    /// Register the driver's clock: the time sessions on this node measure
    /// their timeout deadlines on, in the driver's [`Time`] (the same the
    /// driver passes to `handle_frame`/`handle_timeout`). Without one,
    /// sessions read the latest time the driver passed in.
    pub fn set_clock(&self, clock: ClockFn) {
        *lock(&self.inner.clock) = Some(clock);
    }

    /// Now, on the driver's clock (see [`set_clock`](Self::set_clock)).
    pub fn now(&self) -> Time {
        let clock = lock(&self.inner.clock).clone();
        match clock {
            Some(clock) => clock(),
            None => self.with(|n| n.now()),
        }
    }

    /// Put every frame the node queued on the wire now, if the driver
    /// registered a [flush](Self::set_flush), then wake the driver (unless
    /// the flush said it need not be). Sessions
    /// call it after every send and close; a driver task that fed the node
    /// from outside its own loop (a frame read by a reader task) calls it too.
    pub fn wake_driver(&self) {
        let flush = lock(&self.inner.flush).clone();
        if let Some(flush) = flush {
            if !flush(self) {
                return;
            }
        }
        if let Some(w) = lock(&self.inner.driver).as_ref() {
            w.wake_by_ref();
        }
    }

    /// Open one participant's session on this node. The result is an
    /// ordinary [`Session`], so generated endpoints run over it unchanged.
    /// Frames that arrived for this session before it was opened are
    /// delivered now.
    pub fn open_session(&self, spec: SessionSpec) -> Result<Session<NodeTransport>, Error> {
        let (config, transport) = self.host_session(spec)?;
        // On failure the transport is dropped, which closes the hosted
        // session again.
        let session = Session::new(config, transport);
        self.wake_driver();
        session
    }

    /// [`open_session`](Self::open_session) with every send behind
    /// `guard`: the session's annotated statements pass the guard chain
    /// (capabilities from `grant`, flow budgets per (`grant.context`, peer
    /// node), the guard's journal and leakage budgets). Each roster peer's
    /// guard identity is the node bound to it.
    pub fn open_guarded_session(
        &self,
        spec: SessionSpec,
        guard: &Guard,
        grant: Grant,
    ) -> Result<Session<GuardedTransport<NodeTransport>>, Error> {
        let peers = spec.peers.iter().map(|n| PeerKey(n.0)).collect();
        let (config, transport) = self.host_session(spec)?;
        let guarded = guard.wrap(transport, grant.context, peers, grant.capabilities);
        let session = Session::new(config, guarded);
        self.wake_driver();
        session
    }

    /// Host the session in the node core; its transport and configuration.
    fn host_session(&self, spec: SessionSpec) -> Result<(SessionConfig, NodeTransport), Error> {
        let SessionSpec {
            id,
            protocol,
            me,
            roster,
            peers,
            patience,
        } = spec;
        let header = Header {
            session: id,
            fingerprint: protocol.fingerprint,
            sender: me,
        };
        let count = roster.len();
        // A node that was idle has not been told the time for a while; its
        // new links must count a peer's silence from now, not from the
        // last time the driver passed in (or the session would find peers
        // "lost" the moment it opens).
        let now = self.now();
        let local = self.with(|n| {
            n.tick(now);
            let patience = patience.unwrap_or(n.config().link.patience);
            n.open(header, protocol, roster.clone(), peers, patience)
        })?;
        let transport = NodeTransport {
            node: self.clone(),
            session: id,
            me: local,
            peers: count,
            taking_over: None,
        };
        let config = SessionConfig {
            id,
            protocol,
            me,
            roster,
        };
        Ok((config, transport))
    }
}

impl SharedNode {
    /// Move the endpoint `handoff` holds, in its current state, to node
    /// `to` (device migration: the session goes on from a user's new
    /// phone). `to` must be waiting for it
    /// ([`accept_handoff`](Self::accept_handoff)). The bundle and the
    /// rebind notices go out from this node's driver, retransmitted until
    /// acknowledged; this returns once they are queued. From now on this
    /// node neither sends nor delivers anything of the endpoint: frames
    /// that still reach it are forwarded to `to`, and a frame it sent
    /// after the handoff would be refused by the peers.
    ///
    /// On an error (`to` is this node; the bundle — unacknowledged and
    /// undelivered traffic — exceeds the maximum frame length) nothing
    /// moved: the endpoint is closed here, as a dropped endpoint is (its
    /// peers get a close, not silence).
    pub fn hand_off(&self, handoff: Handoff<NodeTransport>, to: NodeId) -> Result<(), Error> {
        let (mut session, state, params) = handoff.into_parts();
        let key = session.transport_mut().session;
        self.depart(session, key, to, state, params)
    }

    /// [`hand_off`](Self::hand_off) for an endpoint behind this node's
    /// guard ([`open_guarded_session`](Self::open_guarded_session)). Only
    /// the endpoint moves: the guard is this node's policy and stays here,
    /// with every charge, leak and journal fact the endpoint's sends made
    /// so far. The new holder takes the endpoint with
    /// [`accept_guarded_handoff`](Self::accept_guarded_handoff) (its own
    /// guard judges the sends from then on) or with
    /// [`accept_handoff`](Self::accept_handoff) (no guard: only for a role
    /// without annotated sends left).
    pub fn hand_off_guarded(
        &self,
        handoff: Handoff<GuardedTransport<NodeTransport>>,
        to: NodeId,
    ) -> Result<(), Error> {
        let (mut session, state, params) = handoff.into_parts();
        let key = session.transport_mut().inner().session;
        self.depart(session, key, to, state, params)
    }

    /// Freeze the endpoint hosted under `key`, which `session` runs on, and
    /// send it to `to`; `session` is dismissed once the node took it.
    fn depart<T: Transport>(
        &self,
        mut session: Session<T>,
        key: SessionId,
        to: NodeId,
        state: u32,
        params: Vec<u32>,
    ) -> Result<(), Error> {
        let core = CoreState::capture(&mut session);
        let result = self.with(|n| n.depart(key, to, core, state, params));
        if result.is_ok() {
            session.dismiss();
        }
        self.wake_driver();
        result
    }

    /// Wait for an endpoint of `protocol` that node `from` hands to this
    /// node ([`hand_off`](Self::hand_off)). From this call on, `from` may
    /// connect and send its bundle; the returned endpoint is in the state
    /// it was handed off in: resume it with the generated `resume` of that
    /// state. A bundle that does not check out (another protocol, a roster
    /// that does not bind the endpoint to this node, inconsistent links) is
    /// refused as a [`NodeEvent::Violation`](super::NodeEvent::Violation)
    /// naming `from`, and this keeps waiting.
    pub fn accept_handoff(
        &self,
        protocol: &'static ProtocolInfo,
        from: NodeId,
    ) -> impl std::future::Future<Output = Result<Handoff<NodeTransport>, Error>> + Send + 'static
    {
        let node = self.clone();
        let id = self.with(|n| n.expect(from, protocol, None, None));
        async move {
            let landed = Expecting {
                node: node.clone(),
                id: id?,
            }
            .wait()
            .await?;
            node.resume_landed(landed, |t, _| t)
        }
    }

    /// [`accept_handoff`](Self::accept_handoff), with the arriving endpoint
    /// behind `guard` — this node's guard — as
    /// [`open_guarded_session`](Self::open_guarded_session) puts a session
    /// it opens: capabilities from `grant`, flow budgets per
    /// (`grant.context`, peer node), this guard's journal and leakage
    /// budgets. Whatever guarded the endpoint on its old holder stays
    /// there; from here on every annotated send is judged by `guard`
    /// alone. Each roster peer's guard identity is the node bound to it
    /// in the bundle.
    pub fn accept_guarded_handoff(
        &self,
        protocol: &'static ProtocolInfo,
        from: NodeId,
        guard: &Guard,
        grant: Grant,
    ) -> impl std::future::Future<Output = Result<Handoff<GuardedTransport<NodeTransport>>, Error>>
           + Send
           + 'static {
        let node = self.clone();
        let guard = guard.clone();
        let id = self.with(|n| n.expect(from, protocol, None, None));
        async move {
            let landed = Expecting {
                node: node.clone(),
                id: id?,
            }
            .wait()
            .await?;
            node.resume_landed(landed, |t, nodes| {
                let peers = nodes.iter().map(|n| PeerKey(n.0)).collect();
                guard.wrap(t, grant.context, peers, grant.capabilities)
            })
        }
    }

    /// The endpoint of a landed handoff, on the transport `wrap` makes of
    /// its node transport and the nodes bound to its roster.
    fn resume_landed<U: Transport>(
        &self,
        landed: super::handoff::Landed,
        wrap: impl FnOnce(NodeTransport, &[NodeId]) -> U,
    ) -> Result<Handoff<U>, Error> {
        let transport = NodeTransport {
            node: self.clone(),
            session: landed.key,
            me: landed.me_peer,
            peers: landed.roster.len(),
            taking_over: None,
        };
        let config = SessionConfig {
            id: landed.session,
            protocol: landed.protocol,
            me: landed.me,
            roster: landed.roster,
        };
        let mut session = Session::new(config, wrap(transport, &landed.nodes))?;
        landed.core.restore(&mut session);
        self.wake_driver();
        Ok(Handoff::new(session, landed.state, landed.params))
    }
}

/// An expected handoff; dropping it stops waiting.
struct Expecting {
    node: SharedNode,
    id: u64,
}

impl Expecting {
    /// The landed endpoint.
    async fn wait(self) -> Result<super::handoff::Landed, Error> {
        std::future::poll_fn(|cx| {
            self.node
                .with(|n| n.poll_arrival(self.id, cx.waker()))
                .map(|landed| landed.ok_or_else(cancelled))
        })
        .await
    }
}

fn cancelled() -> Error {
    crate::error::UsageError::Host("the expected handoff was cancelled".into()).into()
}

impl Drop for Expecting {
    fn drop(&mut self) {
        self.node.with(|n| n.cancel_arrival(self.id));
    }
}

/// One session's transport over a [`SharedNode`]: sends queue frames on the
/// session's reliable links, receives take delivered messages.
#[derive(Debug)]
pub struct NodeTransport {
    node: SharedNode,
    /// The node's key for this endpoint: the session id, or a fresh one
    /// for an endpoint that moved here in a handoff.
    session: SessionId,
    me: PeerId,
    peers: usize,
    /// The delegated endpoint this one waits for (`accept`).
    taking_over: Option<u64>,
}

impl NodeTransport {
    /// The node's key for this endpoint: the session id, unless the
    /// endpoint moved to this node in a handoff.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Drop for NodeTransport {
    fn drop(&mut self) {
        if let Some(id) = self.taking_over.take() {
            self.node.with(|n| n.cancel_arrival(id));
        }
        self.close();
    }
}

impl NodeTransport {
    /// On this endpoint (S's, of session `id`): the endpoint of `from` (R)
    /// that R's holder delegates to this node, once it has landed.
    fn poll_delegated(
        &mut self,
        cx: &mut Context<'_>,
        protocol: &'static ProtocolInfo,
        id: SessionId,
        from: RoleId,
    ) -> Poll<Result<super::handoff::Landed, Error>> {
        let node = self.node.clone();
        let arrival = match self.taking_over {
            Some(a) => a,
            None => {
                let Some(holder) = node.with(|n| n.bound_node(self.session, from)) else {
                    return Poll::Ready(Err(crate::error::UsageError::UnknownRole {
                        role: protocol.role_name(from),
                    }
                    .into()));
                };
                match node.with(|n| n.expect_delegation(holder, protocol, id, from)) {
                    Ok(a) => *self.taking_over.insert(a),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        };
        node.with(|n| n.poll_arrival(arrival, cx.waker()))
            .map(|landed| {
                self.taking_over = None;
                landed.ok_or_else(cancelled)
            })
    }

    /// The node bound to role instance `to` of this endpoint's session.
    fn holder_of(&self, to: RoleId, protocol: &ProtocolInfo) -> Result<NodeId, Error> {
        self.node
            .with(|n| n.bound_node(self.session, to))
            .ok_or_else(|| {
                crate::error::UsageError::UnknownRole {
                    role: protocol.role_name(to),
                }
                .into()
            })
    }
}

/// Send `handoff`'s endpoint to the node that holds `to`, for any session
/// whose transport is a [`NodeTransport`] (`node_of` reaches it through
/// whatever wraps it).
fn depart_to<T: Transport>(
    handoff: Handoff<T>,
    to: RoleId,
    node_of: impl FnOnce(&T) -> &NodeTransport,
) -> Result<(), Error> {
    let (mut session, state, params) = handoff.into_parts();
    let protocol = session.protocol();
    let t = node_of(session.transport_mut());
    let (node, key) = (t.node.clone(), t.session);
    let to_node = t.holder_of(to, protocol)?;
    node.depart(session, key, to_node, state, params)
}

impl Handover for NodeTransport {
    fn hand_over(handoff: Handoff<Self>, to: RoleId) -> Result<(), Error> {
        depart_to(handoff, to, |t| t)
    }

    fn poll_take_over(
        session: &mut Session<Self>,
        cx: &mut Context<'_>,
        from: RoleId,
    ) -> Poll<Result<Handoff<Self>, Error>> {
        let (protocol, id) = (session.protocol(), session.id());
        let t = session.transport_mut();
        let node = t.node.clone();
        t.poll_delegated(cx, protocol, id, from)
            .map(|landed| node.resume_landed(landed?, |t, _| t))
    }
}

/// `delegate` and `accept` between guarded endpoints: the delegated
/// endpoint leaves its old holder's guard behind (charges, leaks and facts
/// made there stay there) and continues behind the guard of the endpoint
/// that accepts it — the new holder's guard, flow context and capability
/// set (as attenuated so far), with each peer's guard identity the node
/// bound to it.
impl Handover for GuardedTransport<NodeTransport> {
    fn hand_over(handoff: Handoff<Self>, to: RoleId) -> Result<(), Error> {
        depart_to(handoff, to, GuardedTransport::inner)
    }

    fn poll_take_over(
        session: &mut Session<Self>,
        cx: &mut Context<'_>,
        from: RoleId,
    ) -> Poll<Result<Handoff<Self>, Error>> {
        let (protocol, id) = (session.protocol(), session.id());
        let guarded = session.transport_mut();
        let node = guarded.inner().node.clone();
        let landed = match guarded.inner_mut().poll_delegated(cx, protocol, id, from) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(landed)) => landed,
        };
        Poll::Ready(node.resume_landed(landed, |t, nodes| {
            guarded.rewrap(t, nodes.iter().map(|n| PeerKey(n.0)).collect())
        }))
    }
}

impl Transport for NodeTransport {
    fn local(&self) -> PeerId {
        self.me
    }

    fn peer_count(&self) -> usize {
        self.peers
    }

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _to: PeerId,
    ) -> Poll<Result<(), TransportError>> {
        // The links queue without bound on the sending side (as the
        // in-memory links do); the window limits what is on the wire.
        Poll::Ready(Ok(()))
    }

    fn start_send(
        &mut self,
        to: PeerId,
        _header: &Header,
        message: Message,
    ) -> Result<(), TransportError> {
        // The node knows the session's header; it is the same one.
        self.node.with(|n| n.send(self.session, to, message))?;
        self.node.wake_driver();
        Ok(())
    }

    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Result<Frame, TransportError>> {
        self.node.with(|n| n.recv(self.session, from, cx.waker()))
    }

    fn close(&mut self) {
        self.node.with(|n| n.close(self.session));
        self.node.wake_driver();
    }

    fn now(&self) -> Time {
        self.node.now()
    }

    fn open_linked(&mut self, linked: &LinkedSession) -> Result<Self, Error> {
        let Some((nodes, patience)) = self.node.with(|n| n.session_binding(self.session)) else {
            return Err(UsageError::Link(format!(
                "session {} is no longer hosted on this node",
                self.session
            ))
            .into());
        };
        let peers = linked
            .peers
            .iter()
            .map(|p| nodes.get(p.as_usize()).copied())
            .collect::<Option<Vec<NodeId>>>()
            .ok_or_else(|| {
                UsageError::Link("a linked peer is not a peer of the linking session".to_owned())
            })?;
        let (_, transport) = self.node.host_session(SessionSpec {
            id: linked.config.id,
            protocol: linked.config.protocol,
            me: linked.config.me,
            roster: linked.config.roster.clone(),
            peers,
            patience: Some(patience),
        })?;
        self.node.wake_driver();
        Ok(transport)
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        let now = self.node.now();
        let poll = self
            .node
            .with(|n| n.poll_deadline(self.session, now, deadline, cx.waker()));
        if poll.is_pending() {
            // The driver sleeps until the node's next timeout, which may
            // now be this deadline.
            self.node.wake_driver();
        }
        poll
    }
}
