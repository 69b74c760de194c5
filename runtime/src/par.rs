//! `par` blocks: concurrent branches over one session.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::ids::{Label, Role, RoleId};
use crate::ops::{self, Access};
use crate::session_core::{Branch, Core, Inner};
use crate::transport::Transport;

/// The session, lent to the branches of one `par` block
/// ([`Session::par`](crate::Session::par)). When the scope ends, the
/// session is usable again.
pub struct ParScope<'s, T: Transport> {
    shared: Mutex<&'s mut Inner<T>>,
}

/// One branch's handle on a shared session. It has the operations of
/// [`Session`](crate::Session).
/// Branches of one `par` never use the same ordered pair of role instances
/// (the language contract §3.4), so each handle reads its own peers' queues; the
/// shared state is locked for one synchronous step at a time, never across
/// an `.await`.
pub struct Par<'p, 's, T: Transport> {
    shared: &'p Mutex<&'s mut Inner<T>>,
}

impl<T: Transport> fmt::Debug for ParScope<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParScope")
    }
}

impl<T: Transport> fmt::Debug for Par<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Par")
    }
}

impl<'s, T: Transport> ParScope<'s, T> {
    pub(crate) fn new(inner: &'s mut Inner<T>) -> Self {
        Self {
            shared: Mutex::new(inner),
        }
    }

    /// A handle for one branch.
    pub fn branch(&self) -> Par<'_, 's, T> {
        Par {
            shared: &self.shared,
        }
    }
}

impl<T: Transport> Access for Par<'_, '_, T> {
    type T = T;
    #[inline]
    fn with<R>(&mut self, f: impl FnOnce(&mut Core, &mut T) -> R) -> R {
        // A panic in another branch while it held the lock leaves the state
        // as consistent as between two steps; carry on.
        let mut guard = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let inner: &mut Inner<T> = &mut guard;
        f(&mut inner.core, &mut inner.transport)
    }
}

impl<'p, 's, T: Transport> Par<'p, 's, T> {
    /// See [`Session::send`](crate::Session::send).
    pub fn send<M: Serialize + ?Sized>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: &M,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_, 'p, 's, T, M> {
        ops::send(self, to, label, payload)
    }

    /// See [`Session::recv`](crate::Session::recv).
    pub fn recv<M: DeserializeOwned>(
        &mut self,
        from: RoleId,
        label: Label,
    ) -> impl Future<Output = Result<M, Error>> + Send + use<'_, 'p, 's, T, M> {
        ops::recv::<_, M, ops::Decode>(self, from, label)
    }

    /// See [`Session::send_owned`](crate::Session::send_owned).
    pub fn send_owned<M: Serialize + Send + 'static>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: M,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_, 'p, 's, T, M> {
        ops::send_owned(self, to, label, payload)
    }

    /// See [`Session::recv_owned`](crate::Session::recv_owned).
    pub fn recv_owned<M: DeserializeOwned + 'static>(
        &mut self,
        from: RoleId,
        label: Label,
    ) -> impl Future<Output = Result<M, Error>> + Send + use<'_, 'p, 's, T, M> {
        ops::recv::<_, M, ops::Take>(self, from, label)
    }

    /// See [`Session::recv_branch`](crate::Session::recv_branch).
    pub fn recv_branch<'a>(
        &'a mut self,
        from: RoleId,
        labels: &'a [Label],
    ) -> impl Future<Output = Result<Branch, Error>> + Send + use<'a, 'p, 's, T> {
        ops::recv_branch(self, from, labels)
    }

    /// See [`Session::send_all`](crate::Session::send_all).
    pub async fn send_all<M: Serialize + ?Sized>(
        &mut self,
        family: Role,
        label: Label,
        payload: &M,
    ) -> Result<(), Error> {
        ops::send_all(self, family, label, payload).await
    }

    /// See [`Session::send_each`](crate::Session::send_each).
    pub async fn send_each<M: Serialize>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
    ) -> Result<(), Error> {
        ops::send_each(self, family, label, value).await
    }

    /// See [`Session::recv_all`](crate::Session::recv_all).
    pub async fn recv_all<M: DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        quorum: Option<usize>,
    ) -> Result<Vec<(u32, M)>, Error> {
        ops::recv_all(self, family, label, quorum).await
    }

    /// See [`Session::exchange`](crate::Session::exchange).
    pub async fn exchange<M: Serialize + DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
        quorum: Option<usize>,
    ) -> Result<Vec<(u32, M)>, Error> {
        ops::exchange(self, family, label, value, quorum).await
    }

    /// See [`Session::family_size`](crate::Session::family_size).
    pub fn family_size(&mut self, family: Role) -> Result<u32, Error> {
        self.with(|core, _| core.family_size(family))
    }

    /// See [`Session::me`](crate::Session::me).
    pub fn me(&mut self) -> RoleId {
        self.with(|core, _| core.me)
    }
}

/// Run two futures concurrently on the current task; returns both outputs.
/// (A runtime-free `join`, for `par` branches.)
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut ra = None;
    let mut rb = None;
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}

/// Like [`join`] for branches that return `Result`: the first error wins
/// and the other branch is dropped at once (so a failed branch never leaves
/// the endpoint waiting on the other).
pub async fn try_join<A, B, X, Y>(a: A, b: B) -> Result<(X, Y), Error>
where
    A: Future<Output = Result<X, Error>>,
    B: Future<Output = Result<Y, Error>>,
{
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut ra = None;
    let mut rb = None;
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                match v {
                    Ok(x) => ra = Some(x),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                match v {
                    Ok(y) => rb = Some(y),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready(Ok((x, y))),
            (x, y) => {
                ra = x;
                rb = y;
                Poll::Pending
            }
        }
    })
    .await
}
