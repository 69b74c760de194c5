//! [`Sessions`]: the node's hosted endpoints with an index of their next
//! deadlines, so that [`Node::poll_timeout`](super::Node::poll_timeout)
//! and [`Node::handle_timeout`](super::Node::handle_timeout) cost
//! O(log n) per changed or due session instead of a walk over every
//! hosted one (a node asks for its next deadline on every flush).
//!
//! Every endpoint's next deadline is cached next to it and kept in a set
//! ordered by (time, key). The cache is invalidated, not updated, on
//! mutation: every mutable access ([`get_mut`](Sessions::get_mut),
//! [`insert`](Sessions::insert)) marks the endpoint touched, and
//! [`refresh`](Sessions::refresh) recomputes the touched ones before the
//! index is read. An endpoint's deadlines only change through `&mut`
//! access to it, and the only `&mut` access is through these methods, so
//! the index cannot go stale behind the node's back.

use std::collections::{BTreeMap, BTreeSet};

use super::host::Hosted;
use super::Time;
use crate::ids::SessionId;

#[derive(Debug)]
struct Entry {
    hosted: Hosted,
    /// The deadline in [`Sessions::by_time`] for this endpoint (valid when
    /// not `touched`).
    next: Option<Time>,
    /// Mutably borrowed since the last refresh (its key is in
    /// [`Sessions::touched`]).
    touched: bool,
}

/// Hosted endpoints by key, with their next deadlines indexed.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    map: BTreeMap<SessionId, Entry>,
    /// Keys whose deadline must be recomputed (each at most once: the
    /// entry's `touched` flag guards the push).
    touched: Vec<SessionId>,
    /// `(next deadline, key)` of every endpoint that has one and is not
    /// touched.
    by_time: BTreeSet<(Time, SessionId)>,
}

impl Sessions {
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn contains_key(&self, key: &SessionId) -> bool {
        self.map.contains_key(key)
    }

    pub(super) fn get(&self, key: &SessionId) -> Option<&Hosted> {
        self.map.get(key).map(|e| &e.hosted)
    }

    /// The endpoint, marked touched: its deadline is recomputed at the
    /// next [`refresh`](Self::refresh).
    pub(super) fn get_mut(&mut self, key: &SessionId) -> Option<&mut Hosted> {
        let e = self.map.get_mut(key)?;
        if !e.touched {
            e.touched = true;
            self.touched.push(*key);
            if let Some(t) = e.next.take() {
                self.by_time.remove(&(t, *key));
            }
        }
        Some(&mut e.hosted)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Hosted> {
        self.map.values().map(|e| &e.hosted)
    }

    /// Host `hosted` under `key` (replacing any endpoint there).
    pub(super) fn insert(&mut self, key: SessionId, hosted: Hosted) {
        self.remove(&key);
        self.map.insert(
            key,
            Entry {
                hosted,
                next: None,
                touched: true,
            },
        );
        self.touched.push(key);
    }

    pub(super) fn remove(&mut self, key: &SessionId) -> Option<Hosted> {
        let e = self.map.remove(key)?;
        if let Some(t) = e.next {
            self.by_time.remove(&(t, *key));
        }
        // A key left in `touched` finds no entry (or, if hosted again, a
        // touched one) and is skipped or recomputed.
        Some(e.hosted)
    }

    /// Recompute the deadline of every touched endpoint with `next`
    /// (which may also update the endpoint, e.g. its settle time).
    pub(super) fn refresh(&mut self, mut next: impl FnMut(&mut Hosted) -> Option<Time>) {
        for key in std::mem::take(&mut self.touched) {
            let Some(e) = self.map.get_mut(&key) else {
                continue;
            };
            if !e.touched {
                continue;
            }
            e.touched = false;
            e.next = next(&mut e.hosted);
            if let Some(t) = e.next {
                self.by_time.insert((t, key));
            }
        }
    }

    /// The earliest deadline of any endpoint. Only complete after
    /// [`refresh`](Self::refresh).
    pub(super) fn next_deadline(&self) -> Option<Time> {
        self.by_time.first().map(|&(t, _)| t)
    }

    /// The keys of endpoints whose deadline is at or before `now`, in key
    /// order (the order a walk over all of them would visit them in).
    /// Only complete after [`refresh`](Self::refresh).
    pub(super) fn due(&self, now: Time) -> Vec<SessionId> {
        let mut due: Vec<SessionId> = self
            .by_time
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|&(_, key)| key)
            .collect();
        due.sort_unstable();
        due
    }
}
