//! Code generation: projections → session-typed Rust (quote).
//!
//! Per protocol, one module (`snake_case` of the protocol name) holding:
//! - `FINGERPRINT` (SHA-256 of the canonical global type,
//!   [`ProtocolMachines::fingerprint`]) and `PROTOCOL`, the runtime's
//!   `choreo_runtime::ProtocolInfo` table of role and label names;
//! - `Params` (the protocol's size and quorum parameters as `u32`), `roster`
//!   and an in-memory `sessions` helper;
//! - `labels`: one type per message label, wrapping its payload
//!   (`Ping(pub u64)`, or a unit struct when there is no payload);
//! - per role (or family, or named family member) a module with one
//!   typestate struct per state of its local type ([`crate::machine`]), `open`
//!   (the entry point on a runtime `Session`) and `End`.
//!
//! Every operation consumes the state and returns the next one, so using a
//! state twice, sending where a receive is due, a wrong label or a wrong
//! payload type do not compile. Recursion is a flat cycle of state types:
//! `continue` returns the `rec` head's type again.
//!
//! Architecture invariant: codegen reads only local types (plus the checked
//! global protocol for names, roles and the fingerprint) and emits text or
//! tokens; it does no I/O.

mod clashes;
pub mod codes;
mod label_types;
mod lanes;
pub mod link;
pub mod names;
pub mod types;

use std::collections::{BTreeMap, HashMap};

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::diagnostic::Diagnostic;
use crate::machine::{
    AfterBlock, Annotation, Header, Label, LabelTable, LeakClass, Machine, Message, Op, Peer,
    ProtocolMachines, RoleMachine, Size, State, StateId, Target, TimeoutNumbering,
};
use crate::span::FileId;
use names::{ident, protocol_module_ident, role_module_ident, snake};

/// The generated Rust of every protocol declared in the first source
/// (`FileId(0)`: the file given to `choreo gen`), pretty-printed.
/// Modules loaded only because the file `use`s them are not generated
/// (their own file generates them); their fingerprints are still used for
/// `link`.
pub fn generate_program(machines: &[ProtocolMachines]) -> Result<String, Vec<Diagnostic>> {
    let tokens = generate_tokens(machines, &[FileId(0)])?;
    pretty(&tokens).map_err(|message| {
        vec![Diagnostic::error(
            codes::BAD_PAYLOAD_TYPE,
            format!("generated code does not parse as Rust: {message}"),
            FileId(0),
            crate::span::Span::default(),
            "in this file",
        )]
    })
}

/// Pretty-prints generated tokens (prettyplease).
pub fn pretty(tokens: &TokenStream) -> Result<String, String> {
    let file: syn::File = syn::parse2(tokens.clone()).map_err(|e| e.to_string())?;
    Ok(prettyplease::unparse(&file))
}

