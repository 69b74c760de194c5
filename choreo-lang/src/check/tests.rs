//! Unit tests of the checker: inlining and unrolling results (asserted on
//! the `GlobalProtocol`), resolution across files, "did you mean", call
//! cycles, and stack safety on long and deep input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::{check_program, ParsedFile};
use crate::diagnostic::{Diagnostic, Severity};
use crate::global::{CheckedProgram, GMessage, GStmt, GlobalProtocol, Participant, Size};
use crate::span::FileId;

/// Parses and checks several files `(default module, text)`; parse errors fail the test.
fn check_files(files: &[(&str, &str)]) -> (CheckedProgram, Vec<Diagnostic>) {
    let parsed: Vec<ParsedFile> = files
        .iter()
        .enumerate()
        .map(|(i, (module, text))| {
            let file = FileId(i as u32);
            let (ast, diags) = crate::syntax::parse_source(text, file);
            assert!(diags.is_empty(), "parse errors in test input: {diags:#?}");
            ParsedFile {
                file,
                default_module: module.to_string(),
                ast,
            }
        })
        .collect();
    check_program(&parsed)
}

fn check(text: &str) -> (CheckedProgram, Vec<Diagnostic>) {
    check_files(&[("main", text)])
}

fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

fn accepted<'a>(
    program: &'a CheckedProgram,
    diags: &[Diagnostic],
    name: &str,
) -> &'a GlobalProtocol {
    assert!(errors(diags).is_empty(), "unexpected errors: {diags:#?}");
    program
        .protocols()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("protocol {name} missing"))
}

