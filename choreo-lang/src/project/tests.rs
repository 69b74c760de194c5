//! Unit tests of projection on hand-built global protocols.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::diagnostic::Severity;
use crate::global::{
    Annotation, CheckedProgram, GBranch, GMessage, GStmt, GlobalProtocol, Label, Loc, Participant,
    Payload, RoleInfo, RustType, Size,
};
use crate::local::{LocalProtocol, Peer};
use crate::span::{FileId, Span};

static NEXT: AtomicU32 = AtomicU32::new(10);

/// A fresh location, distinct from every other one.
fn loc() -> Loc {
    let start = NEXT.fetch_add(10, Ordering::Relaxed);
    Loc {
        file: FileId(0),
        span: Span {
            start,
            end: start + 5,
        },
    }
}

fn r(name: &str) -> Participant {
    Participant::Role(name.into())
}
fn m(name: &str, i: u64) -> Participant {
    Participant::Member(name.into(), i)
}
fn all(name: &str) -> Participant {
    Participant::All(name.into())
}
fn payload(ty: &str) -> Payload {
    match ty {
        "()" => Payload::unit(),
        "Vec<u8>" => Payload::of(RustType::generic(
            "Vec",
            vec![RustType::named("u8", Loc::default())],
            Loc::default(),
        )),
        name => Payload::of(RustType::named(name, Loc::default())),
    }
}

/// `from -> to : label(ty);` (`ty` = "()" for none).
fn msg(from: Participant, to: Participant, label: &str, ty: &str) -> GStmt {
    GStmt::Message(GMessage {
        from,
        to,
        label: Label {
            name: label.into(),
            namespace: "P".into(),
        },
        payload: payload(ty),
        quorum: None,
        annotations: Vec::new(),
        loc: loc(),
    })
}
fn quorum(stmt: GStmt, q: Size) -> GStmt {
    match stmt {
        GStmt::Message(mut m) => {
            m.quorum = Some(q);
            GStmt::Message(m)
        }
        other => other,
    }
}
fn choice(chooser: Participant, branches: Vec<(&str, Vec<GStmt>)>) -> GStmt {
    GStmt::Choice {
        chooser,
        branches: branches
            .into_iter()
            .map(|(name, body)| GBranch {
                name: name.into(),
                body,
                loc: loc(),
            })
            .collect(),
        loc: loc(),
    }
}
fn rec(name: &str, body: Vec<GStmt>) -> GStmt {
    GStmt::Rec {
        name: name.into(),
        body,
        loc: loc(),
    }
}
fn cont(name: &str) -> GStmt {
    GStmt::Continue {
        name: name.into(),
        loc: loc(),
    }
}
fn par(branches: Vec<Vec<GStmt>>) -> GStmt {
    GStmt::Par {
        branches,
        loc: loc(),
    }
}
fn link(protocol: &str, roles: Vec<Participant>, args: &str) -> GStmt {
    GStmt::Link {
        module: "m".into(),
        protocol: protocol.into(),
        roles,
        params: Vec::new(),
        args_text: args.into(),
        loc: loc(),
    }
}
fn delegate(from: Participant, to: Participant) -> GStmt {
    GStmt::Delegate {
        from,
        to,
        loc: loc(),
    }
}
fn timeout(text: &str, millis: u64, body: Vec<GStmt>, handler: Vec<GStmt>) -> GStmt {
    GStmt::Timeout {
        millis,
        text: text.into(),
        body,
        handler,
        loc: loc(),
    }
}

fn proto(
    name: &str,
    params: &[&str],
    roles: &[(&str, Option<Size>)],
    mut body: Vec<GStmt>,
) -> GlobalProtocol {
    own_labels(&mut body, name);
    GlobalProtocol {
        module: "m".into(),
        name: name.into(),
        docs: Vec::new(),
        params: params.iter().map(|p| p.to_string()).collect(),
        roles: roles
            .iter()
            .map(|(n, f)| RoleInfo {
                name: (*n).into(),
                family: f.clone(),
                loc: loc(),
            })
            .collect(),
        body,
        loc: loc(),
    }
}

/// Labels belong to the protocol being built (as the checker resolves them).
fn own_labels(block: &mut [GStmt], name: &str) {
    for stmt in block {
        match stmt {
            GStmt::Message(m) => m.label.namespace = name.into(),
            GStmt::Choice { branches, .. } => branches
                .iter_mut()
                .for_each(|b| own_labels(&mut b.body, name)),
            GStmt::Rec { body, .. } => own_labels(body, name),
            GStmt::Par { branches, .. } => branches.iter_mut().for_each(|b| own_labels(b, name)),
            GStmt::Timeout { body, handler, .. } => {
                own_labels(body, name);
                own_labels(handler, name);
            }
            GStmt::Continue { .. } | GStmt::Link { .. } | GStmt::Delegate { .. } => {}
        }
    }
}

