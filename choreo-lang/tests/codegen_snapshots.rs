//! Snapshots of the Rust generated for the example protocols (reviewed like
//! code: `INSTA_UPDATE=always cargo test -p choreo-lang --test codegen_snapshots`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use choreo_lang::diagnostic::Diagnostic;
use choreo_lang::render::{render_all, RenderOptions};
use choreo_lang::{compile, Source};

fn generate(name: &str, text: &str) -> String {
    let comp = compile(vec![Source::from_path_text(format!("{name}.choreo"), text)]);
    match comp.generate_program() {
        Ok(code) => code,
        Err(d) => panic!("{name}: {d:#?}"),
    }
}

/// Code generation's errors for `text`, which must pass the checks, and
/// their rendering.
fn generation_errors(file: &str, text: &str) -> (Vec<Diagnostic>, String) {
    let comp = compile(vec![Source::from_path_text(file, text)]);
    assert!(!comp.has_errors(), "{:#?}", comp.diagnostics);
    let errors = comp.generate_program().unwrap_err();
    let rendered = render_all(&errors, &comp.sources, RenderOptions { color: false });
    (errors, rendered)
}

/// The text a span of `text` covers.
fn spanned(text: &str, span: choreo_lang::span::Span) -> &str {
    &text[span.start as usize..span.end as usize]
}

#[test]
fn ping_pong_generates_one_state_per_action() {
    insta::assert_snapshot!(generate(
        "ping_pong",
        "protocol PingPong { roles Pinger, Ponger; Pinger -> Ponger : Ping(u64); Ponger -> Pinger : Pong(u64); }"
    ));
}

#[test]
fn adder_loop_returns_the_rec_head_type() {
    insta::assert_snapshot!(generate(
        "adder",
        "protocol Adder { roles Client, Server; rec Loop { choice at Client {
            More => { Client -> Server : Add((i64, i64)); Server -> Client : Sum(i64); continue Loop; }
            Done => { Client -> Server : Bye; } } } }"
    ));
}

#[test]
fn three_buyers_third_party_gets_a_branch_enum() {
    insta::assert_snapshot!(generate(
        "three_buyers",
        "protocol ThreeBuyers { roles Buyer1, Buyer2, Seller;
            Buyer1 -> Seller : Title(String);
            Seller -> Buyer1 : Quote(u32);
            Seller -> Buyer2 : Quote(u32);
            Buyer1 -> Buyer2 : Share(u32);
            choice at Buyer2 {
                Accept => { Buyer2 -> Seller : Address(String); Seller -> Buyer2 : Date(String); Buyer2 -> Buyer1 : Confirmed; }
                Reject => { Buyer2 -> Buyer1 : Quit; Buyer2 -> Seller : Quit; }
            } }"
    ));
}

#[test]
fn map_reduce_collectives_and_quorum_parameter() {
    insta::assert_snapshot!(generate(
        "map_reduce",
        "protocol MapReduce(n, q) { roles Master, Worker[n];
            Master -> Worker[*] : Task(Vec<u64>);
            Worker[*] -> Master : Partial(u64) quorum q;
            Worker[*] -> Worker[*] : Gossip(u8); }"
    ));
}

#[test]
fn timeout_link_par_and_delegate_have_typed_states() {
    insta::assert_snapshot!(generate(
        "misc",
        "protocol Sub { roles A, B; A -> B : Hello; }
         protocol Misc { roles A, B, C;
            par { A -> B : X; } and { C -> A : Y; }
            timeout 2s { A -> B : Fast; } else { link Sub(A, B); } }
         protocol Hand { roles A, G, S; A -> G : Check; G -> S : Cert; delegate G to S; G -> A : Ack; }"
    ));
}

/// Generated code stays flat: a 1,000-message sequence is 1,000 small
/// states (each an alias of the role's generic `State` and one macro
/// invocation), not a type nested 1,000 deep (which overflows rustc).
#[test]
fn long_sequences_generate_linear_flat_code() {
    let run = || {
        let body: String = (0..1000)
            .map(|i| {
                if i % 2 == 0 {
                    format!("A -> B : M{i}(u32);\n")
                } else {
                    format!("B -> A : M{i}(u32);\n")
                }
            })
            .collect();
        let code = generate("long", &format!("protocol Long {{ roles A, B; {body} }}"));
        assert!(code.contains("S999 999 "));
        assert!(!code.contains("S1000"));
        code.len()
    };
    let len = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
    // Linear and small: about 370 bytes per message (369 KB), of which
    // each of its two states is one line of about 100 bytes (an
    // invocation of the protocol's `send_lane_state!` or
    // `recv_lane_state!`); the rest is its label type and its entry in
    // the lanes' `lane_pair!` lists. (Before those macros: 1.8 MB.)
    assert!(len < 600_000, "generated {len} bytes");
}