/// Tokens for every protocol declared in `files`, each from its machine
/// phase output ([`ProtocolMachines`], built by the driver from the
/// program and its projections). The caller hands over a program without
/// errors (the driver's `Compilation::generate_tokens` does): a protocol
/// without a projection is an error, never a missing module.
pub fn generate_tokens(
    machines: &[ProtocolMachines],
    files: &[FileId],
) -> Result<TokenStream, Vec<Diagnostic>> {
    let mut out = TokenStream::new();
    let mut errors = Vec::new();
    let linkable = link::Linkable {
        machines,
        generated: files,
    };
    let generated = machines
        .iter()
        .filter(|m| m.header.files.iter().any(|f| files.contains(f)));
    errors.extend(clashes::protocol_modules(generated.clone()));
    for protocol in generated {
        match &protocol.roles {
            Some(roles) => match generate_protocol(protocol, roles, &linkable) {
                Ok(tokens) => out.extend(tokens),
                Err(diags) => errors.extend(diags),
            },
            None => errors.push(Diagnostic::error(
                codes::NOT_PROJECTED,
                format!(
                    "protocol `{}` has no projection, so no endpoints can be generated",
                    protocol.header.name
                ),
                protocol.header.loc.file,
                protocol.header.loc.span,
                "this protocol",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The label table, as code generation names its labels.
type Labels = LabelTable;

/// Rust identifiers of labels.
trait RustLabels {
    /// The label's type name (qualified when two protocols' labels share a name).
    fn rust(&self, label: &Label) -> Ident;
}

impl RustLabels for LabelTable {
    fn rust(&self, label: &Label) -> Ident {
        ident(self.rust_name(label))
    }
}

/// Generates the module of one protocol from its machines.
fn generate_protocol(
    machines: &ProtocolMachines,
    roles: &[RoleMachine],
    linkable: &link::Linkable<'_>,
) -> Result<TokenStream, Vec<Diagnostic>> {
    let labels = &machines.labels;
    let protocol = &machines.header;
    // Every diagnostic of the protocol is reported at once: a clash does
    // not stop the payload checks.
    let mut diags = clashes::role_modules(protocol, roles);
    let mod_name = protocol_module_ident(&protocol.name);
    let name_lit = Literal::string(&protocol.name);
    let fp_bytes = machines
        .fingerprint
        .iter()
        .map(|b| Literal::u8_unsuffixed(*b));
    let role_names = protocol.roles.iter().map(|r| Literal::string(&r.name));
    let label_names = labels
        .order
        .iter()
        .map(|(l, _, _)| {
            if *l.namespace == *protocol.name || l.namespace.is_empty() {
                Literal::string(&l.name)
            } else {
                Literal::string(&format!("{}::{}", l.namespace, l.name))
            }
        })
        .chain(
            labels
                .links
                .iter()
                .map(|(m, p)| Literal::string(&format!("join {m}.{p}"))),
        );
    let params: Vec<_> = protocol.params.iter().map(|p| ident(p)).collect();
    let param_count = Literal::usize_unsuffixed(params.len());
    let shapes = protocol.roles.iter().map(|r| match &r.family {
        None => quote!(rt::RoleShape::Single),
        Some(size) => {
            let s = size_tokens(size, quote!(params));
            quote!(rt::RoleShape::Family(#s))
        }
    });
    let docs = protocol.docs.iter().map(|d| quote!(#[doc = #d]));
    let plan = lanes::plan(machines, roles);
    let capabilities = machines
        .guard_capabilities
        .as_ref()
        .map(|caps| caps.iter().map(|c| Literal::string(c)).collect::<Vec<_>>());
    let sessions = match capabilities {
        None if plan.is_some() => quote! {
            /// One session per role instance, in roster order, over a fresh in-memory network whose endpoints also have typed lanes (`rt::lane`): the typestates opened on these sessions send and receive on the lanes. Drive all of them with this module's typestates; for a hand-written peer, build the network with `rt::memory::sessions`.
            pub fn sessions(params: &Params, id: rt::SessionId) -> Result<Vec<rt::Session<rt::MemoryTransport>>, rt::Error> {
                let mut sessions = rt::memory::sessions(id, &PROTOCOL, &roster(params)?, rt::MemoryConfig::default())?;
                lanes::attach(&mut sessions);
                Ok(sessions)
            }
        },
        None => quote! {
            /// One session per role instance, in roster order, over a fresh in-memory network.
            pub fn sessions(params: &Params, id: rt::SessionId) -> Result<Vec<rt::Session<rt::MemoryTransport>>, rt::Error> {
                rt::memory::sessions(id, &PROTOCOL, &roster(params)?, rt::MemoryConfig::default())
            }
        },
        Some(caps) => quote! {
            /// One session per role instance, in roster order, over a fresh in-memory network. This protocol's sends carry guard annotations, so every session runs on a guarded transport: each under its own guard granting every capability the protocol names, with unlimited budgets and an in-memory journal (`rt::guard::memory_sessions`). For tests and examples; a node opens guarded sessions with its own guard.
            pub fn sessions(params: &Params, id: rt::SessionId) -> Result<Vec<rt::Session<rt::guard::GuardedTransport<rt::MemoryTransport>>>, rt::Error> {
                rt::guard::memory_sessions(id, &PROTOCOL, &roster(params)?, rt::MemoryConfig::default(), &[#(#caps),*])
            }
        },
    };

    let label_modules = match label_types::label_modules(labels, roles) {
        Ok(tokens) => tokens,
        Err(errors) => {
            diags.extend(errors);
            TokenStream::new()
        }
    };

    let mut role_mods = Vec::new();
    let mut uses = MacroUse::default();
    for role in roles {
        match role_module(machines, role, linkable, plan.as_ref(), &mut uses) {
            Ok(tokens) => role_mods.push(tokens),
            Err(d) => diags.push(*d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let state_macros = state_macros(uses);
    let (lanes_ty, lanes_mut) = match &plan {
        None => (quote!(rt::typestate::NoLanes), quote!(None)),
        Some(_) => (quote!(lanes::Lanes), quote!(self.lanes.as_deref_mut())),
    };
    let (chan_struct, chan_new, lanes_module) = match &plan {
        None => (
            quote! {
                /// A live endpoint: the runtime session plus the parameters.
                pub struct Chan<T: rt::Transport> {
                    session: rt::Session<T>,
                    params: Params,
                }
            },
            quote!(Ok(Chan { session, params })),
            TokenStream::new(),
        ),
        Some(plan) => (
            quote! {
                /// A live endpoint: the runtime session, the parameters, and the endpoint's typed lanes if its network has them (`lanes`).
                pub struct Chan<T: rt::Transport> {
                    session: rt::Session<T>,
                    params: Params,
                    lanes: Option<Box<lanes::Lanes>>,
                }
            },
            quote! {
                let mut session = session;
                let lanes = session.take_lanes().and_then(|l| l.downcast::<lanes::Lanes>().ok());
                Ok(Chan { session, params, lanes })
            },
            plan.module(),
        ),
    };
    Ok(quote! {
        #(#docs)*
        #[allow(dead_code, unused_imports, unused_mut, unused_variables, unreachable_patterns, irrefutable_let_patterns, missing_docs, missing_debug_implementations, clippy::all, clippy::pedantic)]
        pub mod #mod_name {
            use super::*;
            use ::choreo_runtime as rt;

            /// SHA-256 of the canonical global protocol: peers with another fingerprint are refused.
            pub const FINGERPRINT: [u8; 32] = [#(#fp_bytes),*];

            /// Role and label names for the runtime.
            pub static PROTOCOL: rt::ProtocolInfo = rt::ProtocolInfo {
                name: #name_lit,
                fingerprint: FINGERPRINT,
                roles: &[#(#role_names),*],
                labels: &[#(#label_names),*],
            };

            /// The protocol's parameters, fixed at session start.
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct Params { #(pub #params: u32,)* }

            impl Params {
                /// The parameters in declaration order, as a handoff carries them.
                pub fn to_handoff(&self) -> Vec<u32> {
                    vec![#(self.#params),*]
                }
                /// The parameters from a handoff (declaration order).
                pub fn from_handoff(values: &[u32]) -> Result<Self, rt::Error> {
                    match values {
                        [#(#params),*] => Ok(Params { #(#params: *#params),* }),
                        _ => Err(rt::UsageError::RosterMismatch(format!(
                            "a handoff of protocol {} carries {} parameters, the protocol has {}",
                            PROTOCOL.name, values.len(), #param_count
                        )).into()),
                    }
                }
            }

            /// The roster for these parameters: one shape per role.
            pub fn roster(params: &Params) -> Result<rt::Roster, rt::Error> {
                rt::Roster::new(&[#(#shapes),*])
            }

            #sessions

            #chan_struct

            impl<T: rt::Transport> rt::typestate::Endpoint for Chan<T> {
                type Transport = T;
                type Lanes = #lanes_ty;
                fn session_ref(&self) -> &rt::Session<T> {
                    &self.session
                }
                fn session_mut(&mut self) -> &mut rt::Session<T> {
                    &mut self.session
                }
                fn lanes_mut(&mut self) -> Option<&mut Self::Lanes> {
                    #lanes_mut
                }
            }

            impl<T: rt::Transport> Chan<T> {
                fn open(session: rt::Session<T>, params: Params, role: u16, index: Option<Option<u32>>) -> Result<Self, rt::Error> {
                    let me = session.me();
                    let ok = session.protocol().fingerprint == FINGERPRINT
                        && me.role == rt::Role(role)
                        && index.map_or(me.index.is_some(), |i| i == me.index);
                    if ok {
                        #chan_new
                    } else {
                        Err(rt::UsageError::RosterMismatch(format!(
                            "this endpoint plays {} of protocol {}, but the session is for {} of {}",
                            PROTOCOL.role_name(rt::RoleId { role: rt::Role(role), index: index.flatten() }),
                            PROTOCOL.name,
                            session.protocol().role_name(me),
                            session.protocol().name,
                        )).into())
                    }
                }
            }

            /// What a `link` hands over: the session, and the linked protocol's identity.
            pub struct LinkPoint<T: rt::Transport> {
                /// The session, to carry on with the linked protocol's endpoints.
                pub session: rt::Session<T>,
                /// Module of the linked protocol.
                pub module: &'static str,
                /// Name of the linked protocol.
                pub protocol: &'static str,
                /// Role arguments as written.
                pub args: &'static str,
                /// Fingerprint the linked protocol must have.
                pub fingerprint: [u8; 32],
            }

            impl<T: rt::Transport> LinkPoint<T> {
                /// Refuses to join a protocol whose fingerprint differs from the one this protocol was built against.
                pub fn check(&self, fingerprint: &[u8; 32]) -> Result<(), rt::Error> {
                    if &self.fingerprint == fingerprint {
                        Ok(())
                    } else {
                        Err(rt::UsageError::RosterMismatch(format!(
                            "link to {}.{}: the linked protocol's fingerprint differs from the one this protocol was built against; rebuild both from the same .choreo sources",
                            self.module, self.protocol
                        )).into())
                    }
                }
            }

            #label_modules

            #lanes_module

            #state_macros

            #(#role_mods)*
        }
    })
}

/// The per-state macros the role modules invoke: a plain send or receive
/// state is one invocation (`send_state!(S3 3 "doc" M3 S4 State R1 3);`)
/// that rustc expands into the state's alias, its doc and its operation (a
/// call of a runtime helper), instead of code generation writing ~180
/// tokens per state. The expansion names the invoking role module's items
/// (`State`, `rt`, the peer constant, `super::labels`, `super::lanes`).
/// A unit label is marked `()` (its payload is `()`, not `m.0`).
fn state_macros(uses: MacroUse) -> TokenStream {
    let mut out = TokenStream::new();
    if uses.send {
        out.extend(quote! {
            /// A send state whose `send` is one call of `rt::typestate::send`.
            macro_rules! send_state {
                ($s:ident $n:literal $doc:literal $l:ident () $next:ident $make:ident $to:ident $w:literal) => {
                    #[doc = $doc]
                    pub type $s<T> = State<T, $n>;
                    impl<T: rt::Transport> $s<T> {
                        pub fn send(self, m: super::labels::$l) -> rt::typestate::SendFuture<Chan<T>, $next<T>> {
                            rt::typestate::send(self.0, $to, rt::Label($w), (), $make)
                        }
                    }
                };
                ($s:ident $n:literal $doc:literal $l:ident $next:ident $make:ident $to:ident $w:literal) => {
                    #[doc = $doc]
                    pub type $s<T> = State<T, $n>;
                    impl<T: rt::Transport> $s<T> {
                        pub fn send(self, m: super::labels::$l) -> rt::typestate::SendFuture<Chan<T>, $next<T>> {
                            rt::typestate::send(self.0, $to, rt::Label($w), m.0, $make)
                        }
                    }
                };
            }
        });
    }
    if uses.send_lane {
        out.extend(quote! {
            /// A send state whose `send` is one call of `rt::typestate::send_lane` (lane picker `$tx`, lane enum `$e`).
            macro_rules! send_lane_state {
                ($s:ident $n:literal $doc:literal $l:ident $next:ident $make:ident $to:ident $tx:ident $e:ident) => {
                    #[doc = $doc]
                    pub type $s<T> = State<T, $n>;
                    impl<T: rt::Transport> $s<T> {
                        pub fn send(self, m: super::labels::$l) -> rt::typestate::SendLaneFuture<Chan<T>, super::lanes::$e, $next<T>> {
                            rt::typestate::send_lane(self.0, $to, super::lanes::$tx, super::lanes::$e::$l(m), $make)
                        }
                    }
                };
            }
        });
    }
    if uses.recv {
        out.extend(quote! {
            /// A receive state whose `recv` is one call of `rt::typestate::recv`.
            macro_rules! recv_state {
                ($s:ident $n:literal $doc:literal $l:ident $next:ident $make:ident $from:ident $w:literal) => {
                    #[doc = $doc]
                    pub type $s<T> = State<T, $n>;
                    impl<T: rt::Transport> $s<T> {
                        pub fn recv(self) -> rt::typestate::RecvFuture<Chan<T>, super::labels::$l, $next<T>> {
                            rt::typestate::recv(self.0, $from, rt::Label($w), $make)
                        }
                    }
                };
            }
        });
    }
    if uses.recv_lane {
        out.extend(quote! {
            /// A receive state whose `recv` is one call of `rt::typestate::recv_lane` (lane picker `$rx`, lane enum `$e`).
            macro_rules! recv_lane_state {
                ($s:ident $n:literal $doc:literal $l:ident $next:ident $make:ident $from:ident $w:literal $rx:ident $e:ident) => {
                    #[doc = $doc]
                    pub type $s<T> = State<T, $n>;
                    impl<T: rt::Transport> $s<T> {
                        pub fn recv(self) -> rt::typestate::RecvLaneFuture<Chan<T>, super::lanes::$e, super::labels::$l, $next<T>> {
                            rt::typestate::recv_lane(self.0, $from, rt::Label($w), super::lanes::$rx, $make)
                        }
                    }
                };
            }
        });
    }
    out
}

fn size_tokens(size: &Size, params: TokenStream) -> TokenStream {
    match size {
        Size::Literal(v) => {
            let v = Literal::u32_unsuffixed(u32::try_from(*v).unwrap_or(u32::MAX));
            quote!(#v)
        }
        Size::Param(p) => {
            let p = ident(p);
            quote!(#params.#p)
        }
    }
}

fn role_index(protocol: &Header, name: &str) -> u16 {
    protocol
        .role_index(name)
        .and_then(|i| u16::try_from(i).ok())
        .unwrap_or(u16::MAX)
}

fn peer_tokens(protocol: &Header, peer: &Peer) -> TokenStream {
    match peer {
        Peer::Role(r) => {
            let i = role_index(protocol, r);
            quote!(rt::RoleId::single(rt::Role(#i)))
        }
        Peer::Member(r, k) => {
            let i = role_index(protocol, r);
            let k = Literal::u32_unsuffixed(u32::try_from(*k).unwrap_or(u32::MAX));
            quote!(rt::RoleId::member(rt::Role(#i), #k))
        }
    }
}

fn describe_message(m: &Message) -> String {
    if m.payload.is_unit() {
        m.label.name.to_string()
    } else {
        format!("{}({})", m.label.name, m.payload.written)
    }
}

/// The key of a role instance in [`ProtocolMachines::delegations`]
/// ([`crate::machine::instance_key`] of its target).
fn peer_key(peer: &Peer) -> String {
    match peer {
        Peer::Role(r) => r.to_string(),
        Peer::Member(r, k) => format!("{r}[{k}]"),
    }
}

fn role_module(
    machines: &ProtocolMachines,
    local: &RoleMachine,
    linkable: &link::Linkable<'_>,
    plan: Option<&lanes::Plan>,
    uses: &mut MacroUse,
) -> Result<TokenStream, Box<Diagnostic>> {
    let protocol = &machines.header;
    let machine = local.machine.as_ref().map_err(|u| {
        Box::new(Diagnostic::error(
            codes::UNBOUND_CONTINUE,
            format!(
                "`continue {}` has no enclosing `rec {}` in the local type of {}",
                u.name, u.name, local.target
            ),
            u.loc.file,
            u.loc.span,
            "this continue",
        ))
    })?;
    let state_names = &local.names;
    let names: HashMap<StateId, Ident> = state_names
        .iter()
        .map(|(id, name)| (*id, format_ident!("{}", name)))
        .collect();
    let depths = body_depths(machine);
    let mut emitter = Emitter {
        machines,
        protocol,
        labels: &machines.labels,
        numbers: &local.numbers,
        delegations: &machines.delegations,
        names: &names,
        enum_names: HashMap::new(),
        depths: &depths,
        depth: 0,
        current: machine.entry,
        target: &local.target,
        linkable,
        plan,
        after: None,
        machine,
        after_block: machine.after_block_handlers(),
        handler_of_end: machine
            .order()
            .into_iter()
            .map(|id| (id, handlers_after_body(machine, id)))
            .filter(|(_, chain)| !chain.is_empty())
            .collect(),
        whole: None,
        peers: BTreeMap::new(),
        uses: MacroUse::default(),
    };
    let mod_name = role_module_ident(&local.target);
    let (role_name, index) = match &local.target {
        Target::Role(r) => (r, quote!(Some(None))),
        Target::Family(r) => (r, quote!(None)),
        Target::Member(r, i) => {
            let i = Literal::u32_unsuffixed(u32::try_from(*i).unwrap_or(u32::MAX));
            (r, quote!(Some(Some(#i))))
        }
    };
    let role_ix = role_index(protocol, role_name);
    let entry = emitter.state(machine.entry);
    let entry_ctor = ctor(&entry);
    let doc = format!(" The endpoints of {} in `{}`: one typestate per state of its local type, `open` to start. The states are `S0`, `S1`, … (`S<n>` is `State<T, n>`: one generic type, so what every state has is written once) and `End`; each state's doc says what it does next.", local.target, protocol.name);
    let mut items = Vec::new();
    for (id, _) in state_names {
        let Some(state) = machine.state(*id) else {
            continue;
        };
        let name = emitter.state(*id);
        let number = emitter.number(*id);
        emitter.whole = None;
        let (doc, methods, extra) = emitter.emit(*id, state);
        // A plain send or receive is one invocation of the protocol
        // module's `send_state!`/`recv_state!` (alias, doc and operation).
        if let Some(whole) = emitter.whole.take() {
            items.push(whole);
            continue;
        }
        let abandon = state.abandon.map(|h| {
            let h = emitter.state(h);
            let make = ctor(&h);
            quote! {
                #DOC_ABANDON
                pub fn abandon(self) -> #h<T> {
                    let mut chan = self.0;
                    chan.session.abandon_body();
                    #make(chan)
                }
            }
        });
        // What every state has (`session`, `params`, `into_handoff`,
        // `resume`) is written once, on the generic `State`; a state adds
        // only its alias (its number) and its own operations. `End` is a
        // type of its own, so that errors and rustdoc name it. The doc
        // string is a literal built here: a string inside `quote!` is
        // re-lexed on every call.
        let doc = Literal::string(&doc);
        if *id == crate::machine::END {
            let end_accessors = accessors(&quote!(#number));
            items.push(quote! {
                #[doc = #doc]
                #[must_use = #MUST_USE]
                pub struct End<T: rt::Transport>(Chan<T>);
                impl<T: rt::Transport> End<T> {
                    #end_accessors
                    #methods
                    #abandon
                }
            });
            items.push(extra);
            continue;
        }
        items.push(quote! {
            #[doc = #doc]
            pub type #name<T> = State<T, #number>;
        });
        if !methods.is_empty() || abandon.is_some() {
            items.push(quote! {
                impl<T: rt::Transport> #name<T> {
                    #methods
                    #abandon
                }
            });
        }
        items.push(extra);
    }
    items.extend(after_body_types(&emitter));
    // A role with annotated sends opens only on a guarded transport: the
    // caller supplies the guard context (capabilities, budgets, journal)
    // with the session, and no annotated send can skip the chain.
    let open = if machine.is_guarded() {
        quote! {
            /// Opens this role's endpoint on `session` (which must be for this protocol and this role). Its sends carry guard annotations, so the session runs on a guarded transport: build it with `rt::guard::Guard::wrap` (capabilities, budgets and journal of this node).
            pub fn open<T: rt::Transport>(session: rt::Session<rt::guard::GuardedTransport<T>>, params: Params) -> Result<#entry<rt::guard::GuardedTransport<T>>, rt::Error> {
                Ok(#entry_ctor(Chan::open(session, params, #role_ix, #index)?))
            }
        }
    } else {
        quote! {
            /// Opens this role's endpoint on `session` (which must be for this protocol and this role).
            pub fn open<T: rt::Transport>(session: rt::Session<T>, params: Params) -> Result<#entry<T>, rt::Error> {
                Ok(#entry_ctor(Chan::open(session, params, #role_ix, #index)?))
            }
        }
    };
    // A handoff carries the lanes in the session, for the next holder.
    let put_lanes = match plan {
        None => quote!(let session = chan.session;),
        Some(_) => quote! {
            let mut session = chan.session;
            if let Some(lanes) = chan.lanes {
                session.put_lanes(lanes);
            }
        },
    };
    let peers = emitter.peers.iter().map(|(name, peer)| {
        let name = ident(name);
        quote!(const #name: rt::RoleId = #peer;)
    });
    let state_doc = Literal::string(&format!(" A state of {}'s local type: `S<n>` is `State<T, n>`, and each `S<n>` has its own operations. What every state has is here.", local.target));
    let state_accessors = accessors(&quote!(N));
    *uses = uses.union(emitter.uses);
    Ok(quote! {
        #[doc = #doc]
        pub mod #mod_name {
            use super::{rt, Chan, LinkPoint, Params, PROTOCOL};

            #open

            #[doc = #state_doc]
            #[must_use = #MUST_USE]
            pub struct State<T: rt::Transport, const N: u32>(Chan<T>);

            impl<T: rt::Transport, const N: u32> State<T, N> {
                #state_accessors
            }

            #(#peers)*

            /// Every state's `into_handoff`: the endpoint detached from its typestate, with the state's number (its position among this module's states: `S<number>`, or `End`) and the parameters. Move it to another task, or to another node with `rt::node::SharedNode::hand_off`.
            fn detach<T: rt::Transport>(chan: Chan<T>, state: u32) -> rt::Handoff<T> {
                let params = chan.params.to_handoff();
                #put_lanes
                rt::Handoff::new(session, state, params)
            }

            /// Every state's `resume`: the endpoint of a handoff made in state number `state` of this role; refuses one of another protocol, role or state.
            fn attach<T: rt::Transport>(handoff: rt::Handoff<T>, state: u32) -> Result<Chan<T>, rt::Error> {
                let (session, params) = handoff.into_state(&PROTOCOL, state)?;
                let params = Params::from_handoff(&params)?;
                Chan::open(session, params, #role_ix, #index)
            }

            #(#items)*
        }
    })
}

/// A doc attribute whose text is a literal built at emission: a doc
/// comment written inside `quote!` is re-lexed from text on every call
/// (and, outside a macro, kept in proc-macro2's source map for good).
struct Doc(&'static str);

impl quote::ToTokens for Doc {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let text = Literal::string(self.0);
        tokens.extend(quote!(#[doc = #text]));
    }
}

// The docs of methods emitted on many states.
const DOC_ABANDON: Doc = Doc(" Abandons the timeout's body (as when its deadline passes) and runs this role's part of the handler.");
const DOC_SEND_ALL: Doc = Doc(" Sends the same value to every member (encoded once).");
const DOC_SEND_EACH: Doc = Doc(" Sends `f(i)` to member `i`, for every member in index order.");
const DOC_RECV_ALL: Doc = Doc(" Receives from every member (or the quorum), in any arrival order; the result is sorted by member index.");
const DOC_EXCHANGE: Doc = Doc(" Sends `f(j)` to every other member `j` and receives theirs; `f(own index)` is kept as the own contribution. Sorted by index, own value included.");
const DOC_LINK: Doc = Doc(" Hands the session over without joining the linked protocol (no handshake is sent; check a fingerprint with [`LinkPoint::check`]). Prefer `join`.");
const DOC_JOIN_UNTYPED: Doc = Doc(" Joins the linked protocol: sends the join handshake (session id and the linked protocol's fingerprint) to every peer that takes part in it and reads theirs. A peer built with another fingerprint is refused on both sides (`Error::ProtocolViolation` naming both fingerprints) and nothing of the linked protocol runs. The linked protocol is not generated beside this one: open its session with `Joined::open(&its PROTOCOL)`, then its role's `open`.");
const DOC_DURATION: Doc = Doc(" The body's deadline, measured from when the body starts.");
const DOC_BODY: Doc = Doc(" Runs the body: its deadline starts now, on the session's clock. Its operations return the handler's state instead when the deadline passes or a peer starts the handler; its states can also `abandon` to the handler.");
const DOC_HANDLER: Doc = Doc(" Skips the body and runs this role's part of the handler.");

const DOC_SESSION: Doc = Doc(" The runtime session (identity, roster, family sizes).");
const DOC_PARAMS: Doc = Doc(" The protocol parameters.");
const DOC_INTO_HANDOFF: Doc = Doc(" The endpoint detached from its typestate (see `rt::Handoff`): move it to another task, or to another node with `rt::node::SharedNode::hand_off`.");
const DOC_RESUME: Doc = Doc(
    " The state back from a handoff made in it; refuses one of another protocol, role or state.",
);

/// What every state type of a role has (`session`, `params`,
/// `into_handoff`, `resume`), for the state numbered `number` (`N` on the
/// generic `State`, a literal on `End`).
fn accessors(number: &TokenStream) -> TokenStream {
    quote! {
        #DOC_SESSION
        pub fn session(&self) -> &rt::Session<T> {
            &self.0.session
        }
        #DOC_PARAMS
        pub fn params(&self) -> &Params {
            &self.0.params
        }
        #DOC_INTO_HANDOFF
        pub fn into_handoff(self) -> rt::Handoff<T> {
            detach(self.0, #number)
        }
        #DOC_RESUME
        pub fn resume(h: rt::Handoff<T>) -> Result<Self, rt::Error> {
            attach(h, #number).map(Self)
        }
    }
}

/// The constructor of a state type: the generic `State` for `S<n>` (an
/// alias, which cannot construct), the type itself for `End` and the
/// `After…` states.
fn ctor(state: &Ident) -> Ident {
    let name = state.to_string();
    let alias = name
        .strip_prefix('S')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if alias {
        format_ident!("State")
    } else {
        state.clone()
    }
}

/// Which per-state macros a protocol module's role modules invoke (the
/// module defines only those).
#[derive(Clone, Copy, Default)]
struct MacroUse {
    send: bool,
    send_lane: bool,
    recv: bool,
    recv_lane: bool,
}

impl MacroUse {
    fn union(self, other: Self) -> Self {
        Self {
            send: self.send || other.send,
            send_lane: self.send_lane || other.send_lane,
            recv: self.recv || other.recv,
            recv_lane: self.recv_lane || other.recv_lane,
        }
    }
}

/// Why every typestate is `#[must_use]`.
const MUST_USE: &str =
    "a protocol state must be used: drop it and the peers see this endpoint vanish";

/// What one state contributes: its doc line, the methods of its
/// typestate, and any item beside it (a `branch` state's enum).
type StateItems = (String, TokenStream, TokenStream);

/// Emits the typestates of one role module: one method per operation of
/// the machine ([`Op`]), each returning that state's [`StateItems`].
struct Emitter<'a> {
    /// The protocol's machine phase output (its `link` sites).
    machines: &'a ProtocolMachines,
    protocol: &'a Header,
    labels: &'a Labels,
    /// The type name of every reachable state (`S0`, `S1`, …, `End`).
    names: &'a HashMap<StateId, Ident>,
    /// The number of every reachable state ([`state_numbers`]).
    numbers: &'a HashMap<StateId, u32>,
    /// The state number at which each delegating role delegates.
    delegations: &'a HashMap<String, u32>,
    /// Branch enum names used so far in this module (a repeated name gets a number).
    enum_names: HashMap<String, usize>,
    /// How many `timeout` bodies each state is inside ([`body_depths`]).
    depths: &'a HashMap<StateId, usize>,
    /// The depth of the state being emitted.
    depth: usize,
    /// The state being emitted.
    current: StateId,
    /// The role whose module this is.
    target: &'a Target,
    /// What `link`s may join with a typed entry.
    linkable: &'a link::Linkable<'a>,
    /// The protocol's typed lanes, if it runs on them in memory.
    plan: Option<&'a lanes::Plan>,
    /// For the state being emitted: the `After…` state that replaces `End`
    /// as its successor ([`handlers_after_body`]).
    after: Option<Ident>,
    /// The role's machine.
    machine: &'a Machine,
    /// The first state after a `timeout`'s block with the handler it still
    /// answers (`Machine::after_block_handlers`).
    after_block: BTreeMap<StateId, Vec<AfterBlock>>,
    /// Every body state's [`handlers_after_body`], if it has any.
    handler_of_end: HashMap<StateId, Vec<StateId>>,
    /// The state being emitted as one macro invocation (alias, doc and
    /// operation), if it is a plain send or receive.
    whole: Option<TokenStream>,
    /// The peers the macro invocations name, as constants of the role
    /// module (name → `rt::RoleId` expression).
    peers: BTreeMap<String, TokenStream>,
    /// Which per-state macros this role module invokes.
    uses: MacroUse,
}

/// The handlers a role can still be asked to run after it completed the
/// bodies of nested `timeout`s at once and reached `End` from `from`,
/// outermost first: completing an inner body that is the last statement
/// of its enclosing one's completes that one too, and a peer may start
/// either handler. Empty if the role has no part in one of them (the
/// walk out through the handlers stops there) or `from` is in no body.
fn handlers_after_body(machine: &Machine, from: StateId) -> Vec<StateId> {
    let mut chain = Vec::new();
    let mut at = machine.state(from).and_then(|s| s.abandon);
    while let Some(h) = at {
        if h == crate::machine::END || chain.len() > machine.states.len() {
            return Vec::new();
        }
        chain.push(h);
        at = machine.state(h).and_then(|s| s.abandon);
    }
    chain.reverse();
    chain
}

/// The `After…` typestates: where a role stands once it has completed a
/// timeout body and has nothing else to do. A peer may still start the
/// handler, so besides `finish` it can `linger` until the session closes,
/// and run its part of the handler if a peer starts it. After the bodies
/// of nested timeouts completed at once (`AfterS5S4`: outermost handler
/// first), `linger` answers any of their handlers and says which in an
/// enum of its own (`LingeredS5S4`).
fn after_body_types(emitter: &Emitter<'_>) -> Vec<TokenStream> {
    let mut chains: Vec<&Vec<StateId>> = emitter.handler_of_end.values().collect();
    chains.sort();
    chains.dedup();
    chains
        .into_iter()
        .map(|chain| after_body_type(emitter, chain))
        .collect()
}

/// One `After…` typestate ([`after_body_types`]) for the handlers `chain`
/// (outermost first).
fn after_body_type(emitter: &Emitter<'_>, chain: &[StateId]) -> TokenStream {
    let handlers = emitter.chain_names(chain);
    let name = after_name(&handlers);
    let levels = handlers.len();
    let list = handlers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let wait = if levels == 1 {
        quote!(chan.session.linger(patience).await?)
    } else {
        quote!(chan.session.linger_nested(patience, #levels).await?)
    };
    let (doc, linger_doc, output, answer, lingered_enum) = if let [handler] = handlers.as_slice() {
        let make = ctor(handler);
        (
            format!(" This role has completed its part of a `timeout` body and has nothing else to do, but a peer may still start the handler ({handler}): `linger` answers it until the session closes, `finish` leaves now."),
            " Stays until a peer starts the handler (then returns this role's part of it, the peer's message waiting for its first receive), every peer has closed, or `patience` has passed on the session's clock (then the session is finished). The timeout's own duration is a natural patience: a peer still in the body starts the handler by then.".to_string(),
            quote!(rt::typestate::Lingered<#handler<T>>),
            quote! {
                Some(_) => Ok(rt::typestate::Lingered::Handler(#make(chan))),
                None => {
                    chan.session.finish()?;
                    Ok(rt::typestate::Lingered::Closed)
                }
            },
            quote!(),
        )
    } else {
        let lingered = format_ident!("Lingered{}", after_suffix(&handlers));
        let arms = handlers.iter().enumerate().map(|(level, h)| {
            let make = ctor(h);
            quote!(Some((_, #level)) => Ok(#lingered::#h(#make(chan))),)
        });
        let variants = handlers.iter().enumerate().map(|(level, h)| {
            let vdoc = if level == 0 {
                format!(" A peer started the outermost timeout's handler: run this role's part of it ({h}).")
            } else {
                format!(" A peer started the handler of the timeout nested {level} deep: run this role's part of it ({h}).")
            };
            quote!(#[doc = #vdoc] #h(#h<T>),)
        });
        let enum_doc = format!(" What [`{name}::linger`] ended with: a peer started one of the handlers ({list}), or nobody did.");
        (
            format!(" This role has completed its part of the bodies of {levels} nested `timeout`s at once and has nothing else to do, but a peer may still start any of their handlers ({list}, outermost first): `linger` answers one until the session closes, `finish` leaves now."),
            " Stays until a peer starts one of the handlers (then returns this role's part of it, as the variant named after its state, the peer's message waiting for its first receive), every peer has closed, or `patience` has passed on the session's clock (then the session is finished).".to_string(),
            quote!(#lingered<T>),
            quote! {
                #(#arms)*
                _ => {
                    chan.session.finish()?;
                    Ok(#lingered::Closed)
                }
            },
            quote! {
                #[doc = #enum_doc]
                #[must_use = "either the session closed or a handler must run"]
                pub enum #lingered<T: rt::Transport> {
                    /// Nobody started a handler (the patience ran out, or every peer closed its side): the session is finished.
                    Closed,
                    #(#variants)*
                }
            },
        )
    };
    quote! {
        #[doc = #doc]
        #[must_use = #MUST_USE]
        pub struct #name<T: rt::Transport>(Chan<T>);
        impl<T: rt::Transport> #name<T> {
            /// The runtime session (identity, roster, family sizes).
            pub fn session(&self) -> &rt::Session<T> {
                &self.0.session
            }
            /// The protocol parameters.
            pub fn params(&self) -> &Params {
                &self.0.params
            }
            /// Ends the session now; a peer that starts the handler later finds this endpoint gone.
            pub fn finish(self) -> Result<(), rt::Error> {
                self.0.session.finish()
            }
            #[doc = #linger_doc]
            pub async fn linger(self, patience: ::core::time::Duration) -> Result<#output, rt::Error> {
                let mut chan = self.0;
                match #wait {
                    #answer
                }
            }
        }
        #lingered_enum
    }
}

/// `After` and the handlers' state names, outermost first (`AfterS5`,
/// `AfterS5S4`).
fn after_name(handlers: &[Ident]) -> Ident {
    format_ident!("After{}", after_suffix(handlers))
}

fn after_suffix(handlers: &[Ident]) -> String {
    handlers.iter().map(ToString::to_string).collect()
}

/// How many `timeout` bodies each state is inside: a body state's
/// `abandon` handler is one level out.
fn body_depths(machine: &Machine) -> HashMap<StateId, usize> {
    machine
        .order()
        .into_iter()
        .map(|id| (id, machine.body_depth(id)))
        .collect()
}

/// What an operation's method looks like in a `timeout` body (`Some`:
/// the handler's state) or outside one. The second field: the operation is
/// the first after a completed body (`Machine::after_block_handlers`), and the
/// handler is that body's, answered until the operation acts. The third:
/// it may hand over one of several handlers (completed bodies of different
/// timeouts on different paths, or a completed body's and the enclosing
/// body's own), so the first field names the state's enum of them.
struct Timing(Option<Ident>, bool, Option<Handlers>);

/// The handlers an operation right after a block may hand over, when
/// there are several ([`Timing`]).
struct Handlers {
    /// The handler of the body the operation is in, if any.
    own: Option<Ident>,
    /// Each completed timeout's site (its state number) and handler.
    completed: Vec<(Literal, Ident)>,
}

impl Timing {
    /// The method's success type.
    fn ret(&self, r: TokenStream) -> TokenStream {
        self.ret_on(r, &quote!(T))
    }

    /// [`ret`](Self::ret) for a method whose states run on transport `tp`
    /// (a guarded send's impl names the transport inside the guard `T`).
    fn ret_on(&self, r: TokenStream, tp: &TokenStream) -> TokenStream {
        match &self.0 {
            None => r,
            Some(h) => quote!(rt::typestate::Timed<#r, #h<#tp>>),
        }
    }

    /// Awaits a session operation; in a body, an interrupted operation
    /// returns the handler's state.
    fn call(&self, op: TokenStream) -> TokenStream {
        if let (Some(expired), Some(handlers)) = (&self.0, &self.2) {
            return handlers.call(expired, op);
        }
        match &self.0 {
            None => quote!(#op.await?),
            Some(h) if self.1 => {
                let h = ctor(h);
                after_body_call(
                    op,
                    quote! {
                        chan.session.start_handler();
                        return Ok(rt::typestate::Timed::Expired(#h(chan)));
                    },
                )
            }
            Some(h) => {
                let h = ctor(h);
                quote! {
                    match rt::typestate::timed(#op.await)? {
                        Some(v) => v,
                        None => {
                            chan.session.start_handler();
                            return Ok(rt::typestate::Timed::Expired(#h(chan)));
                        }
                    }
                }
            }
        }
    }

    /// The method's success value.
    fn done(&self, v: TokenStream) -> TokenStream {
        match &self.0 {
            None => v,
            Some(_) => quote!(rt::typestate::Timed::Done(#v)),
        }
    }
}

/// Awaits `op` as the first operation after a completed body (answering
/// that body's handler until it acts); `interrupted` returns the handler's
/// state when a peer started it.
fn after_body_call(op: TokenStream, interrupted: TokenStream) -> TokenStream {
    quote! {
        match {
            chan.session.open_after_body();
            let done = rt::typestate::timed(#op.await);
            chan.session.close_after_body();
            done
        }? {
            Some(v) => v,
            None => { #interrupted }
        }
    }
}

impl Handlers {
    /// [`Timing::call`] with several handlers: the session says which
    /// completed body it went back to, if any.
    fn call(&self, expired: &Ident, op: TokenStream) -> TokenStream {
        let arm = |h: &Ident| {
            let c = ctor(h);
            quote!(#expired::#h(#c(chan)))
        };
        let mut arms: Vec<TokenStream> = Vec::new();
        let mut completed = self.completed.iter().peekable();
        while let Some((site, h)) = completed.next() {
            let build = arm(h);
            if self.own.is_none() && completed.peek().is_none() {
                // Outside any body only a completed body can have been
                // taken back: the last one is the catch-all.
                arms.push(quote!(_ => #build));
            } else {
                arms.push(quote!(Some(#site) => #build));
            }
        }
        if let Some(own) = &self.own {
            let build = arm(own);
            arms.push(quote!(_ => #build));
        }
        after_body_call(
            op,
            quote! {
                let reopened = chan.session.reopened_site();
                chan.session.start_handler();
                return Ok(rt::typestate::Timed::Expired(match reopened { #(#arms,)* }));
            },
        )
    }

    /// The state's enum of the handlers it may hand over.
    fn enum_item(&self, name: &Ident, state: &Ident) -> TokenStream {
        let doc = if self.own.is_some() {
            format!(
                " The handler `{state}`'s operation hands over: that of the `timeout` body it is in (its deadline passed, or a peer started it), or that of a body completed just before it (a peer started it)."
            )
        } else {
            format!(
                " The handler `{state}`'s operation hands over: that of the `timeout` whose body was completed just before it on the path taken (a peer started it)."
            )
        };
        let variants = self
            .own
            .iter()
            .chain(self.completed.iter().map(|(_, h)| h))
            .map(|h| quote!(#h(#h<T>)));
        quote! {
            #[doc = #doc]
            #[must_use = "a protocol state must be used: drop it and the peers see this endpoint vanish"]
            pub enum #name<T: rt::Transport> { #(#variants,)* }
        }
    }
}

impl Emitter<'_> {
    /// The name of this module's role, if it is a single role (the only
    /// kind the lanes serve).
    fn role_name(&self) -> Option<&str> {
        match self.target {
            Target::Role(r) => Some(r.as_str()),
            _ => None,
        }
    }

    /// The number of a state (for handoffs).
    fn number(&self, id: StateId) -> Literal {
        Literal::u32_unsuffixed(self.numbers.get(&id).copied().unwrap_or(u32::MAX))
    }

    /// The type name of a state.
    /// The state names of `chain`.
    fn chain_names(&self, chain: &[StateId]) -> Vec<Ident> {
        chain.iter().map(|h| self.state(*h)).collect()
    }

    fn state(&self, id: StateId) -> Ident {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format_ident!("End"))
    }

    /// The type of successor `next`: `End` after a completed timeout body
    /// is the `After…` state ([`after_body_types`]).
    fn next_state(&self, next: StateId) -> Ident {
        match &self.after {
            Some(after) if next == crate::machine::END => after.clone(),
            _ => self.state(next),
        }
    }

    /// `#next(chan)`, leaving the timeout bodies that `next` is not in
    /// (the body is complete for this participant).
    fn goto(&self, next: StateId) -> TokenStream {
        let name = ctor(&self.next_state(next));
        let to = self.depths.get(&next).copied().unwrap_or(0);
        if to >= self.depth {
            return quote!(#name(chan));
        }
        let ends = (to..self.depth).map(|_| quote!(chan.session.end_body();));
        quote!({ #(#ends)* #name(chan) })
    }

    /// [`goto`](Self::goto) for a method that has not taken `self.0` yet.
    fn goto_self(&self, next: StateId) -> TokenStream {
        let to = self.depths.get(&next).copied().unwrap_or(0);
        if to >= self.depth {
            let name = ctor(&self.next_state(next));
            return quote!(#name(self.0));
        }
        let goto = self.goto(next);
        quote! {
            let mut chan = self.0;
            #goto
        }
    }

    /// The name of the role module's constant for `peer` (`R<role>`, or
    /// `R<role>_<member>`), recorded so that the module defines it.
    fn peer_const(&mut self, peer: &Peer) -> Ident {
        let name = match peer {
            Peer::Role(r) => format!("R{}", role_index(self.protocol, r)),
            Peer::Member(r, k) => format!("R{}_{k}", role_index(self.protocol, r)),
        };
        let id = format_ident!("{}", name);
        self.peers
            .entry(name)
            .or_insert_with(|| peer_tokens(self.protocol, peer));
        id
    }

    /// A message's label type and its wire number.
    fn label(&self, m: &Message) -> (TokenStream, TokenStream) {
        let ty = self.labels.rust(&m.label);
        let wire = self.labels.wire(&m.label);
        (quote!(super::labels::#ty), quote!(rt::Label(#wire)))
    }

    fn emit(&mut self, id: StateId, state: &State) -> StateItems {
        self.current = id;
        // Inside a `timeout` body, every operation may hand over the
        // handler's state instead (deadline passed, handler started).
        self.depth = self.depths.get(&id).copied().unwrap_or(0);
        self.after = self
            .handler_of_end
            .get(&id)
            .map(|chain| after_name(&self.chain_names(chain)));
        let after_block = self.after_block.get(&id).cloned().unwrap_or_default();
        let own = state.abandon.map(|h| self.state(h));
        let timing = match (after_block.as_slice(), &own) {
            ([], _) => Timing(own.clone(), false, None),
            ([after], None) => Timing(Some(self.state(after.handler)), true, None),
            (_, _) => {
                let handlers = Handlers {
                    own: own.clone(),
                    completed: after_block
                        .iter()
                        .map(|a| (self.number(a.timeout), self.state(a.handler)))
                        .collect(),
                };
                Timing(
                    Some(format_ident!("{}Handler", self.state(id))),
                    true,
                    Some(handlers),
                )
            }
        };
        let t = &timing;
        let (doc, methods, extra) = match &state.op {
            // `Par` and `Stuck` exist only in the model checker's shape.
            Op::End | Op::Goto(_) | Op::Par { .. } | Op::Stuck => self.end(),
            Op::Send { to, msg, next } => self.send(to, msg, next, t),
            Op::Recv { from, msg, next } => self.recv(from, msg, next, t),
            Op::SendAll { family, msg, next } => self.send_all(family, msg, next, t),
            Op::RecvAll {
                family,
                msg,
                quorum,
                next,
            } => self.recv_all(family, msg, quorum, next, t),
            Op::Exchange {
                family,
                msg,
                quorum,
                next,
            } => self.exchange(family, msg, quorum, next, t),
            Op::Select { branches } => self.select(branches),
            Op::Branch { from, arms } => self.branch(from, arms, t),
            Op::Link {
                module,
                protocol,
                args_text,
            } => self.link(module, protocol, args_text, state.loc, t),
            Op::DelegateTo { to } => self.delegate(to),
            Op::AcceptFrom { from, next } => self.accept(from, next),
            Op::Timeout {
                millis,
                text,
                body,
                handler,
            } => self.timeout(millis, text, body, handler),
        };
        let completed: Vec<String> = after_block
            .iter()
            .map(|a| self.state(a.handler).to_string())
            .collect();
        let doc = if completed.is_empty() || doc.is_empty() {
            doc
        } else {
            format!(
                "{doc} Until it acts, a peer that starts the handler of the `timeout` completed just before ({}) ends it with `Timed::Expired`.",
                completed.join(" or ")
            )
        };
        let extra = match (&timing.0, &timing.2) {
            (Some(name), Some(handlers)) => {
                let item = handlers.enum_item(name, &self.state(id));
                quote!(#extra #item)
            }
            _ => extra,
        };
        (doc, methods, extra)
    }

    /// `End`: the role has finished; `finish` closes the session.
    fn end(&self) -> StateItems {
        let finish = match self.plan {
            None => quote!(self.0.session.finish()),
            Some(_) => quote! {
                let mut chan = self.0;
                let lanes = match chan.lanes.as_deref_mut() {
                    Some(l) => l.finish(&chan.session),
                    None => Ok(()),
                };
                let session = chan.session.finish();
                lanes.and(session)
            },
        };
        (
            " The protocol is complete for this role: call `finish`.".into(),
            quote! {
                /// Ends the session, checking that no peer sent anything the protocol does not account for.
                pub fn finish(self) -> Result<(), rt::Error> {
                    #finish
                }
            },
            TokenStream::new(),
        )
    }

    /// `send B L(T)`: `send` and go on.
    fn send(&mut self, to: &Peer, msg: &Message, next: &StateId, t: &Timing) -> StateItems {
        let next_ty = self.next_state(*next);
        // Outside a timeout body, an unguarded send is one call of a
        // runtime helper (`rt::typestate::send`, or `send_lane` with its
        // lane): its body is written once in the runtime, not per state,
        // and the state is one invocation of the protocol module's
        // `send_state!` (or `send_lane_state!`).
        if t.0.is_none() && msg.annotations.is_empty() {
            let doc = format!(" Next: send {} to {to}.", describe_message(msg));
            let state = self.state(self.current);
            let number = self.number(self.current);
            let make = ctor(&next_ty);
            let label = self.labels.rust(&msg.label);
            let to_const = self.peer_const(to);
            let lane = self
                .plan
                .zip(self.role_name())
                .and_then(|(p, me)| p.sender_lane(me, to));
            let doc = Literal::string(&doc);
            self.whole = Some(match lane {
                Some((tx, pair)) => {
                    self.uses.send_lane = true;
                    quote!(send_lane_state!(#state #number #doc #label #next_ty #make #to_const #tx #pair);)
                }
                None => {
                    self.uses.send = true;
                    let wire = Literal::u16_unsuffixed(self.labels.wire(&msg.label));
                    let unit = msg.payload.is_unit().then(|| quote!(()));
                    quote!(send_state!(#state #number #doc #label #unit #next_ty #make #to_const #wire);)
                }
            });
            return (String::new(), TokenStream::new(), TokenStream::new());
        }
        let (ty, wire) = self.label(msg);
        let peer = peer_tokens(self.protocol, to);
        let value = if msg.payload.is_unit() {
            quote!(())
        } else {
            quote!(m.0)
        };
        let tp = transport_param(msg);
        let ret = t.ret_on(quote!(#next_ty<#tp>), &tp);
        // Unguarded sends pass the payload by value: over an in-memory link
        // it travels as itself, never encoded (the session encodes it for a
        // byte transport).
        let send = match guard_chain(&msg.annotations) {
            Some(ann) => quote!(chan.session.send_guarded(#peer, #wire, &#value, &#ann)),
            None => quote!(chan.session.send_owned(#peer, #wire, #value)),
        };
        let call = t.call(send);
        let done = t.done(self.goto(*next));
        let lane = self
            .plan
            .zip(self.role_name())
            .and_then(|(p, me)| p.send(me, to, &self.labels.rust(&msg.label)));
        guarded(
            msg,
            self.state(self.current),
            format!(" Next: send {} to {to}.", describe_message(msg)),
            quote! {
                pub async fn send(self, m: #ty) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    let _ = &m;
                    #lane {
                        #call;
                    }
                    Ok(#done)
                }
            },
        )
    }

    /// `recv A L(T)`: `recv`.
    fn recv(&mut self, from: &Peer, msg: &Message, next: &StateId, t: &Timing) -> StateItems {
        let next_ty = self.next_state(*next);
        // Outside a timeout body, a receive is one call of a runtime helper
        // (`rt::typestate::recv`, or `recv_lane` with its lane), and the
        // state one invocation of `recv_state!` (or `recv_lane_state!`).
        if t.0.is_none() {
            let doc = format!(" Next: receive {} from {from}.", describe_message(msg));
            let state = self.state(self.current);
            let number = self.number(self.current);
            let make = ctor(&next_ty);
            let label = self.labels.rust(&msg.label);
            let from_const = self.peer_const(from);
            let wire = Literal::u16_unsuffixed(self.labels.wire(&msg.label));
            let lane = self
                .plan
                .zip(self.role_name())
                .and_then(|(p, me)| p.receiver_lane(me, from));
            let doc = Literal::string(&doc);
            self.whole = Some(match lane {
                Some((rx, pair)) => {
                    self.uses.recv_lane = true;
                    quote!(recv_lane_state!(#state #number #doc #label #next_ty #make #from_const #wire #rx #pair);)
                }
                None => {
                    self.uses.recv = true;
                    quote!(recv_state!(#state #number #doc #label #next_ty #make #from_const #wire);)
                }
            });
            return (String::new(), TokenStream::new(), TokenStream::new());
        }
        let (ty, wire) = self.label(msg);
        let peer = peer_tokens(self.protocol, from);
        let ret = t.ret(quote!((#ty, #next_ty<T>)));
        let call = t.call(quote!(chan.session.recv_owned(#peer, #wire)));
        let build = if msg.payload.is_unit() {
            quote! { let () = #call; #ty }
        } else {
            quote! { #ty(#call) }
        };
        let goto = self.goto(*next);
        let done = t.done(quote!((m, #goto)));
        let lane = self.plan.zip(self.role_name()).and_then(|(p, me)| {
            p.recv(
                me,
                from,
                &peer,
                std::slice::from_ref(&wire),
                vec![(self.labels.rust(&msg.label), quote!(Ok(#done)))],
            )
        });
        (
            format!(" Next: receive {} from {from}.", describe_message(msg)),
            quote! {
                pub async fn recv(self) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    #lane
                    let m = { #build };
                    Ok(#done)
                }
            },
            TokenStream::new(),
        )
    }

    /// `send all W L(T)`: `send_all` (one value) and `send_each` (one per member).
    fn send_all(&self, family: &str, msg: &Message, next: &StateId, t: &Timing) -> StateItems {
        let (ty, wire) = self.label(msg);
        let fam = role_index(self.protocol, family);
        let next_ty = self.next_state(*next);
        let (all, each) = if msg.payload.is_unit() {
            (
                quote!(&()),
                quote!(|i| {
                    let _ = f(i);
                }),
            )
        } else {
            (quote!(&m.0), quote!(|i| f(i).0))
        };
        let tp = transport_param(msg);
        let ret = t.ret_on(quote!(#next_ty<#tp>), &tp);
        let (send_all, send_each) = match guard_chain(&msg.annotations) {
            Some(ann) => (
                quote!(chan.session.send_all_guarded(rt::Role(#fam), #wire, #all, &#ann)),
                quote!(chan.session.send_each_guarded(rt::Role(#fam), #wire, #each, &#ann)),
            ),
            None => (
                quote!(chan.session.send_all(rt::Role(#fam), #wire, #all)),
                quote!(chan.session.send_each(rt::Role(#fam), #wire, #each)),
            ),
        };
        let call_all = t.call(send_all);
        let call_each = t.call(send_each);
        let done = t.done(self.goto(*next));
        guarded(
            msg,
            self.state(self.current),
            format!(
                " Next: send {} to every member of {family}.",
                describe_message(msg)
            ),
            quote! {
                #DOC_SEND_ALL
                pub async fn send_all(self, m: #ty) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    let _ = &m;
                    #call_all;
                    Ok(#done)
                }
                #DOC_SEND_EACH
                pub async fn send_each(self, mut f: impl FnMut(u32) -> #ty) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    #call_each;
                    Ok(#done)
                }
            },
        )
    }

    /// `recv all W L(T) quorum q`: `recv_all`.
    fn recv_all(
        &self,
        family: &str,
        msg: &Message,
        q: &Option<Size>,
        next: &StateId,
        t: &Timing,
    ) -> StateItems {
        let (ty, wire) = self.label(msg);
        let fam = role_index(self.protocol, family);
        let next_ty = self.next_state(*next);
        let ret = t.ret(quote!((Vec<(u32, #ty)>, #next_ty<T>)));
        let q_tokens = quorum_tokens(q);
        let wrap = if msg.payload.is_unit() {
            quote!(|(i, ())| (i, #ty))
        } else {
            quote!(|(i, v)| (i, #ty(v)))
        };
        let q_text = q
            .as_ref()
            .map(|q| format!(" (quorum {q})"))
            .unwrap_or_default();
        let call = t.call(quote!(chan.session.recv_all(rt::Role(#fam), #wire, q)));
        let goto = self.goto(*next);
        let done = t.done(quote!((got.into_iter().map(#wrap).collect(), #goto)));
        (
            format!(
                " Next: receive {} from every member of {family}{q_text}.",
                describe_message(msg)
            ),
            quote! {
                #DOC_RECV_ALL
                pub async fn recv_all(self) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    let q: Option<usize> = #q_tokens;
                    let got = #call;
                    Ok(#done)
                }
            },
            TokenStream::new(),
        )
    }

    /// `exchange W L(T) quorum q`: `exchange`.
    fn exchange(
        &self,
        family: &str,
        msg: &Message,
        q: &Option<Size>,
        next: &StateId,
        t: &Timing,
    ) -> StateItems {
        let (ty, wire) = self.label(msg);
        let fam = role_index(self.protocol, family);
        let next_ty = self.next_state(*next);
        let q_tokens = quorum_tokens(q);
        let (each, wrap) = if msg.payload.is_unit() {
            (
                quote!(|i| {
                    let _ = f(i);
                }),
                quote!(|(i, ())| (i, #ty)),
            )
        } else {
            (quote!(|i| f(i).0), quote!(|(i, v)| (i, #ty(v))))
        };
        let q_text = q
            .as_ref()
            .map(|q| format!(" (quorum {q})"))
            .unwrap_or_default();
        let tp = transport_param(msg);
        let ret = t.ret_on(quote!((Vec<(u32, #ty)>, #next_ty<#tp>)), &tp);
        let exchange = match guard_chain(&msg.annotations) {
            Some(ann) => {
                quote!(chan.session.exchange_guarded(rt::Role(#fam), #wire, #each, q, &#ann))
            }
            None => quote!(chan.session.exchange(rt::Role(#fam), #wire, #each, q)),
        };
        let call = t.call(exchange);
        let goto = self.goto(*next);
        let done = t.done(quote!((got.into_iter().map(#wrap).collect(), #goto)));
        guarded(
            msg,
            self.state(self.current),
            format!(
                " Next: exchange {} with every other member of {family}{q_text}.",
                describe_message(msg)
            ),
            quote! {
                #DOC_EXCHANGE
                pub async fn exchange(self, mut f: impl FnMut(u32) -> #ty) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    let q: Option<usize> = #q_tokens;
                    let got = #call;
                    Ok(#done)
                }
            },
        )
    }

    /// `select { … }`: one `select_<branch>` per branch.
    fn select(&self, branches: &[(String, StateId)]) -> StateItems {
        let methods = branches.iter().map(|(branch, next)| {
            let m = format_ident!("select_{}", snake(branch));
            let next_ty = self.next_state(*next);
            let goto = self.goto_self(*next);
            let doc = format!(" Chooses branch `{branch}`; its first send tells the peers.");
            quote! {
                #[doc = #doc]
                pub fn #m(self) -> #next_ty<T> {
                    #goto
                }
            }
        });
        let names: Vec<&str> = branches.iter().map(|(b, _)| b.as_str()).collect();
        (
            format!(
                " Next: choose one of {} (this role decides).",
                names.join(", ")
            ),
            quote!(#(#methods)*),
            TokenStream::new(),
        )
    }

    /// `branch A { … }`: `branch` returns an enum of the arms (named after their labels).
    fn branch(&mut self, from: &Peer, arms: &[(Message, StateId)], t: &Timing) -> StateItems {
        let peer = peer_tokens(self.protocol, from);
        let base: Vec<String> = arms
            .iter()
            .map(|(m, _)| self.labels.rust(&m.label).to_string())
            .collect();
        let base = base.join("Or");
        let count = self.enum_names.entry(base.clone()).or_insert(0);
        *count += 1;
        let enum_name = if *count == 1 {
            format_ident!("{}", base)
        } else {
            format_ident!("{}{}", base, *count)
        };
        let wires: Vec<TokenStream> = arms.iter().map(|(m, _)| self.label(m).1).collect();
        let variants = arms.iter().map(|(m, next)| {
            let (ty, _) = self.label(m);
            let v = self.labels.rust(&m.label);
            let next = self.next_state(*next);
            quote!(#v(#ty, #next<T>))
        });
        let cases = arms.iter().enumerate().map(|(i, (m, next))| {
            let (ty, _) = self.label(m);
            let v = self.labels.rust(&m.label);
            let goto = self.goto(*next);
            let build = if m.payload.is_unit() {
                quote! { { let () = b.take()?; #ty } }
            } else {
                quote! { #ty(b.take()?) }
            };
            let done = t.done(quote!(#enum_name::#v(#build, #goto)));
            quote!(#i => Ok(#done))
        });
        let ret = t.ret(quote!(#enum_name<T>));
        let lane = self.plan.zip(self.role_name()).and_then(|(p, me)| {
            let arms = arms
                .iter()
                .map(|(m, next)| {
                    let v = self.labels.rust(&m.label);
                    let goto = self.goto(*next);
                    let done = t.done(quote!(#enum_name::#v(m, #goto)));
                    (v, quote!(Ok(#done)))
                })
                .collect();
            p.recv(me, from, &peer, &wires, arms)
        });
        let call = t.call(quote!(chan.session.recv_branch(#peer, &[#(#wires),*])));
        let names: Vec<String> = arms.iter().map(|(m, _)| describe_message(m)).collect();
        let enum_doc = format!(" What {from} may send here: match on it.");
        (
            format!(" Next: {from} picks one of {}.", names.join(", ")),
            quote! {
                pub async fn branch(self) -> Result<#ret, rt::Error> {
                    let mut chan = self.0;
                    #lane
                    let b = #call;
                    match b.index {
                        #(#cases,)*
                        _ => Err(b.unexpected()),
                    }
                }
            },
            quote! {
                #[doc = #enum_doc]
                pub enum #enum_name<T: rt::Transport> {
                    #(#variants,)*
                }
            },
        )
    }

    /// `link P(…)`: `join` runs the join handshake (and opens `P`'s
    /// endpoint for this role when `P` is generated alongside); `link`
    /// hands the session over without joining.
    fn link(
        &self,
        module: &str,
        sub: &str,
        args_text: &str,
        loc: crate::machine::Loc,
        t: &Timing,
    ) -> StateItems {
        let site = self.machines.links.iter().find(|l| l.loc == loc);
        let fp = site.map_or([0; 32], |l| l.fingerprint);
        let join = link::plan(
            self.protocol,
            self.target,
            site,
            module,
            sub,
            self.labels.join_wire(module, sub),
            self.linkable,
        );
        let target = join.target;
        let fp = fp.iter().map(|b| Literal::u8_unsuffixed(*b));
        let hand_over = quote! {
            #DOC_LINK
            pub fn link(self) -> LinkPoint<T> {
                LinkPoint {
                    session: self.0.session,
                    module: #module,
                    protocol: #sub,
                    args: #args_text,
                    fingerprint: [#(#fp),*],
                }
            }
        };
        // Inside a timeout body the handshake is an operation of the body:
        // an interrupted join returns the handler's state.
        let joined_ret = t.ret(quote!(rt::link::Joined<T>));
        let untyped_body = match &t.0 {
            None => quote!(self.0.session.join_link(&TARGET).await),
            Some(h) => {
                let h = ctor(h);
                quote! {
                let Chan { session, params } = self.0;
                match session.join_link_timed(&TARGET).await? {
                    rt::typestate::Timed::Done(joined) => Ok(rt::typestate::Timed::Done(joined)),
                    rt::typestate::Timed::Expired(session) => {
                        let mut chan = Chan { session, params };
                        chan.session.start_handler();
                        Ok(rt::typestate::Timed::Expired(#h(chan)))
                    }
                }
                }
            }
        };
        let in_body = if t.0.is_some() {
            " Inside this `timeout` body the handshake is a body operation: when the body ends first (deadline, a peer's handler message), it returns the handler's state (`Timed::Expired`) and nothing of the linked protocol runs."
        } else {
            ""
        };
        let (methods, extra) = match join.typed {
            None => (
                quote! {
                    #hand_over
                    #DOC_JOIN_UNTYPED
                    pub async fn join(self) -> Result<#joined_ret, rt::Error> {
                        #target
                        #untyped_body
                    }
                },
                TokenStream::new(),
            ),
            Some(typed) => {
                let link::Typed {
                    module: role_mod,
                    protocol_module,
                    entry,
                    guarded,
                    params,
                } = typed;
                let doc = format!(" Joins {module}.{sub}: sends the join handshake (session id and its fingerprint) to every peer that takes part in it and reads theirs, then returns this role's endpoint of {sub} on a session of the same node and peers. A peer built with another fingerprint is refused on both sides (`Error::ProtocolViolation` naming both fingerprints) and nothing of {sub} runs.{in_body}");
                let body = match &t.0 {
                    None => quote! {
                        #target
                        let chan = self.0;
                        let params = #params;
                        let joined = chan.session.join_link(&TARGET).await?;
                        let session = joined.open(&#protocol_module::PROTOCOL)?;
                        #role_mod::open(session, params)
                    },
                    Some(h) => {
                        let h = ctor(h);
                        quote! {
                        #target
                        let chan = self.0;
                        let params = #params;
                        let Chan { session, params: own } = chan;
                        match session.join_link_timed(&TARGET).await? {
                            rt::typestate::Timed::Done(joined) => {
                                let session = joined.open(&#protocol_module::PROTOCOL)?;
                                Ok(rt::typestate::Timed::Done(#role_mod::open(session, params)?))
                            }
                            rt::typestate::Timed::Expired(session) => {
                                let mut chan = Chan { session, params: own };
                                chan.session.start_handler();
                                Ok(rt::typestate::Timed::Expired(#h(chan)))
                            }
                        }
                        }
                    }
                };
                let gt = quote!(rt::guard::GuardedTransport<T>);
                let guarded_ret = t.ret_on(quote!(#role_mod::#entry<#gt>), &gt);
                let typed_ret = t.ret(quote!(#role_mod::#entry<T>));
                if guarded {
                    let state = self.state(self.current);
                    (
                        hand_over,
                        quote! {
                            impl<T: rt::Transport> #state<rt::guard::GuardedTransport<T>> {
                                #[doc = #doc]
                                pub async fn join(self) -> Result<#guarded_ret, rt::Error> {
                                    #body
                                }
                            }
                        },
                    )
                } else {
                    (
                        quote! {
                            #hand_over
                            #[doc = #doc]
                            pub async fn join(self) -> Result<#typed_ret, rt::Error> {
                                #body
                            }
                        },
                        TokenStream::new(),
                    )
                }
            }
        };
        (
            format!(" Next: link to {module}.{sub}({args_text})."),
            methods,
            extra,
        )
    }

    /// `delegate to S`: `delegate` hands the endpoint, in this state, to
    /// S's holder.
    fn delegate(&self, to: &Peer) -> StateItems {
        let peer = peer_tokens(self.protocol, to);
        let number = self.number(self.current);
        let doc = format!(" Hands this role's endpoint, in this state, to {to}'s holder, whose `accept` goes on with this role's remaining part: over a node host the endpoint moves to {to}'s node (bundle, rerouting of the peers, forwarding of frames in flight), in memory to {to}'s task. This endpoint can do nothing more.");
        (
            format!(" Next: delegate this role to {to}: hand the endpoint over."),
            quote! {
                #[doc = #doc]
                pub fn delegate(self) -> Result<(), rt::Error>
                where
                    T: rt::Handover,
                {
                    let params = self.0.params.to_handoff();
                    <T as rt::Handover>::hand_over(rt::Handoff::new(self.0.session, #number, params), #peer)
                }
            },
            TokenStream::new(),
        )
    }

    /// `accept from R`: `accept` takes R's endpoint over and goes on with
    /// R's remaining part on it.
    fn accept(&self, from: &Peer, next: &StateId) -> StateItems {
        let peer = peer_tokens(self.protocol, from);
        let key = peer_key(from);
        let at = self
            .delegations
            .get(&key)
            .or_else(|| match from {
                Peer::Member(r, _) => self.delegations.get(&format!("{r}[*]")),
                Peer::Role(_) => None,
            })
            .copied()
            .unwrap_or(u32::MAX);
        let at = Literal::u32_unsuffixed(at);
        let goto = self.goto(*next);
        let next = self.next_state(*next);
        let doc = format!(" Waits for {from}'s endpoint, which {from}'s holder hands over with `delegate`, and goes on with {from}'s remaining part on it (its messages carry {from}'s name; the peers reroute to this node). This role's own endpoint finishes here.");
        (
            format!(" Next: accept {from}'s part by delegation."),
            quote! {
                #[doc = #doc]
                pub async fn accept(self) -> Result<#next<T>, rt::Error>
                where
                    T: rt::Handover,
                {
                    let mut own = self.0.session;
                    let params = self.0.params;
                    let handoff = rt::take_over(&mut own, #peer, #at).await?;
                    own.finish()?;
                    let (session, _, _) = handoff.into_parts();
                    let mut chan = Chan { session, params };
                    Ok(#goto)
                }
            },
            TokenStream::new(),
        )
    }

    /// The runtime's numbering of the `timeout` being emitted
    /// ([`crate::machine::timeout_numbering`]).
    fn timeout_numbering(&self) -> TokenStream {
        let loc = self.machine.state(self.current).map(|s| s.loc);
        match loc.and_then(|loc| self.machines.timeouts.get(&loc)) {
            Some(TimeoutNumbering::Root { span }) => {
                quote!(rt::TimeoutNumbering::Root { span: #span })
            }
            Some(TimeoutNumbering::Nested { offset }) => {
                quote!(rt::TimeoutNumbering::Nested { offset: #offset })
            }
            Some(TimeoutNumbering::Window) => quote!(rt::TimeoutNumbering::Window),
            Some(TimeoutNumbering::InnerWindow) => quote!(rt::TimeoutNumbering::InnerWindow),
            counted => {
                let span = match counted {
                    Some(TimeoutNumbering::Counted { span }) => *span,
                    _ => 0,
                };
                let nests = self.machine.nests_timeout(self.current);
                quote!(rt::TimeoutNumbering::Counted { span: #span, nests: #nests })
            }
        }
    }

    /// `timeout d { … } else { … }`: `body` or `handler`.
    fn timeout(&self, millis: &u64, text: &str, body: &StateId, handler: &StateId) -> StateItems {
        let body = self.state(*body);
        let handler = self.state(*handler);
        let (body_ctor, handler_ctor) = (ctor(&body), ctor(&handler));
        // The statement's identity for the runtime: a looped timeout's
        // next iteration is the same state.
        let site = self.number(self.current);
        let numbering = self.timeout_numbering();
        (
            format!(" Next: `timeout {text}`: run the body, or the handler."),
            quote! {
                #DOC_DURATION
                pub fn duration(&self) -> ::core::time::Duration {
                    ::core::time::Duration::from_millis(#millis)
                }
                #DOC_BODY
                pub fn body(self) -> #body<T> {
                    let mut chan = self.0;
                    chan.session.start_numbered_body_at(::core::time::Duration::from_millis(#millis), #site, #numbering);
                    #body_ctor(chan)
                }
                #DOC_HANDLER
                pub fn handler(self) -> #handler<T> {
                    let mut chan = self.0;
                    chan.session.start_numbered_body_at(::core::time::Duration::from_millis(#millis), #site, #numbering);
                    chan.session.start_handler();
                    #handler_ctor(chan)
                }
            },
            TokenStream::new(),
        )
    }
}

/// A quorum parameter as a runtime `Option<usize>`.
fn quorum_tokens(q: &Option<Size>) -> TokenStream {
    match q {
        None => quote!(None),
        Some(s) => {
            let s = size_tokens(s, quote!(chan.params));
            quote!(Some((#s) as usize))
        }
    }
}

/// The guard chain's constant for a statement's annotations
/// (`rt::guard::Annotations`), or `None` for a statement without any: its
/// send stays a plain send, so unannotated protocols cost nothing extra.
fn guard_chain(annotations: &[Annotation]) -> Option<TokenStream> {
    if annotations.is_empty() {
        return None;
    }
    let mut guards = Vec::new();
    let mut cost: u64 = 0;
    let mut journal = Vec::new();
    let mut leak = Vec::new();
    for a in annotations {
        match a {
            Annotation::Guard { capability } => guards.push(Literal::string(capability)),
            Annotation::Cost { amount } => cost = cost.saturating_add(*amount),
            Annotation::Journal { fact } => journal.push(Literal::string(fact)),
            Annotation::Leak { class, bits } => {
                let class = match class {
                    LeakClass::Relationship => quote!(Relationship),
                    LeakClass::Group => quote!(Group),
                    LeakClass::Neighbor => quote!(Neighbor),
                    LeakClass::External => quote!(External),
                };
                let bits = Literal::u64_unsuffixed(*bits);
                leak.push(quote!((rt::guard::ObserverClass::#class, #bits)));
            }
        }
    }
    let cost = Literal::u64_unsuffixed(cost);
    Some(quote! {
        rt::guard::Annotations {
            guard: &[#(#guards),*],
            cost: #cost,
            journal: &[#(#journal),*],
            leak: &[#(#leak),*],
        }
    })
}

/// The transport type of the states an (annotated) send returns: the
/// guarded impl binds `T` to the transport inside the guard.
fn transport_param(msg: &Message) -> TokenStream {
    if msg.annotations.is_empty() {
        quote!(T)
    } else {
        quote!(rt::guard::GuardedTransport<T>)
    }
}

/// A send state's items. With annotations, its methods exist only on a
/// guarded transport (`impl … for State<rt::guard::GuardedTransport<T>>`),
/// so an annotated send cannot bypass the guard chain: it does not compile
/// on a plain transport.
fn guarded(msg: &Message, state: Ident, doc: String, methods: TokenStream) -> StateItems {
    if msg.annotations.is_empty() {
        return (doc, methods, TokenStream::new());
    }
    let written = msg
        .annotations
        .iter()
        .map(crate::machine::annotation_text)
        .collect::<Vec<_>>()
        .join(" ");
    let doc = format!("{doc} Guarded: `{written}` (the guard chain runs before the send; a denial is `Error::Denied` and nothing is sent, appended or charged).");
    (
        doc,
        TokenStream::new(),
        quote! {
            impl<T: rt::Transport> #state<rt::guard::GuardedTransport<T>> {
                #methods
            }
        },
    )
}
