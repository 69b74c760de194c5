//! # choreo-runtime
//!
//! Runs the endpoints generated from choreographies: sessions, envelopes,
//! transports and errors.
//!
//! ## Model
//!
//! - A **session** ([`Session`]) is one participant's run of one protocol:
//!   a session id, the protocol's static descriptor ([`ProtocolInfo`]: name,
//!   fingerprint, role and label names), the local role instance, a
//!   [`Roster`] of all role instances, and a [`Transport`].
//! - **Role instances** ([`RoleId`]) are a role number plus an optional
//!   family index (`Witness[2]` = `RoleId::member(WITNESS, 2)`). Family
//!   sizes are fixed when the session starts ([`RoleShape::Family`]). The
//!   roster numbers the instances densely; that number is the [`PeerId`]
//!   transports address.
//! - An **envelope** ([`Envelope`]) is session id, protocol fingerprint,
//!   sender, label, phase and a postcard-encoded payload. Its wire encoding
//!   is a fixed 66-byte header plus the payload; [`Envelope::decode`] never
//!   panics.
//! - **Demultiplexing**: a transport keeps one FIFO stream per ordered peer
//!   pair, and a receive names the peer it reads from, so messages of
//!   different senders interleave freely and wait in their own queue until
//!   the local type asks for them. A message from the right sender with an
//!   unexpected label, a malformed or foreign envelope, or an undecodable
//!   payload is a [`Error::ProtocolViolation`] naming the peer.
//! - **Transports**: [`memory`] (one process), [`node`] (a sans-I/O node
//!   host: many sessions over peer connections with reliable links, driven
//!   by a network driver) and [`sim`] (the node host on a deterministic
//!   simulated network, for tests).
//! - **Errors** are grouped by who is at fault: [`Error::Usage`] (the local
//!   program), [`Error::ProtocolViolation`] (the peer), [`Error::Transport`]
//!   (the network, or a peer that went away). No operation panics on input
//!   and no receive waits forever on a peer that is gone.
//!
//! ## Architecture invariants
//!
//! - The runtime never depends on the compiler (`choreo-lang`); generated
//!   code depends on the runtime, never the other way.
//! - The session's protocol logic (validation of frames, quorum stragglers,
//!   phases) is synchronous and I/O-free; it sees the network only through
//!   [`Transport::poll_recv`], [`Transport::poll_ready`] and
//!   [`Transport::start_send`]. No tokio type appears
//!   outside [`memory`], so a deterministic simulator can drive sessions.
//! - One core, one operation surface, in layers that never reach up: the
//!   session core (the state operations act on, frame validation, timeout
//!   phases) sits on the [`Transport`] trait; the operations are written
//!   once over it, for a [`Session`] and for [`Par`] branches alike; the
//!   [`Session`] handle sits on the operations; links, handoffs, lanes,
//!   the transports ([`memory`], [`node`], [`sim`]) and the guard chain
//!   ([`guard`]) sit on the session. Types two layers share live in the
//!   lower one (payloads, envelopes, session configurations, guard
//!   denials). A workspace test fails on any import cycle between the
//!   crate's top-level modules.
//! - A session is bound to one protocol fingerprint and one session id;
//!   frames of another session or protocol version are violations, never
//!   silently accepted or dropped.
//!
//! ## Contract for generated code
//!
//! The code generator emits, per protocol:
//!
//! 1. One `static PROTOCOL: choreo_runtime::ProtocolInfo` with the
//!    protocol's `name`, `fingerprint` (the `FINGERPRINT` constant), `roles`
//!    (role names in declaration order; role `i` is [`Role`]`(i)`), and
//!    `labels` (every label the protocol uses, namespaced as the generator
//!    sees fit; label `i` is [`Label`]`(i)`). Role and label numbers are
//!    `u16` and must be the same on every participant — they are on the
//!    wire, guarded by the fingerprint.
//! 2. Constants for roles and labels, e.g.
//!    `const WITNESS: Role = Role(1); const SHARE: Label = Label(3);` and
//!    instances `RoleId::single(INITIATOR)`, `RoleId::member(WITNESS, i)`.
//! 3. An entry point per role that takes a [`Session<T>`] (opened by the
//!    user with [`Session::new`] or [`memory::sessions`]) and returns the
//!    initial typestate. Typestates wrap the session by value
//!    (`struct S3<T: Transport> { s: Session<T> }`); `Session` is one
//!    pointer, so moving it between states is free. Mark every typestate
//!    `#[must_use]`.
//!
//! Each local action maps to exactly one call (all `async`, all returning
//! `Result<_, choreo_runtime::Error>`; propagate errors with `?` — after an
//! error the state is gone and the session is over):
//!
//! | local type | call |
//! |---|---|
//! | `send B L(T)` | `s.send_owned(B, L, value).await?` (fast: over the in-memory transport the value itself travels, no serialization), or `s.send(B, L, &value).await?` |
//! | `recv A L(T)` | `let v: T = s.recv_owned(A, L).await?;` (fast; takes a value sent with `send_owned` without decoding), or `s.recv(A, L)` |
//! | `select { Br1 => …, Br2 => … }` | the first message of the chosen branch, as `send`/`send_all`/`send_each` with that branch's label; there is no separate select frame |
//! | `branch A { L1(T1) => …, L2(T2) => … }` | `let b = s.recv_branch(A, &[L1, L2]).await?;` then `match b.index { 0 => b.take::<T1>()?, 1 => b.take::<T2>()?, _ => return Err(b.unexpected()) }` (`take` consumes the branch and moves a value payload out; `decode` borrows and always goes through postcard; `b.label` is also available) |
//! | `send all W L(T)` (one value) | `s.send_all(W, L, &value).await?` |
//! | `send all W L(T)` (per recipient) | `s.send_each(W, L, \|i\| value_for(i)).await?` |
//! | `recv all W L(T)` | `let vs: Vec<(u32, T)> = s.recv_all(W, L, None).await?;` |
//! | `recv all W L(T) quorum q` | `s.recv_all(W, L, Some(q)).await?` |
//! | `exchange W L(T) [quorum q]` | `let vs: Vec<(u32, T)> = s.exchange(W, L, \|j\| value_for(j), q_opt).await?;` (`value_for(own index)` is the local contribution, included in `vs`) |
//! | `W[i+1]` index arithmetic | `RoleId::member(W, (i + 1) % s.family_size(W)?)` |
//! | `par { … } and { … }` | `let (x, y) = { let scope = s.par(); choreo_runtime::try_join(branch1(scope.branch()), branch2(scope.branch())).await? };` — each branch's typestates wrap a [`Par`] handle, which has the same operations as `Session` |
//! | end of the protocol | `s.finish()?` (synchronous) |
//!
//! Rules the generator can rely on:
//!
//! - `send_all`/`send_each`/`recv_all` address every member of the family
//!   except the local instance; results are `(member index, value)` sorted
//!   by index. `quorum` counts senders for `recv_all` (1 ≤ q ≤ senders) and
//!   members including oneself for `exchange` (1 ≤ q ≤ size); an out of
//!   range quorum is [`UsageError::QuorumOutOfRange`]. Stragglers of a
//!   quorum are discarded by the session; the same label may be gathered
//!   again in the next loop iteration.
//! - `recv_branch` costs one comparison per offered label; `index` is the
//!   position in the slice passed in.
//! - Messages are FIFO per ordered pair of role instances; nothing else is
//!   ordered. A loop (`rec`) is a plain Rust `loop` over typestates.
//! - Timeout blocks: [`Session::start_body`] starts a timeout instance and
//!   its deadline on the transport's clock ([`Transport::now`]); inside it
//!   an operation that would wait past the deadline returns
//!   [`Error::Interrupted`] ([`typestate::timed`] sorts it out);
//!   [`Session::end_body`] leaves a completed body and
//!   [`Session::start_handler`] enters the handler's phase, after which
//!   messages of earlier phases are dropped as late.
//! - Dropping a session before [`Session::finish`] logs a `tracing` warning
//!   and closes its links; every peer waiting on it gets
//!   [`Error::Transport`]. `finish` reports messages that arrived but that
//!   no local action consumed ([`Error::ProtocolViolation`]).
//! - Payload types need `serde::Serialize` (send) and
//!   `serde::de::DeserializeOwned` (receive); a payload that does not
//!   decode as the expected type, or leaves bytes over, is a violation.
//!   The owned forms (`send_owned`, `recv_owned`, [`Branch::take`]) also
//!   need `Send + 'static` (send) and `'static` (receive); they are
//!   interchangeable with the by-reference forms on either side (a value
//!   received by `recv` is encoded and decoded; a value of another type
//!   than the receiver's goes through postcard too, so wire-compatible
//!   types behave exactly as on a byte transport, and anything else is the
//!   same [`Error::ProtocolViolation`] a bad payload is).
//! - A send completes when the operation is created if the link can take
//!   the message then (always for the unbounded in-memory links, like
//!   `UnboundedSender::send`); the future only reports the outcome.
//! - Typed lanes ([`lane`]): for a protocol without timeouts, collectives,
//!   guard annotations, links or delegation, the generator may also emit
//!   one enum per ordered pair of single roles (the labels it carries) and
//!   attach each endpoint's lanes to the sessions it creates
//!   ([`MemoryTransport::attach_lanes`]); the entry point takes them with
//!   [`Session::take_lanes`], each operation uses them when present (a
//!   push; a pop and a `match`, with [`lane::unexpected`] / [`lane::closed`]
//!   for the errors the session would give), `finish` checks them for
//!   orphans ([`lane::orphan`]), and a handoff gives them back with
//!   [`Session::put_lanes`]. A session whose lanes are still attached
//!   refuses the session operations.
//! - Everything is `Send` when the transport is, so endpoints run on a
//!   multi-threaded runtime.
//! - `par` branches share the session through a lock taken for one
//!   synchronous step at a time (never across `.await`); a `par` nested in
//!   a branch is not supported yet (flatten it into the enclosing `par`).
//!
//! ## Example (hand-written; generated code looks the same)
//!
//! ```
//! use choreo_runtime::{memory, Label, MemoryConfig, ProtocolInfo, Role, RoleId, RoleShape, Roster, SessionId};
//!
//! static PING_PONG: ProtocolInfo = ProtocolInfo {
//!     name: "PingPong",
//!     fingerprint: [0; 32],
//!     roles: &["A", "B"],
//!     labels: &["Ping", "Pong"],
//! };
//! const A: RoleId = RoleId::single(Role(0));
//! const B: RoleId = RoleId::single(Role(1));
//! const PING: Label = Label(0);
//! const PONG: Label = Label(1);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), choreo_runtime::Error> {
//! let roster = Roster::new(&[RoleShape::Single, RoleShape::Single])?;
//! let mut sessions = memory::sessions(SessionId([1; 16]), &PING_PONG, &roster, MemoryConfig::default())?;
//! let (mut b, mut a) = (sessions.pop().unwrap(), sessions.pop().unwrap());
//! let bob = tokio::spawn(async move {
//!     let n: u64 = b.recv(A, PING).await?;
//!     b.send(A, PONG, &(n + 1)).await?;
//!     b.finish()
//! });
//! a.send(B, PING, &41u64).await?;
//! assert_eq!(a.recv::<u64>(B, PONG).await?, 42);
//! a.finish()?;
//! bob.await.unwrap()?;
//! # Ok(())
//! # }
//! ```