fn singles(names: &[&'static str]) -> Vec<(&'static str, Option<Size>)> {
    names.iter().map(|n| (*n, None)).collect()
}

fn project(p: &GlobalProtocol) -> Result<Vec<LocalProtocol>, Vec<Diagnostic>> {
    project_protocol(&CheckedProgram::default(), p)
}

/// The printed local type of `target` (Display form: `A`, `W`, `W[0]`).
fn local_of(p: &GlobalProtocol, target: &str) -> String {
    let locals = project(p).unwrap_or_else(|d| panic!("projection failed: {d:#?}"));
    let found = locals
        .iter()
        .find(|l| l.target.to_string() == target)
        .unwrap_or_else(|| panic!("no local for {target}"));
    print_local(found)
}

fn errors(p: &GlobalProtocol) -> Vec<Diagnostic> {
    match project(p) {
        Ok(locals) => panic!(
            "expected errors, got:\n{}",
            locals.iter().map(print_local).collect::<String>()
        ),
        Err(d) => d,
    }
}

fn single_error(p: &GlobalProtocol, code: &str) -> Diagnostic {
    let errs = errors(p);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let d = errs.into_iter().next().unwrap();
    assert_eq!(d.code, code, "{d:#?}");
    assert_eq!(d.severity, Severity::Error);
    d
}

fn stmt_loc(s: &GStmt) -> Loc {
    s.loc()
}

fn consensus() -> GlobalProtocol {
    proto(
        "Consensus",
        &["n", "t"],
        &[
            ("Initiator", None),
            ("Witness", Some(Size::Param("n".into()))),
        ],
        vec![timeout(
            "2s",
            2000,
            vec![
                msg(r("Initiator"), all("Witness"), "Execute", "Proposal"),
                quorum(
                    msg(all("Witness"), r("Initiator"), "Share", "SignShare"),
                    Size::Param("t".into()),
                ),
                choice(
                    r("Initiator"),
                    vec![
                        (
                            "Commit",
                            vec![msg(r("Initiator"), all("Witness"), "Commit", "CommitFact")],
                        ),
                        (
                            "Abort",
                            vec![msg(r("Initiator"), all("Witness"), "Abort", "Reason")],
                        ),
                    ],
                ),
            ],
            vec![link("ConsensusFallback", vec![all("Witness")], "Witness")],
        )],
    )
}

#[test]
fn witness_example_of_the_reference_prints_byte_exact() {
    let expected = "\
local Witness in Consensus(n, t) {
  timeout 2s {
    recv Initiator Execute(Proposal);
    send Initiator Share(SignShare);
    branch Initiator {
      Commit(CommitFact) => { end; }
      Abort(Reason) => { end; }
    }
  } else {
    link ConsensusFallback(Witness);
  }
}
";
    assert_eq!(local_of(&consensus(), "Witness"), expected);
}

#[test]
fn chooser_selects_and_collectives_project_to_send_all_and_recv_all() {
    let expected = "\
local Initiator in Consensus(n, t) {
  timeout 2s {
    send all Witness Execute(Proposal);
    recv all Witness Share(SignShare) quorum t;
    select {
      Commit => {
        send all Witness Commit(CommitFact);
      }
      Abort => {
        send all Witness Abort(Reason);
      }
    }
  } else { end; }
}
";
    assert_eq!(local_of(&consensus(), "Initiator"), expected);
}

#[test]
fn header_omits_empty_parameter_list_and_empty_body_prints_end() {
    let p = proto(
        "Solo",
        &[],
        &singles(&["A", "B", "C"]),
        vec![msg(r("A"), r("B"), "Ping", "()")],
    );
    assert_eq!(local_of(&p, "A"), "local A in Solo {\n  send B Ping;\n}\n");
    assert_eq!(local_of(&p, "C"), "local C in Solo {\n  end;\n}\n");
}

#[test]
fn merge_rejects_uninformed_third_party() {
    let x = msg(r("C"), r("B"), "X", "u8");
    let x_loc = stmt_loc(&x);
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![choice(
            r("A"),
            vec![
                ("Left", vec![msg(r("A"), r("B"), "L", "()"), x]),
                ("Right", vec![msg(r("A"), r("B"), "R", "()")]),
            ],
        )],
    );
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert_eq!(
        d.message,
        "role `C` cannot tell branch `Left` from branch `Right` of the choice at `A`"
    );
    // One place is where C sends in Left, the other is branch Right where it does nothing.
    let places: Vec<Span> = std::iter::once(d.primary.span)
        .chain(d.secondary.iter().map(|l| l.span))
        .collect();
    assert!(places.contains(&x_loc.span), "{d:#?}");
    assert!(d.secondary.len() == 1);
    assert!(d.primary.message.contains("Right") && d.primary.message.contains("nothing more"));
    assert!(d.secondary[0].message.contains("`send B X(u8)`"), "{d:#?}");
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "add `A -> C : Left;` at the start of branch `Left` and `A -> C : Right;` \
             at the start of branch `Right` so `C` learns the choice"
        )
    );
}

#[test]
/// C does nothing in `Left` and hears from B in `Right`: a message from A
/// in `Left` alone would leave C waiting on A in one branch and on B in the
/// other, so the hint informs C in both branches.
fn knowledge_of_choice_hint_names_a_fix_that_merges() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![choice(
            r("A"),
            vec![
                ("Left", vec![msg(r("A"), r("B"), "L", "()")]),
                (
                    "Right",
                    vec![
                        msg(r("A"), r("B"), "R", "()"),
                        msg(r("B"), r("C"), "X", "()"),
                    ],
                ),
            ],
        )],
    );
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "add `A -> C : Left;` at the start of branch `Left` and `A -> C : Right;` \
             at the start of branch `Right` so `C` learns the choice"
        )
    );
}

