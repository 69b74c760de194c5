//! Shared fixtures: a hand-written protocol descriptor and session setup.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use choreo_runtime::memory::{self, MemoryConfig};
use choreo_runtime::{
    Label, MemoryTransport, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session, SessionId,
};

pub const A_ROLE: Role = Role(0);
pub const B_ROLE: Role = Role(1);
pub const W: Role = Role(2);
pub const A: RoleId = RoleId::single(A_ROLE);
pub const B: RoleId = RoleId::single(B_ROLE);

pub const fn w(i: u32) -> RoleId {
    RoleId::member(W, i)
}

pub const PING: Label = Label(0);
pub const PONG: Label = Label(1);
pub const SHARE: Label = Label(2);
pub const VOTE: Label = Label(3);
pub const COMMIT: Label = Label(4);
pub const ABORT: Label = Label(5);
pub const DONE: Label = Label(6);

pub static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Test",
    fingerprint: [7; 32],
    roles: &["A", "B", "W"],
    labels: &["Ping", "Pong", "Share", "Vote", "Commit", "Abort", "Done"],
};

pub const SID: SessionId = SessionId([1; 16]);

pub type S = Session<MemoryTransport>;

/// Sessions for A, B, W[0..n] in roster order (A = 0, B = 1, W[i] = 2 + i).
pub fn group(n: u32, config: MemoryConfig) -> Vec<S> {
    let roster =
        Roster::new(&[RoleShape::Single, RoleShape::Single, RoleShape::Family(n)]).unwrap();
    memory::sessions(SID, &PROTO, &roster, config).unwrap()
}

/// Split the group into (A, B, witnesses).
pub fn parts(n: u32, config: MemoryConfig) -> (S, S, Vec<S>) {
    let mut all = group(n, config);
    let ws = all.split_off(2);
    let b = all.pop().unwrap();
    let a = all.pop().unwrap();
    (a, b, ws)
}

pub fn finish_all(sessions: Vec<S>) {
    for s in sessions {
        s.finish().unwrap();
    }
}

/// Hang guard only (not a performance assertion).
pub async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("operation hung: the runtime must fail, not wait forever")
}

pub const BOTH: [MemoryConfig; 2] = [
    MemoryConfig {
        wire_encoding: false,
    },
    MemoryConfig {
        wire_encoding: true,
    },
];