mod denial;
mod envelope;
mod error;
pub mod guard;
mod handoff;
mod ids;
pub mod journal;
pub mod lane;
pub mod link;
pub mod memory;
#[cfg(feature = "net")]
pub mod net;
pub mod node;
mod ops;
mod par;
mod payload;
mod roster;
mod session;
mod session_config;
mod session_core;
pub mod sim;
mod time;
mod transport;
pub mod typestate;
mod value;

pub use envelope::{
    DecodeError, Envelope, Frame, Header, Message, TypedMessage, HEADER_LEN, WIRE_VERSION,
};
pub use error::{Error, Interrupt, TransportError, UsageError};
pub use handoff::{take_over, Handoff, Handover};
pub use ids::{Label, PeerId, ProtocolInfo, Role, RoleId, SessionId};
pub use memory::{MemoryConfig, MemoryTransport};
pub use par::{join, try_join, Par, ParScope};
pub use payload::{Payload, PayloadError, INLINE_PAYLOAD};
pub use roster::{RoleShape, Roster};
pub use session::Session;
pub use session_config::SessionConfig;
pub use session_core::{Branch, TimeoutNumbering, INNER_WINDOW_HALF, WINDOW_HALF};
pub use time::{ManualTimer, ThreadTimer, Time, Timer};
pub use transport::Transport;
pub use value::Value;
