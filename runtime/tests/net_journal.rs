//! A [`NetNode`] with a journal path in its config opens an encrypted
//! `DurableStore` there and guards its sessions: a `@journal` send over
//! libp2p appends its fact durably (it is still there after the node is
//! shut down and spawned again from the same file), and a denied send
//! reaches neither the peer nor the journal.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use choreo_runtime::guard::{Annotations, CapabilitySet, ContextId, Denial, Grant, SendRecord};
use choreo_runtime::journal::{AuthorKey, Authorship, ScopeId};
use choreo_runtime::net::{generate_keypair, JournalConfig, NetNode, NetNodeConfig};
use choreo_runtime::node::{NodeId, SessionSpec};
use choreo_runtime::{Error, Label, ProtocolInfo, Role, RoleId, RoleShape, Roster, SessionId};

const PATIENCE: Duration = Duration::from_secs(20);
const SCOPE: ScopeId = ScopeId([4; 32]);

static NOTE: ProtocolInfo = ProtocolInfo {
    name: "Note",
    fingerprint: [8; 32],
    roles: &["Writer", "Reader"],
    labels: &["Note"],
};
const WRITER: RoleId = RoleId::single(Role(0));
const READER: RoleId = RoleId::single(Role(1));
const NOTE_LABEL: Label = Label(0);

/// `@guard("note:write") @journal("noted")`.
const NOTED: Annotations<'static> = Annotations {
    guard: &["note:write"],
    cost: 1,
    journal: &["noted"],
    leak: &[],
};

fn spec(id: SessionId, me: RoleId, writer: NodeId, reader: NodeId) -> SessionSpec {
    SessionSpec {
        id,
        protocol: &NOTE,
        me,
        roster: Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap(),
        peers: vec![writer, reader],
        patience: None,
    }
}

fn grant(caps: &[&str]) -> Grant {
    Grant {
        context: ContextId([1; 32]),
        capabilities: CapabilitySet::grant(caps.iter().copied()),
    }
}

#[tokio::test]
async fn a_node_journals_guarded_sends_in_its_configured_file_and_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let (writer_key, reader_key) = (generate_keypair(), generate_keypair());
    let writer_config = || {
        let mut c = NetNodeConfig::new(writer_key.clone());
        c.node.link.linger = Duration::from_millis(100);
        c.journal = Some(JournalConfig {
            path: path.clone(),
            scope: SCOPE,
            // The writer's own records: its node key must be admitted.
            authorship: Authorship::members([AuthorKey(
                choreo_runtime::net::local_node_id(&writer_key).unwrap().0,
            )]),
        });
        c
    };
    let mut reader_config = NetNodeConfig::new(reader_key);
    reader_config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    reader_config.node.peers = vec![choreo_runtime::net::local_node_id(&writer_key).unwrap()];
    let mut reader = NetNode::spawn(reader_config).await.unwrap();
    let writer = NetNode::spawn(writer_config()).await.unwrap();
    let address = reader.listen_addrs().await.unwrap().remove(0);
    writer
        .add_address(reader.local_peer_id(), address)
        .await
        .unwrap();
    let (w, r) = (writer.local_node_id(), reader.local_node_id());

    // A denied send: nothing for the reader, nothing in the journal.
    let mut denied = writer
        .open_guarded_session(spec(SessionId([1; 16]), WRITER, w, r), grant(&[]))
        .unwrap();
    let err = denied
        .send_guarded(READER, NOTE_LABEL, &"secret", &NOTED)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Denied(d) if matches!(**d, Denial::Capability { .. })),
        "{err}"
    );
    drop(denied);
    assert_eq!(writer.journal().unwrap().lock().unwrap().facts().len(), 0);

    // An allowed one: delivered, and its fact is in the file.
    let id = SessionId([2; 16]);
    let mut session = writer
        .open_guarded_session(spec(id, WRITER, w, r), grant(&["note:write"]))
        .unwrap();
    session
        .send_guarded(READER, NOTE_LABEL, &"hello", &NOTED)
        .await
        .unwrap();
    session.finish().unwrap();
    // The denied session's endpoint was dropped, so its close may be
    // announced too; its message never is.
    loop {
        let (requested, _, _) = tokio::time::timeout(PATIENCE, reader.incoming_session())
            .await
            .expect("the session was never announced")
            .unwrap();
        if requested == id {
            break;
        }
        let mut spec = spec(requested, READER, w, r);
        spec.patience = Some(Duration::from_secs(1));
        let mut refused = reader.open_session(spec).unwrap();
        let got = refused.recv::<String>(WRITER, NOTE_LABEL).await;
        assert!(
            matches!(got, Err(Error::Transport { .. })),
            "the denied message reached the reader: {got:?}"
        );
    }
    let mut session = reader.open_session(spec(id, READER, w, r)).unwrap();
    let note: String = session.recv(WRITER, NOTE_LABEL).await.unwrap();
    assert_eq!(note, "hello");
    session.finish().unwrap();
    assert!(writer.settle(PATIENCE).await);
    writer.shutdown().await;

    // Spawned again from the same file: the fact is there.
    let writer = NetNode::spawn(writer_config()).await.unwrap();
    {
        let journal = writer.journal().unwrap().lock().unwrap();
        assert_eq!(journal.facts().len(), 1);
        let record: SendRecord = journal.facts().iter().next().unwrap().body().unwrap();
        assert_eq!(record.name, "noted");
        assert_eq!(record.to, r.0);
    }
    writer.shutdown().await;
    reader.shutdown().await;
}