#[test]
fn merge_accepts_third_party_informed_in_both_branches_by_different_labels() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![choice(
            r("A"),
            vec![
                (
                    "Left",
                    vec![
                        msg(r("A"), r("B"), "L", "()"),
                        msg(r("B"), r("C"), "X", "u8"),
                        msg(r("C"), r("B"), "Ok", "()"),
                    ],
                ),
                (
                    "Right",
                    vec![
                        msg(r("A"), r("B"), "R", "()"),
                        msg(r("B"), r("C"), "Y", "()"),
                        msg(r("C"), r("A"), "Done", "()"),
                    ],
                ),
            ],
        )],
    );
    let expected = "\
local C in P {
  branch B {
    X(u8) => {
      send B Ok;
    }
    Y => {
      send A Done;
    }
  }
}
";
    assert_eq!(local_of(&p, "C"), expected);
}

#[test]
fn merge_keeps_common_tail_after_the_branch() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "C"]),
        vec![
            choice(
                r("A"),
                vec![
                    (
                        "Left",
                        vec![
                            msg(r("A"), r("C"), "L", "()"),
                            msg(r("C"), r("A"), "Ack", "()"),
                        ],
                    ),
                    (
                        "Right",
                        vec![
                            msg(r("A"), r("C"), "R", "()"),
                            msg(r("C"), r("A"), "Ack", "()"),
                        ],
                    ),
                ],
            ),
            msg(r("A"), r("C"), "Bye", "()"),
        ],
    );
    let expected = "\
local C in P {
  branch A {
    L => { end; }
    R => { end; }
  }
  send A Ack;
  recv A Bye;
}
";
    assert_eq!(local_of(&p, "C"), expected);
}

#[test]
fn identical_behaviour_in_every_branch_merges_without_knowing_the_choice() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C", "D"]),
        vec![choice(
            r("A"),
            vec![
                (
                    "Left",
                    vec![
                        msg(r("A"), r("C"), "L", "()"),
                        msg(r("B"), r("D"), "X", "u8"),
                    ],
                ),
                (
                    "Right",
                    vec![
                        msg(r("A"), r("C"), "R", "()"),
                        msg(r("B"), r("D"), "X", "u8"),
                    ],
                ),
            ],
        )],
    );
    assert_eq!(local_of(&p, "B"), "local B in P {\n  send D X(u8);\n}\n");
    assert_eq!(local_of(&p, "D"), "local D in P {\n  recv B X(u8);\n}\n");
}

#[test]
fn merge_rejects_same_label_with_different_payloads() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![choice(
            r("A"),
            vec![
                (
                    "Left",
                    vec![
                        msg(r("A"), r("B"), "L", "()"),
                        msg(r("B"), r("C"), "X", "u8"),
                    ],
                ),
                (
                    "Right",
                    vec![
                        msg(r("A"), r("B"), "R", "()"),
                        msg(r("B"), r("C"), "X", "u16"),
                    ],
                ),
            ],
        )],
    );
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert!(d.message.contains("role `C`"));
}

#[test]
fn merge_rejects_sends_with_different_labels() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![choice(
            r("A"),
            vec![
                (
                    "Left",
                    vec![
                        msg(r("A"), r("B"), "L", "()"),
                        msg(r("C"), r("B"), "X", "()"),
                    ],
                ),
                (
                    "Right",
                    vec![
                        msg(r("A"), r("B"), "R", "()"),
                        msg(r("C"), r("B"), "Y", "()"),
                    ],
                ),
            ],
        )],
    );
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert!(d.primary.message.contains("`send B Y`"), "{d:#?}");
    assert!(d.secondary[0].message.contains("`send B X`"), "{d:#?}");
}

#[test]
fn chooser_must_start_every_branch_by_sending() {
    let first = msg(r("B"), r("A"), "X", "()");
    let first_loc = stmt_loc(&first);
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B"]),
        vec![choice(
            r("A"),
            vec![
                ("Left", vec![first]),
                ("Right", vec![msg(r("A"), r("B"), "R", "()")]),
            ],
        )],
    );
    let errs = errors(&p);
    let d = errs
        .iter()
        .find(|d| d.code == codes::CHOOSER_NOT_SENDING)
        .unwrap();
    assert_eq!(
        d.message,
        "the chooser `A` does not start branch `Left` by sending"
    );
    assert_eq!(d.primary.span, first_loc.span);
    assert!(d.hint.as_deref().unwrap().contains("`A -> B : Left;`"));
}

#[test]
fn chooser_may_start_with_a_sending_rec_but_rec_never_merges_with_a_recv() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B"]),
        vec![choice(
            r("A"),
            vec![
                (
                    "Loop",
                    vec![rec(
                        "X",
                        vec![
                            msg(r("A"), r("B"), "Tick", "()"),
                            choice(
                                r("A"),
                                vec![
                                    ("More", vec![msg(r("A"), r("B"), "More", "()"), cont("X")]),
                                    ("Stop", vec![msg(r("A"), r("B"), "Stop", "()")]),
                                ],
                            ),
                        ],
                    )],
                ),
                ("Skip", vec![msg(r("A"), r("B"), "Skip", "()")]),
            ],
        )],
    );
    // A's `rec` starts by sending, so the chooser check passes (the only
    // error is B's); B's `rec` would have to merge with `recv A Skip`,
    // and a rec only merges with a rec (no unfolding).
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert!(d.message.contains("role `B`"));
}

