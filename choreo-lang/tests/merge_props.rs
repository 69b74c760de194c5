#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Laws of the full merge (the language contract §5) and robustness of projection.
//!
//! - idempotence: `merge(a, a) == a`, exactly (locations included);
//! - commutativity *up to arm order and locations*: merged `branch` arms
//!   keep source order (the left operand's arms first), and equivalent
//!   actions keep the left operand's locations, so `merge(a, b)` and
//!   `merge(b, a)` are compared after erasing locations and sorting every
//!   `branch`'s arms by label;
//! - failure is symmetric: `merge(a, b)` fails exactly when `merge(b, a)` does;
//! - projecting (and printing, fingerprinting, drawing) random global
//!   protocols never panics, whether or not they are well formed.

use choreo_lang::global::{
    CheckedProgram, GBranch, GMessage, GStmt, GlobalProtocol, Label, Loc, Participant, Payload,
    RoleInfo, RustType, Size,
};
use choreo_lang::local::{Arm, LocalAction, LocalBlock, LocalProtocol, Peer, Target};
use choreo_lang::project::{fingerprint, merge, print_global, print_local, project_protocol};
use choreo_lang::span::{FileId, Span};
use proptest::prelude::*;

fn loc_strategy() -> impl Strategy<Value = Loc> {
    (0u32..1000).prop_map(|s| Loc {
        file: FileId(0),
        span: Span {
            start: s,
            end: s + 1,
        },
    })
}

fn label(name: &str) -> Label {
    Label {
        name: name.into(),
        namespace: "P".into(),
    }
}

fn payload(ty: &str) -> Payload {
    match ty {
        "()" => Payload::unit(),
        name => Payload::of(RustType::named(name, Loc::default())),
    }
}

const LABELS: [&str; 3] = ["L1", "L2", "L3"];

fn leaf() -> impl Strategy<Value = LocalAction> {
    let peer = prop_oneof![Just("A"), Just("B")].prop_map(|p| Peer::Role(p.into()));
    let lab = (0usize..3).prop_map(|i| label(LABELS[i]));
    let ty = prop_oneof![Just("()"), Just("u8")].prop_map(payload);
    prop_oneof![
        (peer.clone(), lab.clone(), ty.clone(), loc_strategy()).prop_map(
            |(to, label, payload, loc)| LocalAction::Send {
                to,
                label,
                payload,
                annotations: Vec::new(),
                loc,
            }
        ),
        (peer, lab, ty, loc_strategy()).prop_map(|(from, label, payload, loc)| {
            LocalAction::Recv {
                from,
                label,
                payload,
                loc,
            }
        }),
        loc_strategy().prop_map(|loc| LocalAction::Continue {
            name: "X".into(),
            loc,
        }),
    ]
}

fn action() -> impl Strategy<Value = LocalAction> {
    leaf().prop_recursive(3, 24, 3, |inner| {
        let block = prop::collection::vec(inner, 0..3);
        prop_oneof![
            (
                prop_oneof![Just("A"), Just("B")],
                prop::collection::vec((any::<bool>(), block.clone(), loc_strategy()), 1..4),
                loc_strategy()
            )
                .prop_map(|(from, arms, loc)| LocalAction::Branch {
                    from: Peer::Role(from.into()),
                    // Distinct labels within one branch, as projection produces.
                    arms: arms
                        .into_iter()
                        .enumerate()
                        .map(|(i, (unit, body, loc))| Arm {
                            label: label(LABELS[i % LABELS.len()]),
                            payload: payload(if unit { "()" } else { "u8" }),
                            body,
                            loc,
                        })
                        .collect(),
                    loc,
                }),
            (block, loc_strategy()).prop_map(|(body, loc)| LocalAction::Rec {
                name: "X".into(),
                body,
                loc,
            }),
        ]
    })
}

fn block() -> impl Strategy<Value = LocalBlock> {
    prop::collection::vec(action(), 0..4)
}

