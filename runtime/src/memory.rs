//! In-memory transport over tokio channels, for tests, examples and
//! benchmarks.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::envelope::{Envelope, Frame, Header, Message, TypedMessage};
use crate::error::{Error, TransportError, UsageError};
use crate::handoff::{Handoff, Handover};
use crate::ids::{PeerId, ProtocolInfo, RoleId, SessionId};
use crate::roster::Roster;
use crate::session::Session;
use crate::session_config::{LinkedSession, SessionConfig};
use crate::time::{ThreadTimer, Time, Timer};
use crate::transport::Transport;

/// Options of the in-memory network.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryConfig {
    /// Encode every envelope to bytes on send and decode on receive, as a
    /// network transport would. Off by default (envelopes pass as values);
    /// on, it exercises the wire codec end to end.
    pub wire_encoding: bool,
}

/// One endpoint's side of an in-memory network: an unbounded tokio channel
/// per ordered peer pair.
///
/// Channels are unbounded to match the asynchronous semantics under which
/// projections are deadlock-free (a sender never waits for a receiver);
/// memory is bounded by the protocol, and flow control is the flow-budget
/// guard's job.
#[derive(Debug)]
pub struct MemoryTransport {
    me: PeerId,
    peers: usize,
    config: MemoryConfig,
    /// `tx[p]`: to peer `p` (`None` for self and after close).
    tx: Vec<Option<UnboundedSender<Frame>>>,
    /// `rx[p]`: from peer `p` (`None` for self and after close).
    rx: Vec<Option<UnboundedReceiver<Frame>>>,
    /// The clock of timeout deadlines ([`ThreadTimer`] unless the caller
    /// sets another).
    timer: Arc<dyn Timer>,
    /// Endpoints handed from one peer to another (`delegate`), shared by
    /// the network's endpoints.
    handoffs: Arc<Mutex<Mailbox>>,
    /// Typed lanes ([`crate::lane`]) attached by a generated `sessions()`
    /// and not yet taken by a typestate. While they are here, the session
    /// operations are refused: the peers talk on the lanes.
    lanes: Option<Box<dyn Any + Send>>,
}

/// Delegated endpoints on their way from one task to another.
#[derive(Debug, Default)]
struct Mailbox {
    /// `(from, to, endpoint)`.
    parcels: Vec<(PeerId, PeerId, Handoff<MemoryTransport>)>,
    /// Endpoints waiting for a parcel.
    waiting: Vec<(PeerId, Waker)>,
}

impl Handover for MemoryTransport {
    fn hand_over(handoff: Handoff<Self>, to: RoleId) -> Result<(), Error> {
        let (mut session, state, params) = handoff.into_parts();
        let to_peer = session.peer_of(to)?;
        let transport = session.transport_mut();
        let (from, mailbox) = (transport.me, Arc::clone(&transport.handoffs));
        let mut m = mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.parcels
            .push((from, to_peer, Handoff::new(session, state, params)));
        let (wake, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut m.waiting)
            .into_iter()
            .partition(|(p, _)| *p == to_peer);
        m.waiting = keep;
        drop(m);
        wake.into_iter().for_each(|(_, w)| w.wake());
        Ok(())
    }

    fn poll_take_over(
        session: &mut Session<Self>,
        cx: &mut Context<'_>,
        from: RoleId,
    ) -> Poll<Result<Handoff<Self>, Error>> {
        let from_peer = session.peer_of(from)?;
        session.transport_mut().poll_parcel(cx, from_peer).map(Ok)
    }
}