#[test]
fn rec_is_dropped_for_a_role_that_takes_no_part_in_it() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![
            rec(
                "Loop",
                vec![
                    msg(r("A"), r("B"), "Ping", "()"),
                    choice(
                        r("A"),
                        vec![
                            (
                                "More",
                                vec![msg(r("A"), r("B"), "More", "()"), cont("Loop")],
                            ),
                            ("Stop", vec![msg(r("A"), r("B"), "Stop", "()")]),
                        ],
                    ),
                ],
            ),
            msg(r("A"), r("C"), "Done", "u64"),
        ],
    );
    assert_eq!(
        local_of(&p, "C"),
        "local C in P {\n  recv A Done(u64);\n}\n"
    );
    let expected_b = "\
local B in P {
  rec Loop {
    recv A Ping;
    branch A {
      More => {
        continue Loop;
      }
      Stop => { end; }
    }
  }
}
";
    assert_eq!(local_of(&p, "B"), expected_b);
    let expected_a = "\
local A in P {
  rec Loop {
    send B Ping;
    select {
      More => {
        send B More;
        continue Loop;
      }
      Stop => {
        send B Stop;
      }
    }
  }
  send C Done(u64);
}
";
    assert_eq!(local_of(&p, "A"), expected_a);
}

#[test]
fn continue_to_an_outer_rec_stays_when_the_inner_rec_is_dropped() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![rec(
            "Outer",
            vec![
                msg(r("A"), r("B"), "X", "()"),
                choice(
                    r("A"),
                    vec![
                        (
                            "Again",
                            vec![
                                msg(r("A"), r("B"), "Again", "()"),
                                msg(r("A"), r("C"), "Go", "()"),
                                rec("Inner", vec![msg(r("A"), r("C"), "Y", "()"), cont("Outer")]),
                            ],
                        ),
                        (
                            "Stop",
                            vec![
                                msg(r("A"), r("B"), "Stop", "()"),
                                msg(r("A"), r("C"), "Stop", "()"),
                            ],
                        ),
                    ],
                ),
            ],
        )],
    );
    let expected = "\
local B in P {
  rec Outer {
    recv A X;
    branch A {
      Again => {
        continue Outer;
      }
      Stop => { end; }
    }
  }
}
";
    assert_eq!(local_of(&p, "B"), expected);
    let expected_c = "\
local C in P {
  rec Outer {
    branch A {
      Go => {
        rec Inner {
          recv A Y;
          continue Outer;
        }
      }
      Stop => { end; }
    }
  }
}
";
    assert_eq!(local_of(&p, "C"), expected_c);
}

#[test]
fn continue_merges_only_with_continue() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![rec(
            "X",
            vec![
                msg(r("A"), r("C"), "Item", "()"),
                choice(
                    r("A"),
                    vec![
                        ("Again", vec![msg(r("A"), r("B"), "Again", "()"), cont("X")]),
                        ("Stop", vec![msg(r("A"), r("B"), "Stop", "()")]),
                    ],
                ),
            ],
        )],
    );
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert!(d.message.contains("role `C`"), "{d:#?}");
    assert!(
        d.primary.message.contains("nothing more")
            || d.secondary[0].message.contains("nothing more")
    );
}

#[test]
fn par_projects_to_the_one_branch_a_role_acts_in() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C", "D"]),
        vec![par(vec![
            vec![msg(r("A"), r("B"), "X", "()")],
            vec![
                msg(r("A"), r("C"), "Y", "()"),
                msg(r("C"), r("D"), "Z", "()"),
            ],
        ])],
    );
    assert_eq!(local_of(&p, "B"), "local B in P {\n  recv A X;\n}\n");
    assert_eq!(
        local_of(&p, "C"),
        "local C in P {\n  recv A Y;\n  send D Z;\n}\n"
    );
    let expected_a = "\
local A in P {
  par {
    send B X;
  } and {
    send C Y;
  }
}
";
    assert_eq!(local_of(&p, "A"), expected_a);
}

#[test]
fn delegate_ends_the_delegator_and_the_delegate_plays_its_remaining_part() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "R", "S"]),
        vec![
            msg(r("A"), r("R"), "Hello", "()"),
            msg(r("S"), r("A"), "Ready", "()"),
            delegate(r("R"), r("S")),
            msg(r("A"), r("R"), "Work", "u32"),
            msg(r("R"), r("A"), "Result", "u64"),
        ],
    );
    assert_eq!(
        local_of(&p, "R"),
        "local R in P {\n  recv A Hello;\n  delegate to S;\n}\n"
    );
    assert_eq!(
        local_of(&p, "S"),
        "local S in P {\n  send A Ready;\n  accept from R;\n  recv A Work(u32);\n  send A Result(u64);\n}\n"
    );
    assert_eq!(
        local_of(&p, "A"),
        "local A in P {\n  send R Hello;\n  recv S Ready;\n  send R Work(u32);\n  recv R Result(u64);\n}\n"
    );
}