/// `choreo graph --role` draws the states the generated code has: every
/// state in a role's diagram is a typestate of that role's module with the
/// same name, and the module has no other states.
#[test]
fn diagram_state_names_are_the_generated_type_names() {
    let text = "protocol Adder { roles Client, Server; rec Loop { choice at Client {
        More => { Client -> Server : Add((i64, i64)); Server -> Client : Sum(i64); continue Loop; }
        Done => { Client -> Server : Bye; Server -> Client : Ack; } } } }";
    let comp = compile(vec![Source::from_path_text("adder.choreo", text)]);
    let code = comp.generate_program().unwrap();
    for local in &comp.projections[0].locals {
        let module = format!("pub mod {} {{", local.target.to_string().to_lowercase());
        let body = &code[code.find(&module).unwrap()..];
        let body = &body[..body[1..]
            .find("\n    pub mod ")
            .map_or(body.len(), |i| i + 1)];
        // The states: `End` and `After…` structs, `S<n>` aliases of the
        // generic `State`, and the `S<n>` a `send_state!`-like macro
        // invocation defines (its first word).
        let mut generated: Vec<String> = body
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                l.strip_prefix("pub struct ")
                    .or_else(|| l.strip_prefix("pub type "))
            })
            .map(|l| l.split('<').next().unwrap().to_string())
            .filter(|name| name != "State")
            .collect();
        generated.extend(
            body.split("_state!(")
                .skip(1)
                .map(|rest| rest.split_whitespace().next().unwrap().to_string()),
        );
        let diagram = choreo_lang::graph::local_state_machine(local);
        let mut drawn: Vec<String> = diagram
            .node_weights()
            .map(|state| state.name.clone())
            .collect();
        generated.sort();
        drawn.sort();
        assert_eq!(drawn, generated, "{}", local.target);
        assert!(drawn.len() >= 4, "{drawn:?}");
    }
}

/// Function pointers, trait objects with bounds, references, raw pointers
/// and qualified paths reach the generated label types as written.
#[test]
fn payloads_use_all_of_rusts_type_syntax() {
    let code = generate(
        "types",
        "protocol Types { roles A, B;
            A -> B : Callback(PhantomData<fn(u64) -> bool>);
            A -> B : Failure(Box<dyn std::error::Error + Send + Sync>);
            A -> B : Item(<Vec<u8> as IntoIterator>::Item);
            A -> B : Raw(Marker<*const u8>); }",
    );
    for field in [
        "pub struct Callback(pub PhantomData<fn(u64) -> bool>);",
        "pub struct Failure(pub Box<dyn std::error::Error + Send + Sync>);",
        "pub struct Item(pub <Vec<u8> as IntoIterator>::Item);",
        "pub struct Raw(pub Marker<*const u8>);",
    ] {
        assert!(code.contains(field), "missing `{field}` in:\n{code}");
    }
}

/// A payload the language accepts as type syntax but Rust cannot name (a
/// reserved word as a path segment): code generation reports it at that
/// word, with the payload as context, not at the whole protocol.
#[test]
fn a_payload_rust_cannot_name_is_reported_at_its_span() {
    let text = "protocol Orders {\n    roles Shop, Bank;\n    Shop -> Bank : Pay(u64);\n    Bank -> Shop : Receipt(Vec<receipts::move>);\n}\n";
    let (errors, rendered) = generation_errors("orders.choreo", text);
    assert_eq!(errors.len(), 1);
    assert_eq!(spanned(text, errors[0].primary.span), "move");
    insta::assert_snapshot!(rendered);
}

/// Every type form the language accepts comes out as the same Rust type
/// (forms that can never be a message on their own, such as `fn(..)` or
/// `*const u8`, inside a path's generics, where they can).
#[test]
fn payload_types_of_every_form_are_generated_as_written() {
    let forms = [
        "Hook<fn(u64) -> bool>",
        "Box<dyn std::error::Error + Send + Sync>",
        "Cow<&'static str>",
        "[u8; 32]",
        "(u32,)",
        "<T as Trait>::Name",
        "Marker<*const u8>",
        "::std::vec::Vec<[u16]>",
        "Box<[u8]>",
        "Never<!>",
    ];
    for ty in forms.into_iter().filter(|t| !t.contains('\'')) {
        let text = format!("protocol P {{ roles A, B; A -> B : L({ty}); }}");
        let comp = compile(vec![Source::from_path_text("p.choreo", text)]);
        assert!(!comp.has_errors(), "{ty}: {:#?}", comp.diagnostics);
        let code = comp.generate_program().unwrap();
        let expected = format!("pub struct L(pub {ty});");
        assert!(code.contains(&expected), "{ty}: {code}");
    }
}