impl MemoryTransport {
    /// The endpoint `from` handed to this one, once it is in the mailbox.
    pub(crate) fn poll_parcel(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Handoff<MemoryTransport>> {
        let me = self.me;
        let mut m = self
            .handoffs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = m
            .parcels
            .iter()
            .position(|(f, t, _)| *f == from && *t == me)
        {
            return Poll::Ready(m.parcels.swap_remove(i).2);
        }
        m.waiting
            .retain(|(p, w)| *p != me || !w.will_wake(cx.waker()));
        m.waiting.push((me, cx.waker().clone()));
        Poll::Pending
    }

    /// Take this endpoint's channels and lanes into a new transport,
    /// leaving this one closed to nobody: dropping or closing it afterwards
    /// touches no channel a peer still uses.
    pub(crate) fn detach(&mut self) -> MemoryTransport {
        MemoryTransport {
            me: self.me,
            peers: self.peers,
            config: self.config,
            tx: self.tx.iter_mut().map(Option::take).collect(),
            rx: self.rx.iter_mut().map(Option::take).collect(),
            timer: Arc::clone(&self.timer),
            handoffs: Arc::clone(&self.handoffs),
            lanes: self.lanes.take(),
        }
    }
}

#[cold]
#[inline(never)]
fn dropped(me: PeerId, to: PeerId) {
    tracing::debug!(from = ?me, ?to, "in-memory send to a closed peer dropped");
}

/// A session operation on an endpoint whose typed lanes are still
/// attached: its peers talk on the lanes, so this would wait forever.
#[cold]
#[inline(never)]
fn on_lanes() -> TransportError {
    TransportError::Io(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "this in-memory session has typed lanes (a generated sessions()): run it with the generated typestates, or build a network without lanes with choreo_runtime::memory::sessions",
    ))
}

/// Build a fully connected in-memory network of `peers` endpoints; element
/// `i` of the result is peer `i`.
pub fn network(peers: usize, config: MemoryConfig) -> Vec<MemoryTransport> {
    let timer: Arc<dyn Timer> = ThreadTimer::global();
    let handoffs = Arc::new(Mutex::new(Mailbox::default()));
    let mut nodes: Vec<MemoryTransport> = (0..peers)
        .map(|i| MemoryTransport {
            me: PeerId(u32::try_from(i).unwrap_or(u32::MAX)),
            peers,
            config,
            tx: (0..peers).map(|_| None).collect(),
            rx: (0..peers).map(|_| None).collect(),
            timer: Arc::clone(&timer),
            handoffs: Arc::clone(&handoffs),
            lanes: None,
        })
        .collect();
    for from in 0..peers {
        for to in 0..peers {
            if from == to {
                continue;
            }
            let (tx, rx) = unbounded_channel();
            if let Some(slot) = nodes.get_mut(from).and_then(|n| n.tx.get_mut(to)) {
                *slot = Some(tx);
            }
            if let Some(slot) = nodes.get_mut(to).and_then(|n| n.rx.get_mut(from)) {
                *slot = Some(rx);
            }
        }
    }
    nodes
}

/// Open one session per roster instance over a fresh in-memory network.
/// Element `i` is the session of `roster.instances()[i]`.
pub fn sessions(
    id: SessionId,
    protocol: &'static ProtocolInfo,
    roster: &Roster,
    config: MemoryConfig,
) -> Result<Vec<Session<MemoryTransport>>, Error> {
    network(roster.len(), config)
        .into_iter()
        .zip(roster.instances())
        .map(|(transport, &me)| {
            Session::new(
                SessionConfig {
                    id,
                    protocol,
                    me,
                    roster: roster.clone(),
                },
                transport,
            )
        })
        .collect()
}

impl MemoryTransport {
    /// Send a raw frame to `to`, bypassing the session: fault injection for
    /// tests (garbage bytes, forged envelopes).
    #[inline(always)]
    pub fn send_frame(&self, to: PeerId, frame: Frame) -> Result<(), TransportError> {
        let tx = match self.tx.get(to.as_usize()) {
            Some(Some(tx)) => tx,
            Some(None) if to == self.me => return Err(TransportError::UnknownPeer(to)),
            Some(None) => return Err(TransportError::Closed),
            None => return Err(TransportError::UnknownPeer(to)),
        };
        if tx.send(frame).is_err() {
            // The receiver is gone; as on a network, the loss is detected
            // by whoever waits on it, not by the sender.
            dropped(self.me, to);
        }
        Ok(())
    }

    #[inline]
    fn send_now(
        &self,
        to: PeerId,
        header: &Header,
        message: Message,
    ) -> Result<(), TransportError> {
        if self.lanes.is_some() {
            return Err(on_lanes());
        }
        let frame = if self.config.wire_encoding {
            Frame::Encoded(Envelope::encode_parts(header, &message))
        } else {
            // The channels exist only for this session and peer pair.
            Frame::Message(message)
        };
        self.send_frame(to, frame)
    }