fn messages(body: &[GStmt]) -> Vec<&GMessage> {
    body.iter()
        .filter_map(|s| match s {
            GStmt::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn member(r: &str, i: u64) -> Participant {
    Participant::Member(r.into(), i)
}

fn role(r: &str) -> Participant {
    Participant::Role(r.into())
}

#[test]
fn for_unrolls_in_index_order_and_wraps_around() {
    let (program, diags) = check(
        "protocol Ring { roles Node[3]; for i in Node { Node[i] -> Node[i+1] : Token(u64); } }",
    );
    let ring = accepted(&program, &diags, "Ring");
    let pairs: Vec<(Participant, Participant)> = messages(&ring.body)
        .iter()
        .map(|m| (m.from.clone(), m.to.clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (member("Node", 0), member("Node", 1)),
            (member("Node", 1), member("Node", 2)),
            (member("Node", 2), member("Node", 0)),
        ]
    );
}

#[test]
fn negative_offsets_wrap_to_the_last_member() {
    let (program, diags) =
        check("protocol Back { roles W[4]; for i in W { W[i] -> W[i-1] : Back; } }");
    let p = accepted(&program, &diags, "Back");
    let first = messages(&p.body)[0];
    assert_eq!(
        (first.from.clone(), first.to.clone()),
        (member("W", 0), member("W", 3))
    );
}

#[test]
fn self_send_after_unrolling_a_family_of_one_is_rejected() {
    let (_, diags) = check("protocol Solo { roles W[1]; for i in W { W[i] -> W[i+1] : Token; } }");
    assert_eq!(
        codes(&errors(&diags).into_iter().cloned().collect::<Vec<_>>()),
        vec!["E0305"]
    );
    assert!(
        diags[0].message.contains("W[0]` sends to itself"),
        "{}",
        diags[0].message
    );
}

#[test]
fn call_inlines_the_callee_with_roles_and_parameters_substituted() {
    let (program, diags) = check(
        "protocol Sub(n, q) {
            roles Leader, Member[n];
            Leader -> Member[*] : Ask(u32);
            Member[*] -> Leader : Vote(bool) quorum q;
            Leader -> Member[0] : First;
        }
        protocol Main(k, t) {
            roles Boss, Crowd[k], Other;
            call Sub(Boss, Crowd; t);
            Boss -> Other : Done;
        }",
    );
    let main = accepted(&program, &diags, "Main");
    let ms = messages(&main.body);
    assert_eq!(ms.len(), 4);
    assert_eq!(ms[0].from, role("Boss"));
    assert_eq!(ms[0].to, Participant::All("Crowd".into()));
    assert_eq!(ms[1].from, Participant::All("Crowd".into()));
    assert_eq!(ms[1].quorum, Some(Size::Param("t".into())));
    assert_eq!(ms[2].to, member("Crowd", 0));
    // Inlined labels keep the callee's namespace; the caller's its own.
    assert_eq!(&*ms[0].label.namespace, "Sub");
    assert_eq!(&*ms[3].label.namespace, "Main");
    // Inlined statements keep pointing into the callee.
    assert!(ms[0].loc.span.start < ms[3].loc.span.start);
}

#[test]
fn call_binds_a_single_role_to_a_literal_member_inside_for() {
    let (program, diags) = check(
        "protocol Pair { roles A, B; A -> B : Ping; B -> A : Pong; }
         protocol Chain { roles W[3]; for i in W { call Pair(W[i], W[i+1]); } }",
    );
    let chain = accepted(&program, &diags, "Chain");
    let ms = messages(&chain.body);
    assert_eq!(ms.len(), 6);
    assert_eq!(
        (ms[4].from.clone(), ms[4].to.clone()),
        (member("W", 2), member("W", 0))
    );
    assert_eq!(
        (ms[5].from.clone(), ms[5].to.clone()),
        (member("W", 0), member("W", 2))
    );
}

#[test]
fn call_binding_checks_the_quorum_against_the_argument_family() {
    let (_, diags) = check(
        "protocol Sub(q) { roles A, W[3]; W[*] -> A : V quorum q; }
         protocol Main { roles X, Y[3]; call Sub(X, Y; 4); }",
    );
    assert_eq!(codes(&diags), vec!["E0316"]);
    assert!(diags[0].message.contains("4 of 3"), "{}", diags[0].message);
}

#[test]
fn literal_size_callee_family_needs_the_same_literal_size() {
    let (_, diags) = check(
        "protocol Sub { roles W[3]; W[0] -> W[1] : V; }
         protocol Main(n) { roles Y[n]; call Sub(Y); }",
    );
    assert_eq!(codes(&diags), vec!["E0213"]);
}

#[test]
fn a_family_and_its_member_cannot_both_be_bound() {
    let (_, diags) = check(
        "protocol Sub(n) { roles A, W[n]; A -> W[*] : V; }
         protocol Main { roles Y[3]; call Sub(Y[0], Y); }",
    );
    assert_eq!(codes(&diags), vec!["E0209"]);
}

#[test]
fn call_cycle_is_reported_with_its_path() {
    let (program, diags) = check(
        "protocol A { roles X, Y; X -> Y : M; call B(X, Y); }
         protocol B { roles P, Q; call C(Q, P); }
         protocol C { roles P, Q; call A(P, Q); }
         protocol Free { roles X, Y; X -> Y : M; }",
    );
    assert_eq!(codes(&diags), vec!["E0210"]);
    assert_eq!(diags[0].message, "`call` cycle: `A` → `B` → `C` → `A`");
    assert_eq!(diags[0].secondary.len(), 2);
    let names: Vec<&str> = program.protocols().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["Free"]);
}

#[test]
fn a_protocol_calling_itself_is_a_cycle() {
    let (_, diags) = check("protocol Loop { roles X, Y; X -> Y : M; call Loop(X, Y); }");
    assert_eq!(codes(&diags), vec!["E0210"]);
    assert_eq!(diags[0].message, "`call` cycle: `Loop` → `Loop`");
}

#[test]
fn undeclared_role_suggests_the_closest_declared_name() {
    let (_, diags) =
        check("protocol P { roles Initiator, Witness[3]; Initiator -> Witnes[*] : Go; }");
    assert_eq!(codes(&diags), vec!["E0201"]);
    assert_eq!(diags[0].hint.as_deref(), Some("did you mean `Witness`?"));
}

#[test]
fn unknown_annotation_suggests_the_closest_name() {
    let (_, diags) = check("protocol P { roles A, B; @gaurd(\"x\") A -> B : Go; }");
    assert_eq!(codes(&diags), vec!["E0216"]);
    assert_eq!(diags[0].primary.message, "did you mean `@guard`?");
}

#[test]
fn checked_annotations_reach_the_global_protocol() {
    let (program, diags) = check(
        "protocol P { roles A, B; @guard(\"cap\") @cost(7) @journal(\"f\") @leak(group, 8) A -> B : Go; }",
    );
    let p = accepted(&program, &diags, "P");
    use crate::global::{Annotation, LeakClass};
    assert_eq!(
        messages(&p.body)[0].annotations,
        vec![
            Annotation::Guard {
                capability: "cap".into()
            },
            Annotation::Cost { amount: 7 },
            Annotation::Journal { fact: "f".into() },
            Annotation::Leak {
                class: LeakClass::Group,
                bits: 8
            },
        ]
    );
}

#[test]
fn aliases_expand_for_comparison_and_stay_as_written_for_printing() {
    let (program, diags) = check(
        "type Bytes = Vec<u8>;
         protocol P { roles A, B; A -> B : Data(Bytes); B -> A : Data(Vec<u8>); A -> B : Ack; B -> A : Ack(()); }",
    );
    let p = accepted(&program, &diags, "P");
    let ms = messages(&p.body);
    assert_eq!(&*ms[0].payload.written, "Bytes");
    assert_eq!(&*ms[0].payload.canonical, "Vec<u8>");
    assert_eq!(&*ms[1].payload.canonical, "Vec<u8>");
    assert!(ms[2].payload.is_unit() && ms[3].payload.is_unit());
    assert_eq!(program.modules[0].aliases[0].ty, "Vec<u8>");
}

#[test]
fn label_with_two_payload_types_points_at_both_uses() {
    let (_, diags) = check("protocol P { roles A, B; A -> B : Data(u32); B -> A : Data(String); }");
    assert_eq!(codes(&diags), vec!["E0306"]);
    assert_eq!(diags[0].secondary.len(), 1);
}

#[test]
fn link_resolves_across_modules_through_use() {
    let (program, diags) = check_files(&[
        (
            "main",
            "use fallback; protocol Fast(n) { roles A, W[n]; A -> W[*] : Go; link Slow(A, W); }",
        ),
        (
            "fallback",
            "protocol Slow(n) { roles L, F[n]; F[*] -> L : Vote; }",
        ),
    ]);
    let fast = accepted(&program, &diags, "Fast");
    let Some(GStmt::Link {
        module,
        protocol,
        roles,
        ..
    }) = fast.body.last()
    else {
        panic!("no link: {:#?}", fast.body);
    };
    assert_eq!((module.as_str(), protocol.as_str()), ("fallback", "Slow"));
    assert_eq!(roles, &vec![role("A"), Participant::All("W".into())]);
}

#[test]
fn unqualified_name_in_two_used_modules_is_ambiguous() {
    let (_, diags) = check_files(&[
        (
            "main",
            "use a; use b; protocol P { roles X, Y; call S(X, Y); }",
        ),
        ("a", "protocol S { roles A, B; A -> B : M; }"),
        ("b", "protocol S { roles A, B; A -> B : M; }"),
    ]);
    assert_eq!(codes(&diags), vec!["E0206"]);
}

#[test]
fn qualified_name_works_without_use() {
    let (program, diags) = check_files(&[
        ("main", "protocol P { roles X, Y; call a.S(X, Y); }"),
        ("a", "protocol S { roles A, B; A -> B : M; }"),
    ]);
    let p = accepted(&program, &diags, "P");
    assert_eq!(&*messages(&p.body)[0].label.namespace, "S");
}

#[test]
fn all_errors_of_a_file_are_reported_and_good_protocols_survive() {
    let (program, diags) = check(
        "protocol Bad { roles A, B; A -> A : M; A -> C : N; B[0] -> A : O; }
         protocol Good { roles A, B; A -> B : M; }",
    );
    assert_eq!(codes(&diags), vec!["E0305", "E0201", "E0301"]);
    let names: Vec<&str> = program.protocols().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["Good"]);
}

