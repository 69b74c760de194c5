//! Frames for sessions this node has not opened yet: held within count,
//! byte and age limits, oldest first.

use std::collections::{BTreeSet, VecDeque};

use super::{NodeId, PendingLimits, Time};
use crate::ids::SessionId;

#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) at: Time,
    pub(crate) from: NodeId,
    pub(crate) session: SessionId,
    pub(crate) bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    frames: VecDeque<Held>,
    bytes: usize,
    /// Sessions already announced with `SessionRequested`.
    announced: BTreeSet<SessionId>,
}

/// What [`Pending::hold`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Held; the first frame of this session (announce it).
    New,
    /// Held; the session was announced before.
    Again,
    /// Limits full: dropped.
    Dropped,
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn hold(&mut self, limits: &PendingLimits, frame: Held) -> Hold {
        if self.frames.len() >= limits.max_frames
            || self.bytes.saturating_add(frame.bytes.len()) > limits.max_bytes
        {
            return Hold::Dropped;
        }
        self.bytes += frame.bytes.len();
        let new = self.announced.insert(frame.session);
        self.frames.push_back(frame);
        if new {
            Hold::New
        } else {
            Hold::Again
        }
    }

    /// Take every frame of `session`, oldest first.
    pub(crate) fn take(&mut self, session: SessionId) -> Vec<Held> {
        self.announced.remove(&session);
        let (taken, kept): (VecDeque<Held>, VecDeque<Held>) = std::mem::take(&mut self.frames)
            .into_iter()
            .partition(|h| h.session == session);
        self.frames = kept;
        self.bytes = self.frames.iter().map(|h| h.bytes.len()).sum();
        taken.into()
    }

    /// Drop frames older than the age limit; returns how many.
    pub(crate) fn expire(&mut self, now: Time, limits: &PendingLimits) -> u64 {
        let mut dropped = 0;
        while let Some(front) = self.frames.front() {
            if now - front.at < limits.max_age {
                break;
            }
            if let Some(old) = self.frames.pop_front() {
                self.bytes -= old.bytes.len();
                dropped += 1;
                if !self.frames.iter().any(|h| h.session == old.session) {
                    self.announced.remove(&old.session);
                }
            }
        }
        dropped
    }

    /// When the oldest held frame expires.
    pub(crate) fn next_timeout(&self, limits: &PendingLimits) -> Option<Time> {
        self.frames.front().map(|h| h.at + limits.max_age)
    }
}