/// Roles whose modules would share a Rust name with each other or with an
/// item of the protocol's module are reported at the role declarations
/// (rustc would report "defined multiple times" inside the macro
/// expansion). The first clash is with the generated `labels`.
#[test]
fn roles_that_would_be_one_rust_module_are_reported_at_their_declarations() {
    let text = "protocol Relay {\n    roles Labels, HTTPServer, HttpServer;\n    Labels -> HTTPServer : Hello(u64);\n    HTTPServer -> HttpServer : Fwd(u64);\n}\n";
    let (errors, rendered) = generation_errors("relay.choreo", text);
    assert_eq!(
        errors
            .iter()
            .map(|d| (d.code, spanned(text, d.primary.span)))
            .collect::<Vec<_>>(),
        [("E0504", "Labels"), ("E0504", "HttpServer")]
    );
    insta::assert_snapshot!(rendered);
}

/// A clash and a payload that can never be a message in one protocol:
/// both are reported.
#[test]
fn a_clash_does_not_hide_a_payload_error() {
    let text = "protocol P {\n    roles Labels, B;\n    Labels -> B : Name(&str);\n}\n";
    let (errors, _) = generation_errors("p.choreo", text);
    assert_eq!(
        errors.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["E0504", "E0505"]
    );
}

/// A named family member's module (`node_0`) and a role of that name.
#[test]
fn a_role_named_like_a_family_members_module_is_reported() {
    let text = "protocol Ring {\n    roles Node[3], Node_0;\n    Node[0] -> Node_0 : Token(u64);\n    Node_0 -> Node[1] : Token(u64);\n}\n";
    let (errors, _) = generation_errors("ring.choreo", text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let d = &errors[0];
    assert_eq!(d.code, "E0504");
    assert!(d.message.contains("`node_0`"), "{}", d.message);
    let mut both = [
        spanned(text, d.primary.span),
        spanned(text, d.secondary[0].span),
    ];
    both.sort_unstable();
    assert_eq!(both, ["Node[3]", "Node_0"]);
}

/// A protocol whose module would hide a standard crate (`std`, `core`)
/// in the module that invokes the macro.
#[test]
fn a_protocol_named_like_a_standard_crate_is_reported() {
    let text = "protocol Core {\n    roles A, B;\n    A -> B : Map(std::collections::BTreeMap<u8, u8>);\n}\n";
    let (errors, _) = generation_errors("core.choreo", text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, "E0504");
    assert_eq!(spanned(text, errors[0].primary.span), "Core");
    assert!(
        errors[0].message.contains("`core` crate"),
        "{}",
        errors[0].message
    );
}

/// Two protocols of one file whose modules would be one.
#[test]
fn protocols_that_would_be_one_rust_module_are_reported() {
    let text = "protocol FastPath {\n    roles A, B;\n    A -> B : Go;\n}\n\nprotocol Fast_Path {\n    roles A, B;\n    B -> A : Go;\n}\n";
    let (errors, rendered) = generation_errors("paths.choreo", text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    insta::assert_snapshot!(rendered);
}

/// Payloads no value of which can be a message (it is received as an owned
/// value, serialised) are reported at the offending part, with what to
/// write instead; inside a path's generics nothing is certain and nothing
/// is reported.
#[test]
fn payloads_that_can_never_be_a_message_are_reported_at_the_offending_part() {
    let cases = [
        ("Name(&str)", "&str"),
        ("Pair((u8, &mut Vec<u8>))", "&mut Vec<u8>"),
        ("Raw(*const u8)", "*const u8"),
        ("Hook(fn(u64) -> bool)", "fn(u64) -> bool"),
        ("Grid([[&str; 2]; 3])", "&str"),
        ("Bytes([u8])", "[u8]"),
        ("Anything(dyn std::any::Any)", "dyn std::any::Any"),
    ];
    for (message, part) in cases {
        let text = format!("protocol P {{\n    roles A, B;\n    A -> B : {message};\n}}\n");
        let (errors, _) = generation_errors("p.choreo", &text);
        assert_eq!(errors.len(), 1, "{message}: {errors:#?}");
        assert_eq!(errors[0].code, "E0505", "{message}");
        assert_eq!(spanned(&text, errors[0].primary.span), part, "{message}");
        assert!(errors[0].hint.is_some(), "{message}");
    }
    let text =
        "protocol Profile {\n    roles App, Store;\n    App -> Store : Save((u64, &str));\n}\n";
    let (_, rendered) = generation_errors("profile.choreo", text);
    insta::assert_snapshot!(rendered);
}