#[test]
fn unguarded_rec_names_the_continue() {
    let (_, diags) = check(
        "protocol P { roles A, B; rec L { choice at A { X => { A -> B : X; continue L; } Y => { continue L; } } } }",
    );
    assert_eq!(codes(&diags), vec!["E0312"]);
}

fn in_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn ten_thousand_messages_check_on_the_main_thread_stack() {
    in_big_stack(|| {
        let mut text = String::from("protocol Long { roles A, B;\n");
        for i in 0..10_000 {
            text.push_str(&format!("A -> B : M{i};\n"));
        }
        text.push('}');
        let (program, diags) = check(&text);
        let p = accepted(&program, &diags, "Long");
        assert_eq!(p.body.len(), 10_000);
    });
}

#[test]
fn choices_nested_200_deep_check_on_the_main_thread_stack() {
    in_big_stack(|| {
        let depth = 200;
        let mut text = String::from("protocol Deep { roles A, B;\n");
        for _ in 0..depth {
            text.push_str("choice at A { L => { A -> B : L; } R => { A -> B : R;\n");
        }
        for _ in 0..depth {
            text.push_str("} }\n");
        }
        text.push('}');
        let (program, diags) = check(&text);
        let p = accepted(&program, &diags, "Deep");
        let mut level = 0;
        let mut body = &p.body;
        while let Some(GStmt::Choice { branches, .. }) =
            body.iter().find(|s| matches!(s, GStmt::Choice { .. }))
        {
            level += 1;
            body = &branches[1].body;
        }
        assert_eq!(level, depth);
    });
}

