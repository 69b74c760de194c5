//! The guard-wrapped transport: where the chain is evaluated and where a
//! statement's frames are handed over, all under the guard's lock.

use std::collections::BTreeMap;
use std::task::{Context, Poll};

use super::budget::{ContextId, PeerKey};
use super::capability::CapabilitySet;
use super::chain::{Annotations, Guard, SendInfo, Shared};
use crate::denial::{Denial, ObserverClass};
use crate::envelope::{Frame, Header, Message, TypedMessage};
use crate::error::TransportError;
use crate::ids::PeerId;
use crate::journal::VerifiedFact;
use crate::time::Time;
use crate::transport::Transport;

/// A transport whose annotated sends pass the guard chain first.
///
/// Annotated statements go through the guarded session operations
/// ([`Session::send_guarded`](crate::Session::send_guarded) and its
/// collective forms), which the generated code calls. Plain sends
/// (statements without annotations) pass straight through: an empty
/// chain can deny nothing and charges nothing.
#[derive(Debug)]
pub struct GuardedTransport<T> {
    inner: T,
    guard: Guard,
    context: ContextId,
    peers: Vec<PeerKey>,
    caps: CapabilitySet,
}

/// Why a guarded statement's frames were not all handed over.
pub(crate) enum Refused {
    /// A guard said no: nothing was sent, appended or charged.
    Denied(Denial),
    /// The transport failed on frame `index` (frames before it were handed
    /// over and keep their charges and facts; the others do not).
    Transport { index: usize, error: TransportError },
}

impl<T: Transport> GuardedTransport<T> {
    pub(super) fn new(
        inner: T,
        guard: Guard,
        context: ContextId,
        peers: Vec<PeerKey>,
        caps: CapabilitySet,
    ) -> Self {
        GuardedTransport {
            inner,
            guard,
            context,
            peers,
            caps,
        }
    }

    /// The sender's capability set.
    pub fn capabilities(&self) -> &CapabilitySet {
        &self.caps
    }