/// A variant of `block` that differs where a merge is allowed to differ
/// (received labels, arms present) and sometimes where it is not (sent
/// labels, payloads), driven by `choices`.
fn mutate(block: &LocalBlock, choices: &mut impl Iterator<Item = u8>) -> LocalBlock {
    let mut out = LocalBlock::new();
    for action in block {
        let c = choices.next().unwrap_or(9);
        let next_label = |l: &Label| {
            let i = LABELS.iter().position(|x| *x == &*l.name).unwrap_or(0);
            label(LABELS[(i + 1) % LABELS.len()])
        };
        out.push(match action.clone() {
            LocalAction::Recv {
                from,
                label: l,
                payload: p,
                loc,
            } => LocalAction::Recv {
                from,
                label: if c < 3 { next_label(&l) } else { l },
                payload: if c == 3 { payload("u8") } else { p },
                loc,
            },
            LocalAction::Send {
                to,
                label: l,
                payload,
                annotations,
                loc,
            } => LocalAction::Send {
                to,
                label: if c == 0 { next_label(&l) } else { l },
                payload,
                annotations,
                loc,
            },
            LocalAction::Branch { from, arms, loc } => {
                let mut arms: Vec<Arm> = arms
                    .into_iter()
                    .map(|a| Arm {
                        body: mutate(&a.body, choices),
                        ..a
                    })
                    .collect();
                if c < 2 && arms.len() > 1 {
                    arms.pop();
                }
                LocalAction::Branch { from, arms, loc }
            }
            LocalAction::Rec { name, body, loc } => LocalAction::Rec {
                name,
                body: mutate(&body, choices),
                loc,
            },
            other => other,
        });
        if c == 7 {
            break; // truncated: usually a conflict
        }
    }
    out
}

/// Erases locations and sorts `branch` arms by label, recursively.
fn normalize(block: &LocalBlock) -> LocalBlock {
    block.iter().map(normalize_action).collect()
}