#[test]
fn huge_unrolling_is_rejected_instead_of_exhausting_memory() {
    let (_, diags) =
        check("protocol Big { roles W[4000000000]; for i in W { W[i] -> W[i+1] : T; } }");
    assert_eq!(codes(&diags), vec!["E0331"]);
}

#[test]
fn exponential_inlining_is_cut_off() {
    let mut text = String::from("protocol P0 { roles A, B; A -> B : M; }\n");
    for k in 1..40 {
        let prev = k - 1;
        text.push_str(&format!(
            "protocol P{k} {{ roles A, B; call P{prev}(A, B); call P{prev}(B, A); }}\n"
        ));
    }
    let (program, diags) = check(&text);
    assert!(codes(&diags).contains(&"E0331"), "{diags:#?}");
    assert!(program.protocols().count() < 40);
}

#[test]
fn every_checker_code_has_one_explanation_in_its_range() {
    use super::codes;
    let all = [
        codes::UNDECLARED_ROLE,
        codes::DUPLICATE_ROLE,
        codes::UNKNOWN_MODULE,
        codes::DUPLICATE_PROTOCOL,
        codes::UNKNOWN_PROTOCOL,
        codes::AMBIGUOUS_PROTOCOL,
        codes::ROLE_ARITY,
        codes::ROLE_KIND,
        codes::ROLE_BOUND_TWICE,
        codes::CALL_CYCLE,
        codes::UNKNOWN_PARAM,
        codes::PARAM_ARITY,
        codes::FAMILY_SIZE_MISMATCH,
        codes::UNBOUND_CONTINUE,
        codes::UNBOUND_INDEX,
        codes::UNKNOWN_ANNOTATION,
        codes::DUPLICATE_PARAM,
        codes::DUPLICATE_ALIAS,
        codes::ALIAS_CYCLE,
        codes::INDEX_ON_SINGLE,
        codes::ALL_ON_SINGLE,
        codes::FAMILY_WITHOUT_INDEX,
        codes::INDEX_OUT_OF_RANGE,
        codes::SELF_SEND,
        codes::LABEL_PAYLOAD,
        codes::DUPLICATE_BRANCH,
        codes::EMPTY_CHOICE,
        codes::BAD_CHOOSER,
        codes::CONTINUE_NOT_TAIL,
        codes::REC_SHADOWS,
        codes::UNGUARDED_REC,
        codes::UNREACHABLE,
        codes::PAR_SHARED_PAIR,
        codes::QUORUM_ZERO,
        codes::QUORUM_TOO_LARGE,
        codes::QUORUM_NOT_COLLECTIVE,
        codes::LINK_NOT_LAST,
        codes::TIMEOUT_NOT_LAST,
        codes::ZERO_TIMEOUT,
        codes::ANNOTATION_PLACE,
        codes::ANNOTATION_ARGS,
        codes::FOR_NEEDS_LITERAL,
        codes::FOR_OVER_SINGLE,
        codes::ROLES_FIRST,
        codes::ZERO_FAMILY,
        codes::CONTINUE_ESCAPES,
        codes::INDEX_VAR_SHADOWS,
        codes::DELEGATE_SELF,
        codes::ALL_NOT_ALLOWED,
        codes::TOO_LARGE,
        codes::HANDOVER_IN_PAR,
        codes::UNUSED_ROLE,
        codes::EMPTY_PROTOCOL,
        codes::REC_NEVER_CONTINUES,
    ];
    let explained: Vec<&str> = codes::EXPLANATIONS.iter().map(|(c, _)| *c).collect();
    for code in all {
        assert_eq!(
            explained.iter().filter(|c| **c == code).count(),
            1,
            "{code}"
        );
        assert!(
            ["E02", "E03", "W02", "W03"]
                .iter()
                .any(|p| code.starts_with(p)),
            "{code}"
        );
    }
    assert_eq!(explained.len(), all.len());
}