#[test]
fn delegate_to_a_role_that_acts_later_is_rejected() {
    let d_stmt = delegate(r("R"), r("S"));
    let d_loc = stmt_loc(&d_stmt);
    let later = msg(r("A"), r("S"), "Own", "()");
    let later_loc = stmt_loc(&later);
    let p = proto(
        "P",
        &[],
        &singles(&["A", "R", "S"]),
        vec![msg(r("A"), r("R"), "Hello", "()"), d_stmt, later],
    );
    let d = single_error(&p, codes::DELEGATE_TARGET_ACTS);
    assert_eq!(d.message, "role `S` acts after it was delegated `R`'s part");
    assert_eq!(d.primary.span, later_loc.span);
    assert_eq!(d.secondary[0].span, d_loc.span);
}

#[test]
fn delegate_in_only_one_branch_is_rejected() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "R", "S"]),
        vec![
            choice(
                r("A"),
                vec![
                    (
                        "Move",
                        vec![
                            msg(r("A"), r("R"), "Move", "()"),
                            msg(r("A"), r("S"), "Take", "()"),
                            delegate(r("R"), r("S")),
                        ],
                    ),
                    (
                        "Stay",
                        vec![
                            msg(r("A"), r("R"), "Stay", "()"),
                            msg(r("A"), r("S"), "Idle", "()"),
                        ],
                    ),
                ],
            ),
            msg(r("A"), r("R"), "Work", "()"),
        ],
    );
    let errs = errors(&p);
    assert!(
        errs.iter().any(|d| d.code == codes::DELEGATE_ON_SOME_PATHS),
        "{errs:#?}"
    );
}

#[test]
fn timeout_is_kept_and_a_role_without_part_in_the_handler_ends() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![timeout(
            "500ms",
            500,
            vec![
                msg(r("A"), r("B"), "Req", "()"),
                msg(r("B"), r("C"), "Fwd", "()"),
            ],
            vec![link("Fallback", vec![r("A"), r("B")], "A, B")],
        )],
    );
    assert_eq!(
        local_of(&p, "C"),
        "local C in P {\n  timeout 500ms {\n    recv B Fwd;\n  } else { end; }\n}\n"
    );
}

#[test]
fn handler_that_a_participant_cannot_start_by_sending_is_rejected() {
    let cancel = msg(r("A"), r("B"), "Cancel", "()");
    let cancel_loc = stmt_loc(&cancel);
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B"]),
        vec![timeout(
            "500ms",
            500,
            vec![msg(r("A"), r("B"), "Req", "()")],
            vec![cancel],
        )],
    );
    // B takes part in the handler but would have to wait for A.
    let d = single_error(&p, codes::HANDLER_NOT_SENDING);
    assert_eq!(
        d.message,
        "role `B` cannot start the timeout handler by sending"
    );
    assert_eq!(d.primary.span, cancel_loc.span);
    assert_eq!(
        d.primary.message,
        "`B` first does `recv A Cancel` in the handler"
    );
}

#[test]
fn handler_that_every_participant_starts_by_sending_is_accepted() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B"]),
        vec![timeout(
            "1s",
            1000,
            vec![
                msg(r("A"), r("B"), "Req", "()"),
                msg(r("B"), r("A"), "Resp", "()"),
            ],
            vec![link("Fallback", vec![r("A"), r("B")], "A, B")],
        )],
    );
    assert_eq!(
        local_of(&p, "B"),
        "local B in P {\n  timeout 1s {\n    recv A Req;\n    send A Resp;\n  } else {\n    link Fallback(A, B);\n  }\n}\n"
    );
}

#[test]
fn role_still_active_after_a_link_is_rejected() {
    let after = msg(r("A"), r("C"), "Late", "()");
    let after_loc = stmt_loc(&after);
    let l = link("Sub", vec![r("A"), r("B")], "A, B");
    let l_loc = stmt_loc(&l);
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![
            msg(r("A"), r("C"), "Early", "()"),
            choice(
                r("A"),
                vec![
                    ("Hand", vec![msg(r("A"), r("B"), "Hand", "()"), l]),
                    ("Keep", vec![msg(r("A"), r("B"), "Keep", "()")]),
                ],
            ),
            after,
        ],
    );
    let d = single_error(&p, codes::ACTIVE_AT_LINK);
    assert_eq!(
        d.message,
        "role `C` is still active after a `link` it is not passed to"
    );
    assert_eq!(d.primary.span, after_loc.span);
    assert_eq!(d.secondary[0].span, l_loc.span);
}

#[test]
fn family_with_parameter_size_and_named_member_gets_member_and_others_locals() {
    let p = proto(
        "Gather",
        &["n", "q"],
        &[("W", Some(Size::Param("n".into())))],
        vec![
            quorum(
                msg(all("W"), m("W", 0), "Vote", "bool"),
                Size::Param("q".into()),
            ),
            msg(m("W", 0), all("W"), "Result", "bool"),
        ],
    );
    let targets: Vec<String> = targets(&p).iter().map(ToString::to_string).collect();
    assert_eq!(targets, ["W[0]", "W"]);
    assert_eq!(
        local_of(&p, "W[0]"),
        "local W[0] in Gather(n, q) {\n  recv all W Vote(bool) quorum q;\n  send all W Result(bool);\n}\n"
    );
    assert_eq!(
        local_of(&p, "W"),
        "local W in Gather(n, q) {\n  send W[0] Vote(bool);\n  recv W[0] Result(bool);\n}\n"
    );
}

