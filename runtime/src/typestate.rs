//! Helpers the generated typestates call (owned by code generation; the
//! session core does not use them).
//!
//! `timeout d { body } else { handler }`: entering the body starts its
//! deadline on the session's clock ([`Session::start_body`](crate::Session::start_body):
//! the transport's time, so virtual time in the simulator). Every operation
//! of a body state returns [`Timed`]: `Done` with the next state, or
//! `Expired` with the handler's state when the body is over for this
//! participant (its deadline passed, or a peer started the handler).

pub use crate::time::Time;
use crate::Error;

/// The outcome of an operation inside a `timeout` body.
#[derive(Debug)]
#[must_use = "either the operation completed or the handler must run"]
pub enum Timed<T, H> {
    /// The operation completed inside the body.
    Done(T),
    /// The body is over for this participant: run the handler (already in
    /// its phase).
    Expired(H),
}

impl<T, H> Timed<T, H> {
    /// The completed operation's result, or [`Error::Interrupted`] if the
    /// body is over. The handler's state is dropped (its session closes,
    /// and peers waiting on it fail): only for code that does not run the
    /// handler.
    pub fn into_done(self) -> Result<T, Error> {
        match self {
            Timed::Done(v) => Ok(v),
            Timed::Expired(_) => Err(Error::Interrupted(crate::Interrupt::Deadline)),
        }
    }
}

/// Sorts the result of a session operation inside a timeout body: the
/// value, `None` if the body was interrupted ([`Error::Interrupted`]), or
/// any other error.
#[inline]
pub fn timed<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Error::Interrupted(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What [`linger`](crate::Session::linger) on the state after a completed
/// timeout body ended with.
#[derive(Debug)]
#[must_use = "either the session closed or the handler must run"]
pub enum Lingered<H> {
    /// Nobody started the handler (the patience ran out, or every peer
    /// closed its side): the session is finished.
    Closed,
    /// A peer started the handler: run this role's part of it (already in
    /// its phase; the peer's message waits for its first receive).
    Handler(H),
}