    /// Attach this endpoint's typed lanes ([`crate::lane`]); generated
    /// `sessions()` calls it for protocols that run on lanes in memory.
    pub fn attach_lanes(&mut self, lanes: Box<dyn Any + Send>) {
        self.lanes = Some(lanes);
    }

    /// Fault injection: drop every connection as if this peer had crashed.
    pub fn crash(&mut self) {
        self.close();
    }

    /// Measure timeout deadlines on `timer` (e.g. a
    /// [`ManualTimer`](crate::ManualTimer) in a test) instead of the
    /// process clock ([`ThreadTimer`]).
    pub fn set_timer(&mut self, timer: Arc<dyn Timer>) {
        self.timer = timer;
    }
}

impl Transport for MemoryTransport {
    fn local(&self) -> PeerId {
        self.me
    }

    fn peer_count(&self) -> usize {
        self.peers
    }

    #[inline]
    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _to: PeerId,
    ) -> Poll<Result<(), TransportError>> {
        // Unbounded links are always ready (as tokio's unbounded `send`,
        // sends do not take part in cooperative budgeting).
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn start_send(
        &mut self,
        to: PeerId,
        header: &Header,
        message: Message,
    ) -> Result<(), TransportError> {
        self.send_now(to, header, message)
    }

    #[inline]
    fn carries_values(&self) -> bool {
        !self.config.wire_encoding
    }

    #[inline]
    fn start_send_value(
        &mut self,
        to: PeerId,
        header: &Header,
        message: TypedMessage,
    ) -> Result<(), TransportError> {
        if self.config.wire_encoding {
            let message = message.encode().map_err(|e| {
                TransportError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })?;
            return self.send_now(to, header, message);
        }
        if self.lanes.is_some() {
            return Err(on_lanes());
        }
        self.send_frame(to, Frame::Typed(message))
    }

    #[inline]
    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Result<Frame, TransportError>> {
        if self.lanes.is_some() {
            return Poll::Ready(Err(on_lanes()));
        }
        match self.rx.get_mut(from.as_usize()) {
            Some(Some(rx)) => match rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => Poll::Ready(Ok(frame)),
                Poll::Ready(None) => Poll::Ready(Err(TransportError::Closed)),
                Poll::Pending => Poll::Pending,
            },
            Some(None) if from != self.me => Poll::Ready(Err(TransportError::Closed)),
            _ => Poll::Ready(Err(TransportError::UnknownPeer(from))),
        }
    }

    fn now(&self) -> Time {
        self.timer.now()
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        self.timer.poll_until(cx, deadline)
    }

    /// The linked session takes over this endpoint's channels to the peers
    /// that play its roles, renumbered by the linked roster: a `link` is
    /// the last statement of the linking protocol, so after every join
    /// has been read nothing of the linking session follows on them.
    fn open_linked(&mut self, linked: &LinkedSession) -> Result<Self, Error> {
        let me = linked
            .peers
            .iter()
            .position(|p| *p == self.me)
            .ok_or_else(|| {
                UsageError::Link(format!(
                    "this endpoint plays no role of {}",
                    linked.config.protocol.name
                ))
            })?;
        let (mut tx, mut rx) = (Vec::new(), Vec::new());
        for &p in &linked.peers {
            let taken = p != self.me;
            tx.push(
                self.tx
                    .get_mut(p.as_usize())
                    .and_then(Option::take)
                    .filter(|_| taken),
            );
            rx.push(
                self.rx
                    .get_mut(p.as_usize())
                    .and_then(Option::take)
                    .filter(|_| taken),
            );
        }
        Ok(MemoryTransport {
            me: PeerId(u32::try_from(me).unwrap_or(u32::MAX)),
            peers: linked.peers.len(),
            config: self.config,
            tx,
            rx,
            timer: Arc::clone(&self.timer),
            handoffs: Arc::clone(&self.handoffs),
            lanes: None,
        })
    }

    #[inline]
    fn take_lanes(&mut self) -> Option<Box<dyn Any + Send>> {
        self.lanes.take()
    }

    fn put_lanes(&mut self, lanes: Box<dyn Any + Send>) {
        self.lanes = Some(lanes);
    }

    fn close(&mut self) {
        // The lanes' ends go too, so peers on them see this endpoint gone.
        self.lanes = None;
        for slot in &mut self.tx {
            *slot = None;
        }
        for slot in &mut self.rx {
            *slot = None;
        }
    }
}
