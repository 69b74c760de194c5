//! Two [`NetNode`]s in one process over libp2p on 127.0.0.1: the node core
//! driven by the tokio driver delivers a session's messages in order, and a
//! session is announced to the node that has not opened it yet.
#![cfg(feature = "net")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_runtime::net::{generate_keypair, NetNode, NetNodeConfig};
use choreo_runtime::node::{NodeId, SessionSpec};
use choreo_runtime::{Label, ProtocolInfo, Role, RoleId, RoleShape, Roster, SessionId};

const PATIENCE: Duration = Duration::from_secs(20);

static ECHO: ProtocolInfo = ProtocolInfo {
    name: "Echo",
    fingerprint: [9; 32],
    roles: &["Asker", "Echoer"],
    labels: &["Ask", "Answer", "Done"],
};
const ASKER: RoleId = RoleId::single(Role(0));
const ECHOER: RoleId = RoleId::single(Role(1));
const ASK: Label = Label(0);
const ANSWER: Label = Label(1);

fn spec(id: SessionId, me: RoleId, asker: NodeId, echoer: NodeId) -> SessionSpec {
    SessionSpec {
        id,
        protocol: &ECHO,
        me,
        roster: Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap(),
        peers: vec![asker, echoer],
        patience: None,
    }
}

async fn echo_over(listen: &str) {
    let (asker_key, echoer_key) = (generate_keypair(), generate_keypair());
    let asker_peer = asker_key.public().to_peer_id();
    let mut echoer_config = NetNodeConfig::new(echoer_key);
    echoer_config.net.listen = vec![listen.parse().unwrap()];
    echoer_config.node.peers = vec![choreo_runtime::net::node_id_of(&asker_peer).unwrap()];
    let mut echoer = NetNode::spawn(echoer_config).await.unwrap();
    let mut asker_config = NetNodeConfig::new(asker_key);
    // settle() below waits for the linger after the last ack.
    asker_config.node.link.linger = Duration::from_millis(100);
    let asker = NetNode::spawn(asker_config).await.unwrap();
    let address = echoer.listen_addrs().await.unwrap().remove(0);
    asker
        .add_address(echoer.local_peer_id(), address)
        .await
        .unwrap();
    let (a, e) = (asker.local_node_id(), echoer.local_node_id());

    let id = SessionId([42; 16]);
    let mut session = asker.open_session(spec(id, ASKER, a, e)).unwrap();
    let asking = tokio::spawn(async move {
        let mut answers = Vec::new();
        for i in 0..100u64 {
            session.send(ECHOER, ASK, &i).await?;
        }
        for _ in 0..100 {
            answers.push(session.recv::<u64>(ECHOER, ANSWER).await?);
        }
        session.finish()?;
        Ok::<_, choreo_runtime::Error>(answers)
    });

    let (requested, fingerprint, from) = tokio::time::timeout(PATIENCE, echoer.incoming_session())
        .await
        .expect("the session was never announced")
        .unwrap();
    assert_eq!((requested, fingerprint, from), (id, ECHO.fingerprint, a));
    let mut session = echoer.open_session(spec(id, ECHOER, a, e)).unwrap();
    for _ in 0..100 {
        let n: u64 = session.recv(ASKER, ASK).await.unwrap();
        session.send(ASKER, ANSWER, &(n * 2)).await.unwrap();
    }
    session.finish().unwrap();
    let answers = tokio::time::timeout(PATIENCE, asking)
        .await
        .expect("the asker never finished")
        .unwrap()
        .unwrap();
    assert_eq!(answers, (0..100).map(|i| i * 2).collect::<Vec<u64>>());
    assert!(
        asker.settle(PATIENCE).await,
        "the asker's session never settled"
    );
    asker.shutdown().await;
    echoer.shutdown().await;
}

#[tokio::test]
async fn a_session_runs_in_order_between_two_net_nodes_over_tcp() {
    echo_over("/ip4/127.0.0.1/tcp/0").await;
}

#[tokio::test]
async fn a_session_runs_in_order_between_two_net_nodes_over_quic() {
    echo_over("/ip4/127.0.0.1/udp/0/quic-v1").await;
}

/// Every pair of `NODES` nodes opens two sessions at the same moment, one
/// in each direction, so each pair's first frames dial each other at once
/// (over TCP both dials could collide on one address pair when a dial
/// reuses the listening port); all on one current-thread runtime.
async fn everyone_dials_everyone_at_once(listen: &str) {
    const NODES: usize = 8;
    const ROUNDS: u64 = 5;
    let keys: Vec<_> = (0..NODES).map(|_| generate_keypair()).collect();
    let ids: Vec<NodeId> = keys
        .iter()
        .map(|k| choreo_runtime::net::node_id_of(&k.public().to_peer_id()).unwrap())
        .collect();
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mut config = NetNodeConfig::new(key.clone());
        config.net.listen = vec![listen.parse().unwrap()];
        config.node.peers = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| *id)
            .collect();
        config.node.link.linger = Duration::from_millis(100);
        nodes.push(NetNode::spawn(config).await.unwrap());
    }
    for i in 0..NODES {
        for j in 0..NODES {
            if i != j {
                let address = nodes[j].listen_addrs().await.unwrap().remove(0);
                let peer = nodes[j].local_peer_id();
                nodes[i].add_address(peer, address).await.unwrap();
            }
        }
    }
    let mut runs = tokio::task::JoinSet::new();
    for asker in 0..NODES {
        for echoer in 0..NODES {
            if asker == echoer {
                continue;
            }
            let mut id = [0u8; 16];
            id[0] = u8::try_from(asker).unwrap();
            id[1] = u8::try_from(echoer).unwrap();
            let (a, e) = (ids[asker], ids[echoer]);
            let mut asking = nodes[asker]
                .open_session(spec(SessionId(id), ASKER, a, e))
                .unwrap();
            let mut echoing = nodes[echoer]
                .open_session(spec(SessionId(id), ECHOER, a, e))
                .unwrap();
            runs.spawn(async move {
                for i in 0..ROUNDS {
                    asking.send(ECHOER, ASK, &i).await?;
                    let answer: u64 = asking.recv(ECHOER, ANSWER).await?;
                    assert_eq!(answer, i * 2);
                }
                asking.finish()
            });
            runs.spawn(async move {
                for _ in 0..ROUNDS {
                    let n: u64 = echoing.recv(ASKER, ASK).await?;
                    echoing.send(ASKER, ANSWER, &(n * 2)).await?;
                }
                echoing.finish()
            });
        }
    }
    let mut finished = 0;
    while let Some(run) = tokio::time::timeout(PATIENCE, runs.join_next())
        .await
        .unwrap_or_else(|_| panic!("stuck: {} endpoints unfinished", runs.len()))
    {
        run.unwrap().unwrap();
        finished += 1;
    }
    assert_eq!(finished, 2 * NODES * (NODES - 1));
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn nodes_dialing_each_other_at_once_all_connect_over_tcp() {
    everyone_dials_everyone_at_once("/ip4/127.0.0.1/tcp/0").await;
}

#[tokio::test]
async fn nodes_dialing_each_other_at_once_all_connect_over_quic() {
    everyone_dials_everyone_at_once("/ip4/127.0.0.1/udp/0/quic-v1").await;
}
