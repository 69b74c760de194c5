//! The model checker on hand-made local systems (not produced by
//! projection): sound systems verify safe, and each kind of violation is
//! caught with a shortest counterexample (snapshotted as text and mermaid).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use choreo_lang::global::{Label, Loc, Payload, Size};
use choreo_lang::local::{Arm, LocalAction as A, LocalBlock, LocalProtocol, Peer, Target};
use choreo_lang::span::{FileId, Span};
use choreo_lang::verify::{verify_system, VerifyOptions, ViolationKind};

fn label(name: &str) -> Label {
    Label {
        name: name.into(),
        namespace: "P".into(),
    }
}

fn peer(name: &str) -> Peer {
    match name.split_once('[') {
        Some((r, i)) => Peer::Member(r.into(), i.trim_end_matches(']').parse().unwrap()),
        None => Peer::Role(name.into()),
    }
}

fn send(to: &str, l: &str) -> A {
    A::Send {
        to: peer(to),
        label: label(l),
        payload: Payload::unit(),
        annotations: vec![],
        loc: Loc::default(),
    }
}

fn recv(from: &str, l: &str) -> A {
    A::Recv {
        from: peer(from),
        label: label(l),
        payload: Payload::unit(),
        loc: Loc::default(),
    }
}

fn branch(from: &str, arms: Vec<(&str, LocalBlock)>) -> A {
    A::Branch {
        from: peer(from),
        arms: arms
            .into_iter()
            .map(|(l, body)| Arm {
                label: label(l),
                payload: Payload::unit(),
                body,
                loc: Loc::default(),
            })
            .collect(),
        loc: Loc::default(),
    }
}

fn select(branches: Vec<(&str, LocalBlock)>) -> A {
    A::Select {
        branches: branches
            .into_iter()
            .map(|(n, b)| (n.to_string(), b))
            .collect(),
        loc: Loc::default(),
    }
}

fn rec(name: &str, body: LocalBlock) -> A {
    A::Rec {
        name: name.into(),
        body,
        loc: Loc::default(),
    }
}

fn cont(name: &str) -> A {
    A::Continue {
        name: name.into(),
        loc: Loc::default(),
    }
}

fn par(branches: Vec<LocalBlock>) -> A {
    A::Par {
        branches,
        loc: Loc::default(),
    }
}

fn send_all(family: &str, l: &str) -> A {
    A::SendAll {
        family: family.into(),
        label: label(l),
        payload: Payload::unit(),
        annotations: vec![],
        loc: Loc::default(),
    }
}

fn recv_all(family: &str, l: &str, quorum: Option<Size>) -> A {
    A::RecvAll {
        family: family.into(),
        label: label(l),
        payload: Payload::unit(),
        quorum,
        loc: Loc::default(),
    }
}

fn exchange(family: &str, l: &str, quorum: Option<Size>) -> A {
    A::Exchange {
        family: family.into(),
        label: label(l),
        payload: Payload::unit(),
        quorum,
        annotations: vec![],
        loc: Loc::default(),
    }
}

/// Timeouts are identified across participants by their source location.
fn timeout(id: u32, body: LocalBlock, handler: LocalBlock) -> A {
    A::Timeout {
        millis: 2000,
        text: "2s".into(),
        body,
        handler,
        loc: Loc {
            file: FileId(0),
            span: Span::new(id as usize, id as usize + 1),
        },
    }
}

fn link(protocol: &str, args: &str) -> A {
    A::Link {
        module: "m".into(),
        protocol: protocol.into(),
        args_text: args.into(),
        loc: Loc::default(),
    }
}

fn delegate(to: &str) -> A {
    A::DelegateTo {
        to: peer(to),
        loc: Loc::default(),
    }
}

fn accept(from: &str) -> A {
    A::AcceptFrom {
        from: peer(from),
        loc: Loc::default(),
    }
}

fn local(target: &str, body: LocalBlock) -> LocalProtocol {
    let target = if let Some(f) = target.strip_suffix("[*]") {
        Target::Family(f.into())
    } else {
        match peer(target) {
            Peer::Member(r, i) => Target::Member(r, i),
            Peer::Role(r) => Target::Role(r),
        }
    };
    LocalProtocol {
        module: "m".into(),
        protocol: "P".into(),
        params: vec![],
        target,
        body,
    }
}

fn q(p: &str) -> Option<Size> {
    Some(Size::Param(p.into()))
}

fn assert_safe(locals: &[LocalProtocol]) {
    let report = verify_system(locals, &VerifyOptions::default());
    assert!(report.is_safe(), "{}", report.render_text());
    assert!(report.states_explored > 0);
}

// ----- sound systems -----------------------------------------------------

#[test]
fn ping_pong_is_safe() {
    assert_safe(&[
        local("A", vec![send("B", "Ping"), recv("B", "Pong")]),
        local("B", vec![recv("A", "Ping"), send("A", "Pong")]),
    ]);
}