    /// Narrow the sender's capability set (meet). There is no way back.
    pub fn attenuate(&mut self, other: &CapabilitySet) {
        self.caps.attenuate(other);
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped transport, mutably (to set its timer, say). Frames
    /// sent through it directly bypass the chain, like any plain send.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The guard this transport answers to.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The flow context this session's `@cost`s are charged in.
    pub fn context(&self) -> ContextId {
        self.context
    }

    /// The guard identity of each roster peer (element `i`: peer `i`).
    pub(crate) fn peer_keys(&self) -> &[PeerKey] {
        &self.peers
    }

    /// `inner` behind this transport's guard, flow context and capability
    /// set; `peers[i]` is the guard identity of `inner`'s roster peer `i`
    /// (an endpoint delegated to this one's holder).
    pub(crate) fn rewrap<U: Transport>(
        &self,
        inner: U,
        peers: Vec<PeerKey>,
    ) -> GuardedTransport<U> {
        GuardedTransport::new(
            inner,
            self.guard.clone(),
            self.context,
            peers,
            self.caps.clone(),
        )
    }

    /// Run the chain for every frame of one message statement and, if every
    /// guard allows all of them, charge, append the `@journal` facts and
    /// hand the frames over — in one step under the guard's lock. The
    /// caller has seen `poll_ready` return ready for every receiver.
    ///
    /// A statement is one unit: a broadcast whose third frame would
    /// overdraw the budget sends none. Each frame is charged `cost` toward
    /// its receiver, leaks its bits, and gets its own fact.
    pub(crate) fn send_statement(
        &mut self,
        header: &Header,
        frames: Vec<(PeerId, Message)>,
        ann: &Annotations<'static>,
    ) -> Result<(), Refused> {
        let now = self.guard.clock.now_micros();
        let guard = self.guard.clone();
        let mut shared = guard.lock();
        let shared = &mut *shared;
        let plan = self.evaluate(shared, header, &frames, ann, now)?;
        self.commit(shared, header, frames, ann, plan, now)
    }

    /// Every guard, for every frame, whatever the earlier ones said (so a
    /// denial does the same work as an allowed send up to the decision);
    /// the first denial in chain order wins.
    fn evaluate(
        &self,
        shared: &mut Shared,
        header: &Header,
        frames: &[(PeerId, Message)],
        ann: &Annotations<'static>,
        now: u64,
    ) -> Result<Plan, Refused> {
        let capability = ann
            .guard
            .iter()
            .find(|cap| !self.caps.allows(cap))
            .map(|cap| Denial::Capability {
                cap: (*cap).to_owned(),
            });

        let mut receivers = Vec::with_capacity(frames.len());
        let mut unknown = None;
        for (to, _) in frames {
            match self.peers.get(to.as_usize()) {
                Some(key) => receivers.push(*key),
                None => {
                    unknown.get_or_insert(Denial::UnknownPeer(to.0));
                }
            }
        }
        let mut per_peer: BTreeMap<PeerKey, u64> = BTreeMap::new();
        for key in &receivers {
            let due = per_peer.entry(*key).or_insert(0);
            *due = due.saturating_add(ann.cost);
        }
        let mut flow = unknown;
        for (key, due) in &per_peer {
            let available = shared.flow.available(self.context, *key, now);
            if *due > available && flow.is_none() {
                flow = Some(Denial::FlowBudget {
                    cost: *due,
                    available,
                });
            }
        }

        let mut facts = Vec::new();
        let mut journal = None;
        for name in ann.journal {
            let Some(coupling) = &shared.journal else {
                journal.get_or_insert(Denial::Journal {
                    fact: (*name).to_owned(),
                    reason: "this guard has no journal (Guard::with_journal)".into(),
                });
                continue;
            };
            for (index, ((_, message), to)) in frames.iter().zip(&receivers).enumerate() {
                let info = SendInfo {
                    header,
                    context: self.context,
                    to: *to,
                    label: message.label,
                    payload: message.payload.as_bytes(),
                };
                match coupling.facts.make(name, &info) {
                    Ok(f) => facts.push((index, f)),
                    Err(e) => {
                        journal.get_or_insert(Denial::Journal {
                            fact: (*name).to_owned(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }

        let count = u64::try_from(frames.len()).unwrap_or(u64::MAX);
        let mut leak = None;
        for class in ObserverClass::ALL {
            let bits = ann.leak_bits(class).saturating_mul(count);
            let available = shared.leakage.available(class, now);
            if bits > available && leak.is_none() {
                leak = Some(Denial::Leakage {
                    class,
                    bits,
                    available,
                });
            }
        }

        match capability.or(flow).or(journal).or(leak) {
            Some(denial) => Err(Refused::Denied(denial)),
            None => Ok(Plan { receivers, facts }),
        }
    }

    /// Charge, append and hand over; refund what was not handed over.
    fn commit(
        &mut self,
        shared: &mut Shared,
        header: &Header,
        frames: Vec<(PeerId, Message)>,
        ann: &Annotations<'static>,
        plan: Plan,
        now: u64,
    ) -> Result<(), Refused> {
        let Plan { receivers, facts } = plan;
        for key in &receivers {
            shared.flow.charge(self.context, *key, ann.cost, now);
            for (class, bits) in ann.leak {
                shared.leakage.charge(*class, *bits);
            }
        }
        let inner = &mut self.inner;
        let hand_over = || -> Result<(), (usize, TransportError)> {
            for (index, (to, message)) in frames.into_iter().enumerate() {
                inner
                    .start_send(to, header, message)
                    .map_err(|e| (index, e))?;
            }
            Ok(())
        };
        let journal = shared.journal.as_ref().map(|c| c.journal.clone());
        let sent = match (ann.journal.first(), journal) {
            (Some(name), Some(journal)) => {
                let appended = journal
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .append_coupled(facts, hand_over);
                match appended {
                    Ok(sent) => sent,
                    Err(e) => {
                        // Nothing was handed over: the append failed first.
                        refund(shared, self.context, &receivers, ann, now);
                        return Err(Refused::Denied(Denial::Journal {
                            fact: (*name).to_owned(),
                            reason: e.to_string(),
                        }));
                    }
                }
            }
            _ => hand_over(),
        };
        sent.map_err(|(index, error)| {
            refund(
                shared,
                self.context,
                receivers.get(index..).unwrap_or_default(),
                ann,
                now,
            );
            Refused::Transport { index, error }
        })
    }
}

/// What an allowed statement will charge and append.
struct Plan {
    /// The receiver of each frame.
    receivers: Vec<PeerKey>,
    /// The facts, each with the position of the frame it is coupled to
    /// (one per `@journal` name and frame).
    facts: Vec<(usize, VerifiedFact)>,
}

fn refund(
    shared: &mut Shared,
    context: ContextId,
    receivers: &[PeerKey],
    ann: &Annotations<'static>,
    now: u64,
) {
    for key in receivers {
        shared.flow.refund(context, *key, ann.cost, now);
        for (class, bits) in ann.leak {
            shared.leakage.refund(*class, *bits);
        }
    }
}

impl<T: Transport> Transport for GuardedTransport<T> {
    #[inline]
    fn local(&self) -> PeerId {
        self.inner.local()
    }

    /// The linked session runs behind the same guard, context and
    /// capabilities, each peer keeping its guard identity.
    fn open_linked(
        &mut self,
        linked: &crate::session_config::LinkedSession,
    ) -> Result<Self, crate::Error> {
        let inner = self.inner.open_linked(linked)?;
        let peers = linked
            .peers
            .iter()
            .map(|p| self.peers.get(p.as_usize()).copied())
            .collect::<Option<Vec<PeerKey>>>()
            .ok_or_else(|| {
                crate::UsageError::Link(
                    "a linked peer is not a peer of the linking session".to_owned(),
                )
            })?;
        Ok(GuardedTransport::new(
            inner,
            self.guard.clone(),
            self.context,
            peers,
            self.caps.clone(),
        ))
    }

    #[inline]
    fn peer_count(&self) -> usize {
        self.inner.peer_count()
    }

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>, to: PeerId) -> Poll<Result<(), TransportError>> {
        self.inner.poll_ready(cx, to)
    }

    /// A statement without annotations: nothing to check or charge.
    #[inline]
    fn start_send(
        &mut self,
        to: PeerId,
        header: &Header,
        message: Message,
    ) -> Result<(), TransportError> {
        self.inner.start_send(to, header, message)
    }

    #[inline]
    fn carries_values(&self) -> bool {
        self.inner.carries_values()
    }

    #[inline]
    fn start_send_value(
        &mut self,
        to: PeerId,
        header: &Header,
        message: TypedMessage,
    ) -> Result<(), TransportError> {
        self.inner.start_send_value(to, header, message)
    }

    #[inline]
    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Result<Frame, TransportError>> {
        self.inner.poll_recv(cx, from)
    }

    fn close(&mut self) {
        self.inner.close();
    }

    // The clock is the inner transport's: a guard must not stop the
    // deadlines of the timeout bodies behind it.
    #[inline]
    fn now(&self) -> Time {
        self.inner.now()
    }

    #[inline]
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        self.inner.poll_deadline(cx, deadline)
    }
}