#[test]
fn family_with_literal_size_and_named_members_gets_one_local_per_member() {
    let p = proto(
        "Ring",
        &[],
        &[("N", Some(Size::Literal(3)))],
        vec![
            msg(m("N", 0), m("N", 1), "Token", "u64"),
            msg(m("N", 1), m("N", 2), "Token", "u64"),
            msg(m("N", 2), m("N", 0), "Token", "u64"),
            msg(all("N"), all("N"), "Hello", "()"),
        ],
    );
    let targets: Vec<String> = targets(&p).iter().map(ToString::to_string).collect();
    assert_eq!(targets, ["N[0]", "N[1]", "N[2]"]);
    assert_eq!(
        local_of(&p, "N[1]"),
        "local N[1] in Ring {\n  recv N[0] Token(u64);\n  send N[2] Token(u64);\n  exchange N Hello;\n}\n"
    );
}

#[test]
fn uniform_family_shares_one_local_with_exchange_and_quorum() {
    let p = proto(
        "Mesh",
        &["n", "t"],
        &[("W", Some(Size::Param("n".into())))],
        vec![quorum(
            msg(all("W"), all("W"), "Share", "Vec<u8>"),
            Size::Param("t".into()),
        )],
    );
    let locals = project(&p).unwrap();
    assert_eq!(locals.len(), 1);
    assert_eq!(locals[0].target, Target::Family("W".into()));
    assert_eq!(
        print_local(&locals[0]),
        "local W in Mesh(n, t) {\n  exchange W Share(Vec<u8>) quorum t;\n}\n"
    );
}

#[test]
fn starts_by_sending_follows_the_definition() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C"]),
        vec![rec("X", vec![msg(r("A"), r("B"), "T", "()"), cont("X")])],
    );
    let a = project(&p).unwrap().remove(0);
    assert!(starts_by_sending(&a.body), "rec whose body sends");
    let recv = vec![LocalAction::Recv {
        from: Peer::Role("B".into()),
        label: Label {
            name: "L".into(),
            namespace: "P".into(),
        },
        payload: Payload::unit(),
        loc: loc(),
    }];
    let send = vec![LocalAction::Send {
        to: Peer::Role("B".into()),
        label: Label {
            name: "L".into(),
            namespace: "P".into(),
        },
        payload: Payload::unit(),
        annotations: vec![Annotation::Cost { amount: 1 }],
        loc: loc(),
    }];
    assert!(!starts_by_sending(&recv));
    assert!(!starts_by_sending(&[]));
    let par_mixed = vec![LocalAction::Par {
        branches: vec![send.clone(), recv.clone()],
        loc: loc(),
    }];
    assert!(!starts_by_sending(&par_mixed));
    let par_all = vec![LocalAction::Par {
        branches: vec![send.clone(), send.clone()],
        loc: loc(),
    }];
    assert!(starts_by_sending(&par_all));
    let timeout_recv = vec![LocalAction::Timeout {
        millis: 1,
        text: "1ms".into(),
        body: recv,
        handler: send,
        loc: loc(),
    }];
    assert!(!starts_by_sending(&timeout_recv));
}

#[test]
fn fingerprint_ignores_locations_and_docs_but_not_labels() {
    let a = consensus();
    let mut b = consensus();
    b.docs.push("/// docs".into());
    b.loc = loc();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    // A structurally identical protocol built again (all spans differ).
    assert_eq!(fingerprint(&a), fingerprint(&consensus()));
    let mut c = consensus();
    if let GStmt::Timeout { body, .. } = &mut c.body[0] {
        if let GStmt::Message(m) = &mut body[0] {
            m.label.name = "Run".into();
        }
    }
    assert_ne!(fingerprint(&a), fingerprint(&c));
}

#[test]
fn global_canonical_text_is_stable() {
    let expected = "\
protocol Consensus(n, t) {
  roles Initiator, Witness[n];
  timeout 2000ms {
    Initiator -> Witness[*] : Execute(Proposal);
    Witness[*] -> Initiator : Share(SignShare) quorum t;
    choice at Initiator {
      Commit => {
        Initiator -> Witness[*] : Commit(CommitFact);
      }
      Abort => {
        Initiator -> Witness[*] : Abort(Reason);
      }
    }
  } else {
    link m.ConsensusFallback(Witness[*]);
  }
}
";
    assert_eq!(print_global(&consensus()), expected);
}

/// Runs `f` on a thread with the default main-thread stack (8 MiB).
fn on_main_sized_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn ten_thousand_messages_project_and_print_on_the_main_stack() {
    on_main_sized_stack(|| {
        let body: Vec<GStmt> = (0..10_000)
            .map(|i| {
                if i % 2 == 0 {
                    msg(r("A"), r("B"), "Ping", "u64")
                } else {
                    msg(r("B"), r("A"), "Pong", "u64")
                }
            })
            .collect();
        let p = proto("Long", &[], &singles(&["A", "B"]), body);
        let locals = project(&p).unwrap();
        let text = print_local(&locals[1]);
        assert_eq!(text.lines().count(), 10_002);
        assert_eq!(print_global(&p).lines().count(), 10_003);
    });
}

