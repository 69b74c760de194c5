//! Sessions: the operations generated endpoints call.

use std::task::{Context, Poll, Waker};

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Interrupt, UsageError};
use crate::ids::{Label, PeerId, ProtocolInfo, Role, RoleId, SessionId};
use crate::ops;
use crate::par::ParScope;
use crate::roster::Roster;
pub(crate) use crate::session_config::SessionConfig;
use crate::session_core::{poll_next, ActiveBody, Branch, Core, Inner, TimeoutNumbering};
use crate::time::Time;
use crate::transport::Transport;

/// One participant's live run of a protocol.
///
/// A `Session` is a small handle (one pointer), so generated typestates can
/// move it from state to state for free. It must end with
/// [`finish`](Self::finish); dropping it earlier logs a warning via
/// `tracing` and closes the transport, so peers waiting on it get
/// [`Error::Transport`] instead of hanging.
#[derive(Debug)]
pub struct Session<T: Transport> {
    inner: Box<Inner<T>>,
}

impl<T: Transport> Session<T> {
    /// Open a session. Checks that the roster fits the protocol (one shape
    /// per role), that `me` is in it, and that the transport has one peer
    /// per instance with `me` at its position.
    pub fn new(config: SessionConfig, transport: T) -> Result<Self, Error> {
        let SessionConfig {
            id,
            protocol,
            me,
            roster,
        } = config;
        if roster.role_count() != protocol.roles.len() {
            return Err(UsageError::RosterMismatch(format!(
                "protocol {} has {} roles, the roster {}",
                protocol.name,
                protocol.roles.len(),
                roster.role_count()
            ))
            .into());
        }
        let me_peer = roster.peer(me).ok_or_else(|| UsageError::UnknownRole {
            role: protocol.role_name(me),
        })?;
        if transport.peer_count() != roster.len() || transport.local() != me_peer {
            return Err(UsageError::RosterMismatch(format!(
                "the roster has {} instances with {} at position {}, the transport {} peers with itself at {}",
                roster.len(),
                protocol.role_name(me),
                me_peer.0,
                transport.peer_count(),
                transport.local().0
            ))
            .into());
        }
        Ok(Self {
            inner: Box::new(Inner {
                core: Core::new(id, protocol, me, me_peer, roster),
                transport,
                finished: false,
            }),
        })
    }

    /// The roster peer that plays role instance `role`, or
    /// [`UsageError::UnknownRole`].
    pub(crate) fn peer_of(&self, role: RoleId) -> Result<PeerId, Error> {
        self.roster().peer(role).ok_or_else(|| {
            UsageError::UnknownRole {
                role: self.protocol().role_name(role),
            }
            .into()
        })
    }

    /// The same endpoint over another transport: `detach` takes the
    /// working parts out of this one (leaving a closed husk, whose drop
    /// must close nothing a peer still uses) and builds the other. The
    /// core — phase, bodies, held frames, stragglers — moves unchanged,
    /// typed in-memory frames included (a guarded in-memory endpoint
    /// delegated without its guard, or put behind the new holder's).
    pub(crate) fn retransport<U: Transport>(
        mut self,
        detach: impl FnOnce(&mut T) -> U,
    ) -> Session<U> {
        let transport = detach(&mut self.inner.transport);
        let core = &self.inner.core;
        let husk = Core::new(
            core.id,
            core.protocol,
            core.me,
            core.me_peer,
            core.roster.clone(),
        );
        let core = std::mem::replace(&mut self.inner.core, husk);
        let finished = std::mem::replace(&mut self.inner.finished, true);
        Session {
            inner: Box::new(Inner {
                core,
                transport,
                finished,
            }),
        }
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.inner.core.id
    }

    /// The local role instance.
    pub fn me(&self) -> RoleId {
        self.inner.core.me
    }