fn normalize_action(action: &LocalAction) -> LocalAction {
    let none = Loc::default();
    match action.clone() {
        LocalAction::Send {
            to,
            label,
            payload,
            annotations,
            ..
        } => LocalAction::Send {
            to,
            label,
            payload,
            annotations,
            loc: none,
        },
        LocalAction::Recv {
            from,
            label,
            payload,
            ..
        } => LocalAction::Recv {
            from,
            label,
            payload,
            loc: none,
        },
        LocalAction::Branch { from, arms, .. } => {
            let mut arms: Vec<Arm> = arms
                .into_iter()
                .map(|a| Arm {
                    body: normalize(&a.body),
                    loc: none,
                    ..a
                })
                .collect();
            arms.sort_by(|a, b| a.label.cmp(&b.label));
            LocalAction::Branch {
                from,
                arms,
                loc: none,
            }
        }
        LocalAction::Rec { name, body, .. } => LocalAction::Rec {
            name,
            body: normalize(&body),
            loc: none,
        },
        LocalAction::Continue { name, .. } => LocalAction::Continue { name, loc: none },
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn merge_is_idempotent(a in block()) {
        prop_assert_eq!(merge(&a, &a), Ok(a.clone()));
    }

    #[test]
    fn merge_is_commutative_up_to_arm_order_and_failure_is_symmetric(a in block(), b in block()) {
        let ab = merge(&a, &b);
        let ba = merge(&b, &a);
        prop_assert_eq!(ab.is_ok(), ba.is_ok(), "ab = {:?}\nba = {:?}", ab, ba);
        if let (Ok(ab), Ok(ba)) = (ab, ba) {
            prop_assert_eq!(normalize(&ab), normalize(&ba));
        }
    }

    #[test]
    fn merge_of_variants_is_commutative_up_to_arm_order(
        a in block(),
        choices in prop::collection::vec(0u8..10, 64),
    ) {
        let b = mutate(&a, &mut choices.into_iter().cycle());
        let ab = merge(&a, &b);
        let ba = merge(&b, &a);
        prop_assert_eq!(ab.is_ok(), ba.is_ok(), "ab = {:?}\nba = {:?}", ab, ba);
        if let (Ok(ab), Ok(ba)) = (ab, ba) {
            prop_assert_eq!(normalize(&ab), normalize(&ba));
        }
    }

    #[test]
    fn blocks_differing_only_in_a_received_label_always_merge(
        prefix in block(),
        x in 0usize..3,
        y in 0usize..3,
        tail in block(),
    ) {
        // Two blocks that differ only by the label received after a common
        // prefix always merge (distinct labels) or are equal (same label).
        let recv = |i: usize| LocalAction::Recv {
            from: Peer::Role("A".into()),
            label: label(LABELS[i]),
            payload: payload("()"),
            loc: Loc::default(),
        };
        let mut a = prefix.clone();
        a.push(recv(x));
        a.extend(tail.clone());
        let mut b = prefix.clone();
        b.push(recv(y));
        b.extend(tail.clone());
        let merged = merge(&a, &b);
        prop_assert!(merged.is_ok(), "{:?}", merged);
    }
}

// ---------------------------------------------------------------------------
// Random global protocols

fn participant() -> impl Strategy<Value = Participant> {
    prop_oneof![
        Just(Participant::Role("A".into())),
        Just(Participant::Role("B".into())),
        Just(Participant::Role("C".into())),
        Just(Participant::All("W".into())),
        (0u64..3).prop_map(|i| Participant::Member("W".into(), i)),
    ]
}

fn gmessage() -> impl Strategy<Value = GStmt> {
    (
        participant(),
        participant(),
        0usize..3,
        any::<bool>(),
        prop::option::of(Just(Size::Param("q".into()))),
        loc_strategy(),
    )
        .prop_map(|(from, to, l, unit, quorum, loc)| {
            GStmt::Message(GMessage {
                from,
                to,
                label: label(LABELS[l]),
                payload: payload(if unit { "()" } else { "u8" }),
                quorum,
                annotations: Vec::new(),
                loc,
            })
        })
}

fn gleaf() -> impl Strategy<Value = GStmt> {
    prop_oneof![
        4 => gmessage(),
        1 => (prop_oneof![Just("X"), Just("Y")], loc_strategy())
            .prop_map(|(name, loc)| GStmt::Continue { name: name.into(), loc }),
        1 => (prop::collection::vec(participant(), 0..3), loc_strategy()).prop_map(|(roles, loc)| {
            GStmt::Link {
                module: "m".into(),
                protocol: "Sub".into(),
                roles,
                params: Vec::new(),
                args_text: "A".into(),
                loc,
            }
        }),
        1 => (participant(), participant(), loc_strategy())
            .prop_map(|(from, to, loc)| GStmt::Delegate { from, to, loc }),
    ]
}

fn gstmt() -> impl Strategy<Value = GStmt> {
    gleaf().prop_recursive(4, 48, 4, |inner| {
        let body = prop::collection::vec(inner, 0..4);
        prop_oneof![
            (
                participant(),
                prop::collection::vec((body.clone(), loc_strategy()), 1..4),
                loc_strategy()
            )
                .prop_map(|(chooser, branches, loc)| GStmt::Choice {
                    chooser,
                    branches: branches
                        .into_iter()
                        .enumerate()
                        .map(|(i, (body, loc))| GBranch {
                            name: format!("B{i}"),
                            body,
                            loc,
                        })
                        .collect(),
                    loc,
                }),
            (
                prop_oneof![Just("X"), Just("Y")],
                body.clone(),
                loc_strategy()
            )
                .prop_map(|(name, body, loc)| GStmt::Rec {
                    name: name.into(),
                    body,
                    loc,
                }),
            (prop::collection::vec(body.clone(), 1..3), loc_strategy())
                .prop_map(|(branches, loc)| GStmt::Par { branches, loc }),
            (body.clone(), body, loc_strategy()).prop_map(|(body, handler, loc)| {
                GStmt::Timeout {
                    millis: 10,
                    text: "10ms".into(),
                    body,
                    handler,
                    loc,
                }
            }),
        ]
    })
}

fn global() -> impl Strategy<Value = GlobalProtocol> {
    (
        prop::collection::vec(gstmt(), 0..6),
        prop_oneof![Just(Size::Literal(3)), Just(Size::Param("n".into()))],
    )
        .prop_map(|(body, size)| {
            let role = |name: &str, family: Option<Size>| RoleInfo {
                name: name.into(),
                family,
                loc: Loc::default(),
            };
            GlobalProtocol {
                module: "m".into(),
                name: "P".into(),
                docs: Vec::new(),
                params: vec!["n".into(), "q".into()],
                roles: vec![
                    role("A", None),
                    role("B", None),
                    role("C", None),
                    role("W", Some(size)),
                ],
                body,
                loc: Loc::default(),
            }
        })
}

fn every_local_is_printable(locals: &[LocalProtocol]) {
    for local in locals {
        let text = print_local(local);
        assert!(text.starts_with(&format!("local {} in P", local.target)));
        let _ = choreo_lang::graph::local_mermaid(local);
        let _ = choreo_lang::graph::local_dot(local);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn projecting_random_protocols_never_panics(p in global()) {
        let _ = print_global(&p);
        let _ = fingerprint(&p);
        let _ = choreo_lang::graph::global_mermaid(&p);
        let _ = choreo_lang::graph::global_dot(&p);
        match project_protocol(&CheckedProgram::default(), &p) {
            Ok(locals) => {
                // Every role (or member / remaining members) gets a local type.
                prop_assert!(locals.len() >= 4);
                prop_assert!(locals.iter().any(|l| l.target == Target::Role("A".into())));
                every_local_is_printable(&locals);
            }
            Err(diagnostics) => {
                prop_assert!(!diagnostics.is_empty());
                prop_assert!(diagnostics.iter().all(|d| d.code.starts_with("E04")));
            }
        }
    }
}