#[test]
fn choice_with_informed_third_party_is_safe() {
    assert_safe(&[
        local(
            "A",
            vec![select(vec![
                ("Left", vec![send("B", "L"), send("C", "GoL")]),
                ("Right", vec![send("B", "R"), send("C", "GoR")]),
            ])],
        ),
        local(
            "B",
            vec![branch(
                "A",
                vec![("L", vec![send("C", "Data")]), ("R", vec![])],
            )],
        ),
        local(
            "C",
            vec![branch(
                "A",
                vec![("GoL", vec![recv("B", "Data")]), ("GoR", vec![])],
            )],
        ),
    ]);
}

#[test]
fn recursive_loop_is_safe() {
    assert_safe(&[
        local(
            "A",
            vec![rec(
                "Loop",
                vec![select(vec![
                    (
                        "More",
                        vec![send("B", "More"), recv("B", "Ack"), cont("Loop")],
                    ),
                    ("Stop", vec![send("B", "Stop")]),
                ])],
            )],
        ),
        local(
            "B",
            vec![rec(
                "Loop",
                vec![branch(
                    "A",
                    vec![
                        ("More", vec![send("A", "Ack"), cont("Loop")]),
                        ("Stop", vec![]),
                    ],
                )],
            )],
        ),
    ]);
}

#[test]
fn one_way_stream_loop_is_safe_within_the_channel_bound() {
    let report = verify_system(
        &[
            local(
                "A",
                vec![rec(
                    "Loop",
                    vec![select(vec![
                        ("More", vec![send("B", "Item"), cont("Loop")]),
                        ("Stop", vec![send("B", "Stop")]),
                    ])],
                )],
            ),
            local(
                "B",
                vec![rec(
                    "Loop",
                    vec![branch(
                        "A",
                        vec![("Item", vec![cont("Loop")]), ("Stop", vec![])],
                    )],
                )],
            ),
        ],
        &VerifyOptions::default(),
    );
    assert!(report.is_safe(), "{}", report.render_text());
    assert!(report.runs.iter().any(|r| r.bound_hit));
}

#[test]
fn par_with_join_is_safe() {
    assert_safe(&[
        local(
            "A",
            vec![
                par(vec![
                    vec![send("B", "X")],
                    vec![send("C", "Y"), recv("C", "Z")],
                ]),
                send("B", "After"),
            ],
        ),
        local("B", vec![recv("A", "X"), recv("A", "After")]),
        local("C", vec![recv("A", "Y"), send("A", "Z")]),
    ]);
}

#[test]
fn gather_with_quorum_drops_late_messages_and_is_safe() {
    let system = [
        local(
            "C",
            vec![
                send_all("W", "Req"),
                recv_all("W", "Resp", q("t")),
                send_all("W", "Done"),
                recv_all("W", "Bye", None),
            ],
        ),
        local(
            "W[*]",
            vec![
                recv("C", "Req"),
                send("C", "Resp"),
                recv("C", "Done"),
                send("C", "Bye"),
            ],
        ),
    ];
    let report = verify_system(&system, &VerifyOptions::default());
    assert!(report.is_safe(), "{}", report.render_text());
    // Sizes 2 and 3, each with every quorum value 1..=size.
    assert_eq!(report.runs.len(), 5, "{}", report.render_text());
}

#[test]
fn exchange_with_quorum_is_safe() {
    assert_safe(&[local(
        "W[*]",
        vec![
            exchange("W", "Propose", q("t")),
            exchange("W", "Share", q("t")),
            exchange("W", "Commit", None),
        ],
    )]);
}

#[test]
fn timeout_with_linked_fallback_is_safe() {
    assert_safe(&[
        local(
            "I",
            vec![timeout(
                1,
                vec![
                    send_all("W", "Execute"),
                    recv_all("W", "Share", q("t")),
                    send_all("W", "Commit"),
                ],
                vec![],
            )],
        ),
        local(
            "W[*]",
            vec![timeout(
                1,
                vec![
                    recv("I", "Execute"),
                    send("I", "Share"),
                    recv("I", "Commit"),
                ],
                vec![link("Fallback", "W")],
            )],
        ),
    ]);
}

#[test]
fn delegation_hands_the_endpoint_over_and_is_safe() {
    assert_safe(&[
        local(
            "Account",
            vec![send("Guardian", "Check"), recv("Guardian", "Ack")],
        ),
        local(
            "Guardian",
            vec![
                recv("Account", "Check"),
                send("Successor", "Handoff"),
                delegate("Successor"),
            ],
        ),
        local(
            "Successor",
            vec![
                recv("Guardian", "Handoff"),
                accept("Guardian"),
                send("Account", "Ack"),
            ],
        ),
    ]);
}

#[test]
fn ring_over_literal_members_is_safe() {
    assert_safe(&[
        local("N[0]", vec![send("N[1]", "Token"), recv("N[2]", "Token")]),
        local("N[1]", vec![recv("N[0]", "Token"), send("N[2]", "Token")]),
        local("N[2]", vec![recv("N[1]", "Token"), send("N[0]", "Token")]),
    ]);
}