#[test]
fn choices_nested_two_hundred_deep_project_and_print_on_the_main_stack() {
    on_main_sized_stack(|| {
        let mut inner = vec![
            msg(r("A"), r("B"), "Last", "()"),
            msg(r("B"), r("C"), "Tell", "()"),
        ];
        for depth in 0..200 {
            inner = vec![choice(
                r("A"),
                vec![
                    ("Deeper", {
                        let mut b = vec![msg(r("A"), r("B"), "Deeper", "()")];
                        b.extend(inner);
                        b
                    }),
                    (
                        "Stop",
                        vec![
                            msg(r("A"), r("B"), &format!("Stop{depth}"), "()"),
                            msg(r("B"), r("C"), "Tell", "()"),
                        ],
                    ),
                ],
            )];
        }
        let p = proto("Deep", &[], &singles(&["A", "B", "C"]), inner);
        let locals = project(&p).unwrap();
        let b = print_local(&locals[1]);
        assert!(b.contains("Stop199"));
        // C is told the same thing on every path: one recv.
        assert_eq!(
            print_local(&locals[2]),
            "local C in Deep {\n  recv B Tell;\n}\n"
        );
        let _ = crate::project::print::print_global(&p);
    });
}

#[test]
fn nested_choices_whose_merge_doubles_at_every_level_stop_at_the_budget() {
    on_main_sized_stack(|| {
        // C's projection of each level: `branch A { X => <next>, Y => <next>, R => … }`,
        // twice the size of the next level: 2^40 actions without a budget.
        let mut next: Vec<GStmt> = vec![msg(r("A"), r("C"), "End", "()")];
        for level in 0..40 {
            let flavour = choice(
                r("A"),
                vec![
                    ("X", vec![msg(r("A"), r("C"), "X", "()")]),
                    ("Y", vec![msg(r("A"), r("C"), "Y", "()")]),
                ],
            );
            let mut left = vec![flavour];
            left.extend(next);
            next = vec![choice(
                r("A"),
                vec![
                    ("L", left),
                    ("R", vec![msg(r("A"), r("C"), &format!("R{level}"), "()")]),
                ],
            )];
        }
        let p = proto("Blowup", &[], &singles(&["A", "C"]), next);
        let started = std::time::Instant::now();
        let errs = errors(&p);
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].code, codes::PROJECTION_TOO_LARGE);
        assert!(errs[0]
            .message
            .starts_with("the projection onto `C` grows too large"));
    });
}

#[test]
fn a_few_levels_of_diverging_continuations_still_project() {
    let mut next: Vec<GStmt> = vec![msg(r("A"), r("C"), "End", "()")];
    for level in 0..3 {
        let flavour = choice(
            r("A"),
            vec![
                ("X", vec![msg(r("A"), r("C"), "X", "()")]),
                ("Y", vec![msg(r("A"), r("C"), "Y", "()")]),
            ],
        );
        let mut left = vec![flavour];
        left.extend(next);
        next = vec![choice(
            r("A"),
            vec![
                ("L", left),
                ("R", vec![msg(r("A"), r("C"), &format!("R{level}"), "()")]),
            ],
        )];
    }
    let p = proto("Small", &[], &singles(&["A", "C"]), next);
    let c = local_of(&p, "C");
    // Each level copies the rest into both arms: 2^3 copies of `End`.
    assert_eq!(c.matches("recv A End;").count(), 8, "{c}");
}

#[test]
fn delegate_on_the_way_out_of_a_loop_is_accepted() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "R", "S"]),
        vec![
            rec(
                "X",
                vec![
                    msg(r("A"), r("R"), "Tick", "()"),
                    choice(
                        r("A"),
                        vec![
                            (
                                "More",
                                vec![
                                    msg(r("A"), r("R"), "More", "()"),
                                    msg(r("A"), r("S"), "Wait", "()"),
                                    cont("X"),
                                ],
                            ),
                            (
                                "Move",
                                vec![
                                    msg(r("A"), r("R"), "Move", "()"),
                                    msg(r("A"), r("S"), "Take", "()"),
                                    delegate(r("R"), r("S")),
                                ],
                            ),
                        ],
                    ),
                ],
            ),
            msg(r("A"), r("R"), "Work", "()"),
        ],
    );
    let expected_s = "\
local S in P {
  rec X {
    branch A {
      Wait => {
        continue X;
      }
      Take => {
        accept from R;
      }
    }
  }
  recv A Work;
}
";
    assert_eq!(local_of(&p, "S"), expected_s);
    let expected_r = "\
local R in P {
  rec X {
    recv A Tick;
    branch A {
      More => {
        continue X;
      }
      Move => {
        delegate to S;
      }
    }
  }
}
";
    assert_eq!(local_of(&p, "R"), expected_r);
}

#[test]
fn delegate_before_a_continue_is_rejected() {
    let p = proto(
        "P",
        &[],
        &singles(&["A", "R", "S"]),
        vec![rec(
            "X",
            vec![
                msg(r("A"), r("R"), "Tick", "()"),
                msg(r("A"), r("S"), "Tock", "()"),
                delegate(r("R"), r("S")),
                cont("X"),
            ],
        )],
    );
    let errs = errors(&p);
    assert!(
        errs.iter().any(|d| d.code == codes::DELEGATE_ON_SOME_PATHS
            && d.message.contains("iterations of `rec X`")),
        "{errs:#?}"
    );
}