#[test]
fn par_branches_with_disjoint_member_pairs_are_accepted() {
    let (program, diags) = check(
        "protocol P { roles W[50];
           par { for i in W { W[i] -> W[i+1] : Next; } }
           and { for i in W { W[i] -> W[i+2] : Skip; } } }",
    );
    accepted(&program, &diags, "P");
}

#[test]
fn par_conflict_through_a_broadcast_names_the_shared_instance() {
    let (_, diags) = check(
        "protocol P { roles L, W[4];
           par { for i in W { L -> W[i] : One; } }
           and { L -> W[*] : All; } }",
    );
    assert_eq!(codes(&diags), vec!["E0314"]);
    assert_eq!(
        diags[0].message,
        "`par` branches 1 and 2 both send from `L` to `W[0]`"
    );
}

#[test]
fn par_exchange_does_not_conflict_with_a_member_to_itself() {
    // W[0] -> W[*] never includes W[0] -> W[0], and W[*] -> W[0] never
    // includes it either: the two branches share no pair.
    let (program, diags) =
        check("protocol P { roles W[3]; par { W[0] -> W[*] : Out; } and { W[*] -> W[0] : In; } }");
    let p = accepted(&program, &diags, "P");
    assert!(matches!(p.body[0], GStmt::Par { .. }));
}

#[test]
fn a_link_inside_an_inlined_callee_names_the_callers_roles() {
    let (program, diags) = check(
        "protocol Slow(n) { roles L, F[n]; F[*] -> L : Vote; }
         protocol Fast(n) { roles L, F[n]; L -> F[*] : Go; link Slow(L, F); }
         protocol Main(k) { roles Boss, Crowd[k]; Boss -> Crowd[*] : Hello; call Fast(Boss, Crowd); }",
    );
    let main = accepted(&program, &diags, "Main");
    let Some(GStmt::Link {
        roles,
        args_text,
        protocol,
        ..
    }) = main.body.last()
    else {
        panic!("no link: {:#?}", main.body);
    };
    assert_eq!(protocol, "Slow");
    assert_eq!(roles, &vec![role("Boss"), Participant::All("Crowd".into())]);
    assert_eq!(args_text, "Boss, Crowd");
}

#[test]
fn a_call_ending_with_a_link_must_be_last() {
    let (_, diags) = check(
        "protocol Slow { roles L, F; F -> L : Vote; }
         protocol Fast { roles L, F; L -> F : Go; link Slow(L, F); }
         protocol Main { roles A, B; call Fast(A, B); A -> B : After; }",
    );
    assert_eq!(codes(&diags), vec!["E0318"]);
    assert_eq!(diags[0].secondary.len(), 2);
}

#[test]
fn link_inside_a_par_branch_is_rejected_even_through_a_call() {
    let (_, diags) = check(
        "protocol P(n) { roles A, C, W[n];
           par { call Tail(A, W); } and { C -> A : Note; } }
         protocol Tail(m) { roles A, W[m];
           timeout 1s { A -> W[*] : Go; } else { link Sub(A, W); } }
         protocol Sub(m) { roles A, W[m]; A -> W[*] : Retry; }",
    );
    assert!(
        diags
            .iter()
            .any(|d| d.code == super::codes::HANDOVER_IN_PAR),
        "{diags:#?}"
    );
}