// ----- unsound systems ---------------------------------------------------

fn violation(locals: &[LocalProtocol], kind: ViolationKind) -> (String, String) {
    let report = verify_system(locals, &VerifyOptions::default());
    let v = report.violation().expect("a violation");
    assert_eq!(v.kind, kind, "{}", report.render_text());
    (report.render_text(), report.render_mermaid().unwrap())
}

#[test]
fn crossed_receives_deadlock() {
    let (text, mermaid) = violation(
        &[
            local("A", vec![recv("B", "X"), send("B", "Y")]),
            local("B", vec![recv("A", "Y"), send("A", "X")]),
        ],
        ViolationKind::Deadlock,
    );
    insta::assert_snapshot!("deadlock_text", text);
    insta::assert_snapshot!("deadlock_mermaid", mermaid);
}

#[test]
fn dropped_par_continuation_leaves_an_orphan() {
    // What a projection that forgets the statement after a `par` produces.
    let (text, mermaid) = violation(
        &[
            local(
                "A",
                vec![
                    par(vec![vec![send("B", "X")], vec![send("C", "Y")]]),
                    send("B", "Z"),
                ],
            ),
            local("B", vec![recv("A", "X")]),
            local("C", vec![recv("A", "Y")]),
        ],
        ViolationKind::OrphanMessage,
    );
    insta::assert_snapshot!("orphan_text", text);
    insta::assert_snapshot!("orphan_mermaid", mermaid);
}

#[test]
fn uninformed_third_party_receives_unexpectedly() {
    // C assumes branch Left although A may choose Right.
    let (text, mermaid) = violation(
        &[
            local(
                "A",
                vec![select(vec![
                    ("Left", vec![send("B", "L"), send("C", "Go")]),
                    ("Right", vec![send("B", "R"), send("C", "Stop")]),
                ])],
            ),
            local("B", vec![branch("A", vec![("L", vec![]), ("R", vec![])])]),
            local("C", vec![recv("A", "Go")]),
        ],
        ViolationKind::UnexpectedReception,
    );
    insta::assert_snapshot!("unexpected_text", text);
    insta::assert_snapshot!("unexpected_mermaid", mermaid);
}

#[test]
fn handler_that_starts_by_receiving_deadlocks() {
    // B gives up waiting and expects A's Cancel, but A had already finished
    // its body (its Req is dropped as late) and now waits for B's Done.
    let (text, mermaid) = violation(
        &[
            local(
                "A",
                vec![
                    timeout(7, vec![send("B", "Req")], vec![send("B", "Cancel")]),
                    recv("B", "Done"),
                ],
            ),
            local(
                "B",
                vec![
                    timeout(7, vec![recv("A", "Req")], vec![recv("A", "Cancel")]),
                    send("A", "Done"),
                ],
            ),
        ],
        ViolationKind::Deadlock,
    );
    insta::assert_snapshot!("timeout_deadlock_text", text);
    insta::assert_snapshot!("timeout_deadlock_mermaid", mermaid);
}

#[test]
fn gather_without_quorum_waits_for_a_member_that_never_sends() {
    let report = verify_system(
        &[
            local("C", vec![recv_all("W", "Resp", None)]),
            local("W[0]", vec![send("C", "Resp")]),
            local("W[1]", vec![]),
        ],
        &VerifyOptions::default(),
    );
    assert_eq!(report.violation().unwrap().kind, ViolationKind::Deadlock);
}

#[test]
fn quorum_one_of_two_is_safe_where_a_full_gather_is_not() {
    let system = |quorum| {
        [
            local("C", vec![recv_all("W", "Resp", quorum)]),
            local("W[0]", vec![send("C", "Resp")]),
            local("W[1]", vec![]),
        ]
    };
    let ok = verify_system(&system(Some(Size::Literal(1))), &VerifyOptions::default());
    assert!(ok.is_safe(), "{}", ok.render_text());
}

#[test]
fn state_cap_gives_a_partial_verdict() {
    let report = verify_system(
        &[local(
            "W[*]",
            vec![exchange("W", "A", None), exchange("W", "B", None)],
        )],
        &VerifyOptions {
            max_states: 5,
            family_sizes: vec![3],
            ..VerifyOptions::default()
        },
    );
    assert!(
        matches!(report.verdict, choreo_lang::verify::Verdict::Partial { .. }),
        "{}",
        report.render_text()
    );
}

#[test]
fn counterexamples_are_shortest() {
    // The deadlock is reachable after one step (A sends X), or later via a
    // longer prefix; BFS reports the short one.
    let report = verify_system(
        &[
            local("A", vec![send("B", "X"), recv("B", "Never")]),
            local("B", vec![recv("A", "X")]),
        ],
        &VerifyOptions::default(),
    );
    let v = report.violation().unwrap();
    assert_eq!(v.kind, ViolationKind::Deadlock);
    assert_eq!(v.trace.len(), 2, "{}", report.render_text());
}