#[test]
fn sends_that_differ_only_in_annotations_do_not_merge() {
    let annotated = |amount: u64| match msg(r("C"), r("D"), "X", "()") {
        GStmt::Message(mut m) => {
            m.annotations.push(Annotation::Cost { amount });
            GStmt::Message(m)
        }
        other => other,
    };
    let p = proto(
        "P",
        &[],
        &singles(&["A", "B", "C", "D"]),
        vec![choice(
            r("A"),
            vec![
                ("Cheap", vec![msg(r("A"), r("B"), "L", "()"), annotated(1)]),
                ("Dear", vec![msg(r("A"), r("B"), "R", "()"), annotated(9)]),
            ],
        )],
    );
    let d = single_error(&p, codes::KNOWLEDGE_OF_CHOICE);
    assert!(d.message.contains("role `C`"));
    assert_eq!(
        d.primary.message,
        "in branch `Dear`, `C` does `send D X` with other annotations"
    );
}

#[test]
fn every_projection_code_is_explained() {
    for code in [
        codes::KNOWLEDGE_OF_CHOICE,
        codes::CHOOSER_NOT_SENDING,
        codes::HANDLER_NOT_SENDING,
        codes::ACTIVE_AT_LINK,
        codes::DELEGATE_TARGET_ACTS,
        codes::DELEGATE_ON_SOME_PATHS,
        codes::PROJECTION_TOO_LARGE,
    ] {
        assert!(code.starts_with("E04"), "{code}");
        let text = codes::EXPLANATIONS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("", |(_, t)| t);
        assert!(text.len() > 80, "{code} has no explanation");
    }
}

mod index {
    //! The statement index (which lets a target skip messages it takes no
    //! part in) must not change any projection or diagnostic.
    use super::*;
    use proptest::prelude::*;

    fn who() -> impl Strategy<Value = Participant> {
        prop_oneof![
            Just(r("A")),
            Just(r("B")),
            Just(r("C")),
            Just(all("W")),
            (0u64..3).prop_map(|i| m("W", i)),
        ]
    }

    fn message() -> impl Strategy<Value = GStmt> {
        (who(), who(), 0usize..3).prop_map(|(from, to, l)| msg(from, to, ["X", "Y", "Z"][l], "()"))
    }

    fn stmt() -> impl Strategy<Value = GStmt> {
        prop_oneof![
            8 => message(),
            1 => (prop::collection::vec(message(), 0..3), prop::collection::vec(message(), 0..3))
                .prop_map(|(left, right)| choice(r("A"), vec![("L", left), ("R", right)])),
            1 => prop::collection::vec(who(), 0..2).prop_map(|roles| link("Sub", roles, "A")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn indexed_walk_projects_exactly_like_the_plain_walk(
            body in prop::collection::vec(stmt(), 30..90),
            literal in any::<bool>(),
        ) {
            let size = if literal { Size::Literal(3) } else { Size::Param("n".into()) };
            let p = proto("P", &["n"], &[("A", None), ("B", None), ("C", None), ("W", Some(size))], body);
            let indexed = project_with(&p, interp::Shared::new(&p));
            let plain = project_with(&p, interp::Shared::unindexed());
            prop_assert_eq!(indexed, plain);
        }
    }
}

#[test]
fn owned_merge_builds_what_the_borrowed_merge_builds_with_the_predicted_size() {
    use crate::local::{LocalAction, LocalBlock};
    use merge::{block_size, merge_growth, merge_owned};
    let label = |name: &str| Label {
        name: name.into(),
        namespace: "P".into(),
    };
    let recv = |name: &str| LocalAction::Recv {
        from: Peer::Role("A".into()),
        label: label(name),
        payload: payload("()"),
        loc: loc(),
    };
    let send = |name: &str| LocalAction::Send {
        to: Peer::Role("B".into()),
        label: label(name),
        payload: payload("()"),
        annotations: Vec::new(),
        loc: loc(),
    };
    let rec = |body: LocalBlock| LocalAction::Rec {
        name: "X".into(),
        body,
        loc: loc(),
    };
    // Merges that keep a common tail, copy differing tails into every arm
    // of an earlier merge, merge same-label arms, and merge loop bodies.
    let ab = merge(&[recv("L"), send("T")], &[recv("R"), send("U")]).unwrap();
    let cases: Vec<(LocalBlock, LocalBlock)> = vec![
        (vec![recv("L"), send("T")], vec![recv("R"), send("T")]),
        (ab.clone(), vec![recv("M"), send("V"), send("W")]),
        (
            vec![send("S"), ab[0].clone(), send("T")],
            vec![send("S"), recv("L"), send("T"), send("T")],
        ),
        (vec![rec(ab.clone())], vec![rec(vec![recv("M")])]),
        (vec![recv("L")], vec![recv("L"), send("T")]),
        (vec![send("S")], vec![send("T")]),
    ];
    let mut merged = 0;
    for (a, b) in cases {
        let borrowed = merge(&a, &b);
        let growth = merge_growth(&a, &b);
        assert_eq!(growth.is_some(), borrowed.is_ok(), "{a:?}\n{b:?}");
        if let (Ok(borrowed), Some(growth)) = (borrowed, growth) {
            let size = block_size(&a) + block_size(&b) + growth.added - growth.removed;
            assert_eq!(size, block_size(&borrowed));
            assert_eq!(merge_owned(a, b), borrowed);
            merged += 1;
        }
    }
    assert_eq!(merged, 4);
}