    /// The protocol descriptor.
    pub fn protocol(&self) -> &'static ProtocolInfo {
        self.inner.core.protocol
    }

    /// The roster.
    pub fn roster(&self) -> &Roster {
        &self.inner.core.roster
    }

    /// Size of a family (for index arithmetic such as `W[i+1]` modulo the
    /// size). [`UsageError::NotAFamily`] for a single role.
    pub fn family_size(&self, family: Role) -> Result<u32, Error> {
        self.inner.core.family_size(family)
    }

    /// The current timeout phase (0 until a timeout handler is entered).
    pub fn phase(&self) -> u64 {
        self.inner.core.phase
    }

    /// How many messages of a phase this endpoint had already left (a
    /// timeout body it abandoned) arrived afterwards and were dropped.
    /// They are never delivered, to the handler or anything after it.
    pub fn late_messages_dropped(&self) -> u64 {
        self.inner.core.late_dropped
    }

    /// Enter timeout phase `phase` (must not go backwards; a smaller value
    /// is ignored). From now on, messages of earlier phases are dropped as
    /// late, and sends carry the new phase.
    pub fn enter_phase(&mut self, phase: u64) {
        let core = &mut self.inner.core;
        core.phase = core.phase.max(phase);
    }

    /// Now, on the transport's clock (virtual time in the simulator).
    pub fn now(&self) -> Time {
        self.inner.transport.now()
    }

    /// Enter a `timeout` body whose deadline is `duration` from now (on
    /// the transport's clock): a new timeout instance, whose body phase
    /// this endpoint's messages carry from now on. Until
    /// [`end_body`](Self::end_body) or [`start_handler`](Self::start_handler),
    /// an operation that would wait past the deadline returns
    /// [`Error::Interrupted`] instead, and so does a send after it.
    pub fn start_body(&mut self, duration: std::time::Duration) {
        self.start_body_at(duration, 0);
    }

    /// [`start_body`](Self::start_body) of the `timeout` statement `site`
    /// (any number that tells this role's `timeout` statements apart;
    /// generated code passes the statement's state number, with
    /// [`start_numbered_body_at`](Self::start_numbered_body_at)). A peer's
    /// handler message of the instance completed just before only undoes
    /// an untouched body of the same statement (a looped timeout's next
    /// iteration, `session_core::phase`); `start_body` is site 0. The
    /// instance is counted as entered ([`TimeoutNumbering::Counted`]), so
    /// hand-written code that nests timeouts must make every participant
    /// enter the same ones.
    pub fn start_body_at(&mut self, duration: std::time::Duration, site: u32) {
        self.start_numbered_body_at(
            duration,
            site,
            TimeoutNumbering::Counted {
                span: 0,
                nests: false,
            },
        );
    }

    /// [`start_body_at`](Self::start_body_at) of a `timeout` whose body
    /// contains another `timeout`. A peer's handler message of the next
    /// instance may then be the nested timeout's (the peer is ahead, inside
    /// the body), so it waits for this endpoint to enter that instance
    /// instead of being taken for the next iteration of a looped timeout
    /// (no meeting is attempted for such a timeout).
    pub fn start_nesting_body_at(&mut self, duration: std::time::Duration, site: u32) {
        self.start_numbered_body_at(
            duration,
            site,
            TimeoutNumbering::Counted {
                span: 0,
                nests: true,
            },
        );
    }

    /// [`start_body_at`](Self::start_body_at) with the statement's
    /// instance numbering, as generated code calls it: a nest root sets
    /// aside the numbers of the timeouts nested in it, so that a peer that
    /// never reached one of them (its handler started first) numbers every
    /// later timeout as this endpoint does.
    pub fn start_numbered_body_at(
        &mut self,
        duration: std::time::Duration,
        site: u32,
        numbering: TimeoutNumbering,
    ) {
        use crate::session_core::{NESTS_TIMEOUTS, WINDOW_HALF};
        let deadline = self.now() + duration;
        let core = &mut self.inner.core;
        let site = site & !NESTS_TIMEOUTS;
        let nest_bit = |nests: bool| if nests { NESTS_TIMEOUTS } else { 0 };
        // A timeout outside any other is numbered after every number set
        // aside so far, a window's included.
        let after_windows = core.timeouts.max(core.window_end).saturating_add(1);
        let (instance, site) = match numbering {
            TimeoutNumbering::Root { span } => {
                let instance = after_windows;
                core.nest_base = instance;
                core.timeouts = instance.saturating_add(u64::from(span));
                (instance, site | nest_bit(span > 0))
            }
            TimeoutNumbering::Window => {
                let instance = after_windows;
                core.timeouts = instance;
                core.window_end = instance.saturating_add(WINDOW_HALF.saturating_mul(2));
                (instance, site | NESTS_TIMEOUTS)
            }
            TimeoutNumbering::InnerWindow => {
                let instance = core.timeouts.saturating_add(1);
                core.timeouts = instance;
                core.inner_window = instance;
                (instance, site | NESTS_TIMEOUTS)
            }
            TimeoutNumbering::Counted { span, nests } => {
                let instance = core.timeouts.saturating_add(1);
                if span > 0 {
                    core.nest_base = instance;
                }
                core.timeouts = instance.saturating_add(u64::from(span));
                if core.exhausts_window_half(instance) {
                    // More than 2^32 entries in one half of a window: the
                    // numbers go on rising, but members that entered
                    // different counts may number later timeouts apart.
                    tracing::warn!(
                        instance,
                        "a timeout window's half is exhausted; later timeouts may be numbered apart"
                    );
                }
                (instance, site | nest_bit(nests || span > 0))
            }
            TimeoutNumbering::Nested { offset } => {
                let instance = core.nest_base.saturating_add(u64::from(offset));
                core.timeouts = core.timeouts.max(instance);
                (instance, site | NESTS_TIMEOUTS)
            }
        };
        core.phase = core.phase.max(instance.saturating_mul(2).saturating_sub(1));
        core.bodies.push(ActiveBody {
            deadline,
            phase: core.phase,
            site,
            numbered: core.numbered(),
        });
        core.meeting = None;
    }

    /// The operation about to run is the first after a completed timeout
    /// body (left by leaving that one body): until it acts (sends, or receives what it
    /// waits for), a peer's handler message of that body ends it with
    /// [`Error::Interrupted`], and the endpoint is back in that body, for
    /// [`start_handler`](Self::start_handler) — as the model checker
    /// assumes of a participant that has done nothing since its body.
    /// Generated code calls this in the state after a `timeout`'s block,
    /// and [`close_after_body`](Self::close_after_body) when its operation
    /// is done.
    pub fn open_after_body(&mut self) {
        let core = &mut self.inner.core;
        core.reopened = None;
        core.after_body =
            core.rewind.is_some() && !core.acted.load(std::sync::atomic::Ordering::Relaxed);
    }

    /// After an operation opened with [`open_after_body`](Self::open_after_body)
    /// ended with [`Error::Interrupted`]: the `timeout` statement (the
    /// `site` its body was entered with) whose completed body it went
    /// back to, for that handler; `None` if the interrupt was the handler
    /// of a body the endpoint is still in. Generated code picks the
    /// handler's state by it when a state after a block may answer more
    /// than one handler.
    pub fn reopened_site(&self) -> Option<u32> {
        self.inner.core.reopened
    }

    /// The operation after a completed body is done
    /// ([`open_after_body`](Self::open_after_body)).
    pub fn close_after_body(&mut self) {
        self.inner.core.after_body = false;
    }

    /// This endpoint finished its part of the innermost timeout body. A
    /// peer may still start that timeout's handler: [`linger`](Self::linger)
    /// waits for that (or for the session to close).
    pub fn end_body(&mut self) {
        self.inner.core.end_body();
    }

    /// Abandon the innermost timeout body at once ([`Interrupt::Abandoned`]),
    /// as if its deadline had passed now, and enter its handler's phase.
    pub fn abandon_body(&mut self) {
        self.inner.core.interrupt = Some(Interrupt::Abandoned);
        self.start_handler();
    }

    /// Why the last timeout body this endpoint left early ended: its
    /// deadline, a peer's handler message (naming the peer), or
    /// [`abandon_body`](Self::abandon_body). `None` until a body is left
    /// early.
    pub fn interrupted_by(&self) -> Option<&Interrupt> {
        self.inner.core.interrupt.as_ref()
    }

    /// After this endpoint completed its part of a timeout body and has
    /// nothing else to do: wait until a peer starts that timeout's handler
    /// (`Some(peer role)`: this endpoint is now in the handler's phase and
    /// the peer's handler message waits for the handler's first receive),
    /// until every peer has closed its side, or until `patience` has passed
    /// on the session's clock (`None`: nobody needs the handler; call
    /// [`finish`](Self::finish)). Without a completed body, `None` at once.
    pub fn linger(
        &mut self,
        patience: std::time::Duration,
    ) -> impl Future<Output = Result<Option<RoleId>, Error>> + Send + use<'_, T> {
        let deadline = self.now() + patience;
        let inner = &mut *self.inner;
        std::future::poll_fn(move |cx| {
            inner
                .core
                .poll_linger(&mut inner.transport, cx, deadline, 1)
                .map_ok(|hit| hit.map(|(peer, _)| peer))
        })
    }

    /// [`linger`](Self::linger) after completing the bodies of `nested`
    /// timeouts at once (an inner `timeout` that is the last statement of
    /// its enclosing one's body): a peer may start any of their handlers.
    /// `Some((peer role, level))` names the one started, `0` the
    /// outermost, `nested - 1` the innermost; this endpoint is then in
    /// that handler's phase. The enclosing bodies stay completed.
    pub fn linger_nested(
        &mut self,
        patience: std::time::Duration,
        nested: usize,
    ) -> impl Future<Output = Result<Option<(RoleId, usize)>, Error>> + Send + use<'_, T> {
        let deadline = self.now() + patience;
        let inner = &mut *self.inner;
        std::future::poll_fn(move |cx| {
            inner
                .core
                .poll_linger(&mut inner.transport, cx, deadline, nested)
        })
    }

    /// Abandon the innermost timeout body and enter its handler's phase:
    /// the body's late messages are dropped from now on, and sends carry
    /// the handler's phase.
    pub fn start_handler(&mut self) {
        let core = &mut self.inner.core;
        core.rewind = None;
        core.after_body = false;
        if let Some(body) = core.bodies.pop() {
            // Exactly the handler's phase: after nested bodies were left
            // (an inner one completed or abandoned), the current phase is
            // theirs, higher than this handler's, and peers that start the
            // same handler from outside them number it the same.
            core.phase = body.phase.saturating_add(1);
            core.number_handler(core.phase);
            core.enter_meeting(body);
        }
    }

    /// The typed lanes of this endpoint ([`crate::lane`]), if its network
    /// has them and no typestate has taken them yet. Generated code calls
    /// this when it opens an endpoint.
    #[inline]
    pub fn take_lanes(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        self.inner.transport.take_lanes()
    }

    /// Give lanes back to the session (generated `into_handoff`), so the
    /// endpoint's next holder takes them.
    pub fn put_lanes(&mut self, lanes: Box<dyn std::any::Any + Send>) {
        self.inner.transport.put_lanes(lanes);
    }

    /// The transport (for transport-specific controls such as fault
    /// injection in tests).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.inner.transport
    }

    /// The endpoint moved to another holder (a handoff): drop it without
    /// the warning of an endpoint dropped mid-protocol.
    pub(crate) fn dismiss(mut self) {
        self.inner.finished = true;
    }

    /// Core and transport, for operations written outside this module
    /// (the guarded sends).
    pub(crate) fn inner_mut(&mut self) -> &mut Inner<T> {
        &mut self.inner
    }

    /// Run `par` branches: returns a scope whose [`ParScope::branch`]
    /// handles each act on this session concurrently (use them inside
    /// [`join`](crate::join)/[`try_join`](crate::try_join)). The branches of a
    /// `par` never share an ordered pair of role instances, so each peer's
    /// queue is read by one branch only.
    pub fn par(&mut self) -> ParScope<'_, T> {
        ParScope::new(&mut self.inner)
    }

    /// `A -> B : L(T)` on the sender's side. Also the chooser's `select`:
    /// the label of a branch's first message identifies the branch.
    #[inline]
    pub fn send<M: Serialize + ?Sized>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: &M,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_, T, M> {
        ops::send(&mut *self.inner, to, label, payload)
    }

    /// `A -> B : L(T)` on the receiver's side: the next message from `from`
    /// must carry `label` and a `M` payload.
    #[inline]
    pub fn recv<M: DeserializeOwned>(
        &mut self,
        from: RoleId,
        label: Label,
    ) -> impl Future<Output = Result<M, Error>> + Send + use<'_, T, M> {
        ops::recv::<_, M, ops::Decode>(&mut *self.inner, from, label)
    }

    /// [`send`](Self::send) taking the payload by value. Over a transport
    /// that [carries values](Transport::carries_values) (the in-memory one)
    /// the value itself travels — no serialization; otherwise it is encoded
    /// as `send` does. Generated code prefers this form.
    #[inline]
    pub fn send_owned<M: Serialize + Send + 'static>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: M,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_, T, M> {
        ops::send_owned(&mut *self.inner, to, label, payload)
    }

    /// [`recv`](Self::recv) for `'static` payload types: a payload the
    /// sender passed as a value ([`send_owned`](Self::send_owned) in
    /// memory) is moved out without decoding; if the sender passed another
    /// type, or bytes, it is decoded exactly as `recv` would. Generated code
    /// prefers this form.
    #[inline]
    pub fn recv_owned<M: DeserializeOwned + 'static>(
        &mut self,
        from: RoleId,
        label: Label,
    ) -> impl Future<Output = Result<M, Error>> + Send + use<'_, T, M> {
        ops::recv::<_, M, ops::Take>(&mut *self.inner, from, label)
    }

    /// `branch from { L1 => …, L2 => … }`: the next message from `from` must
    /// carry one of `labels`; returns which one (by position) with its
    /// undecoded payload. Decode with [`Branch::decode`].
    #[inline]
    pub fn recv_branch<'a>(
        &'a mut self,
        from: RoleId,
        labels: &'a [Label],
    ) -> impl Future<Output = Result<Branch, Error>> + Send + use<'a, T> {
        ops::recv_branch(&mut *self.inner, from, labels)
    }

    /// `A -> W[*] : L(T)` with one value for everybody: sends to every
    /// member of `family` (every *other* member if the local role is in
    /// it). The payload is encoded once.
    pub async fn send_all<M: Serialize + ?Sized>(
        &mut self,
        family: Role,
        label: Label,
        payload: &M,
    ) -> Result<(), Error> {
        ops::send_all(&mut *self.inner, family, label, payload).await
    }

    /// `A -> W[*] : L(T)` with a value per recipient: `value(i)` is sent to
    /// `family[i]`, for every member except the local one. Called in index
    /// order.
    pub async fn send_each<M: Serialize>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
    ) -> Result<(), Error> {
        ops::send_each(&mut *self.inner, family, label, value).await
    }

    /// `W[*] -> A : L(T) [quorum q]`: receive `label` from every member of
    /// `family` (except the local one), in any arrival order.
    ///
    /// With `quorum: Some(q)` (1 ≤ q ≤ number of senders) it returns once
    /// `q` values arrived; the stragglers' messages of this gather are
    /// discarded by the runtime when they come (matched by sender, label
    /// and phase, FIFO per sender), so they are never mistaken for a later
    /// message. In quorum mode a sender whose connection closes is tolerated
    /// while `q` remains reachable. A protocol violation by any sender is
    /// returned at once.
    ///
    /// The result is sorted by member index.
    pub async fn recv_all<M: DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        quorum: Option<usize>,
    ) -> Result<Vec<(u32, M)>, Error> {
        ops::recv_all(&mut *self.inner, family, label, quorum).await
    }

    /// `W[*] -> W[*] : L(T) [quorum q]`: the local member (which must be in
    /// `family`) sends `value(j)` to every other member `j` and receives
    /// from every other member. `value(own index)` is kept as the local
    /// contribution and counts toward the quorum (1 ≤ q ≤ family size).
    /// Returns `(index, value)` pairs sorted by index, own value included.
    pub async fn exchange<M: Serialize + DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
        quorum: Option<usize>,
    ) -> Result<Vec<(u32, M)>, Error> {
        ops::exchange(&mut *self.inner, family, label, value, quorum).await
    }

    /// Mark the protocol as completed and close the transport.
    ///
    /// Also checks, without waiting, that no peer has sent anything the
    /// protocol does not account for (an orphan message is a
    /// [`Error::ProtocolViolation`]); late quorum messages already arrived
    /// are dropped silently. Messages still in flight are not waited for.
    pub fn finish(mut self) -> Result<(), Error> {
        self.inner.finished = true;
        let Inner {
            core, transport, ..
        } = &mut *self.inner;
        let mut cx = Context::from_waker(Waker::noop());
        for p in 0..core.roster.len() {
            let peer = PeerId(u32::try_from(p).unwrap_or(u32::MAX));
            if peer == core.me_peer {
                continue;
            }
            match poll_next(core, transport, &mut cx, peer, &[]) {
                Poll::Ready(Err(e)) if matches!(*e, Error::ProtocolViolation { .. }) => {
                    return Err(*e)
                }
                Poll::Ready(Ok((_, msg))) => {
                    // Unreachable with no labels accepted; report anyway.
                    return Err(core.violation(
                        peer,
                        core.expecting(&[]),
                        format!("label {}", core.protocol.label_name(msg.label)),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl<T: Transport> Drop for Session<T> {
    fn drop(&mut self) {
        if !self.inner.finished {
            let core = &self.inner.core;
            tracing::warn!(
                session = %core.id,
                protocol = core.protocol.name,
                role = %core.name(core.me),
                "endpoint dropped before the protocol finished; closing its connections so peers waiting on it fail with a transport error"
            );
        }
        self.inner.transport.close();
    }
}
