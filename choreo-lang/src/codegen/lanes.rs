//! The in-memory fast lane (`rt::lane`): for a protocol whose local types
//! only send, receive, select and branch between single roles, one enum
//! per ordered pair of roles (the labels that pair carries, payloads by
//! value), each role's lanes, and the code a typestate runs when its
//! endpoint has them. Every other protocol generates no lane code.

use std::collections::BTreeMap;

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::RustLabels;
use crate::machine::{Message, Op, Peer, ProtocolMachines, RoleMachine, Target};

/// The lanes of one protocol: which labels each ordered pair of roles
/// carries.
pub(super) struct Plan {
    roles: Vec<String>,
    /// `(from, to)` role indices → the pair's labels (wire number → Rust
    /// name, and whether the label carries no payload), in wire order.
    pairs: BTreeMap<(usize, usize), BTreeMap<u16, (Ident, bool)>>,
}

/// The lane plan of `protocol`, or `None` if it uses anything the lanes do
/// not carry (families, `timeout`, collectives, guard annotations, `link`,
/// `delegate`/`accept`): such a protocol runs on sessions only.
pub(super) fn plan(machines: &ProtocolMachines, locals: &[RoleMachine]) -> Option<Plan> {
    let (protocol, labels) = (&machines.header, &machines.labels);
    if protocol.roles.iter().any(|r| r.family.is_some()) || !labels.links.is_empty() {
        return None;
    }
    let roles: Vec<String> = protocol.roles.iter().map(|r| r.name.to_string()).collect();
    let index = |name: &str| roles.iter().position(|r| r == name);
    let role_of = |peer: &Peer| match peer {
        Peer::Role(r) => index(r),
        Peer::Member(..) => None,
    };
    let mut pairs: BTreeMap<(usize, usize), BTreeMap<u16, (Ident, bool)>> = BTreeMap::new();
    let mut add = |from: usize, to: usize, m: &Message| {
        pairs.entry((from, to)).or_default().insert(
            labels.wire(&m.label),
            (labels.rust(&m.label), m.payload.is_unit()),
        );
    };
    for local in locals {
        let Target::Role(me) = &local.target else {
            return None;
        };
        let me = index(me)?;
        let machine = local.machine.as_ref().ok()?;
        for (id, _) in &local.names {
            let state = machine.state(*id)?;
            if state.abandon.is_some() || state.actor.is_some() {
                return None;
            }
            match &state.op {
                Op::End | Op::Goto(_) | Op::Select { .. } => {}
                Op::Send { to, msg, .. } if msg.annotations.is_empty() => {
                    add(me, role_of(to)?, msg);
                }
                Op::Recv { from, msg, .. } => add(role_of(from)?, me, msg),
                Op::Branch { from, arms } => {
                    let from = role_of(from)?;
                    for (m, _) in arms {
                        add(from, me, m);
                    }
                }
                _ => return None,
            }
        }
    }
    Some(Plan { roles, pairs })
}

impl Plan {
    /// The enum of the labels `from` sends `to`.
    fn pair_enum(&self, from: usize, to: usize) -> Ident {
        let name = |i: usize| self.roles.get(i).map_or("Role", String::as_str);
        format_ident!("{}To{}", name(from), name(to))
    }

    fn role_variant(&self, role: usize) -> Ident {
        format_ident!("{}", self.roles.get(role).map_or("Role", String::as_str))
    }

    fn role_struct(&self, role: usize) -> Ident {
        format_ident!(
            "{}Lanes",
            self.roles.get(role).map_or("Role", String::as_str)
        )
    }

    /// The function that picks the sender's end of the `from` → `to` lane.
    fn tx_fn(from: usize, to: usize) -> Ident {
        format_ident!("tx_{}_{}", from, to)
    }

    /// The function that picks the receiver's end of the `from` → `to` lane.
    fn rx_fn(from: usize, to: usize) -> Ident {
        format_ident!("rx_{}_{}", from, to)
    }

    /// The field of a role's lanes that sends to `to`.
    fn to_field(to: usize) -> Ident {
        format_ident!("to_r{}", to)
    }

    /// The field of a role's lanes that receives from `from`.
    fn from_field(from: usize) -> Ident {
        format_ident!("from_r{}", from)
    }

    fn role_index(&self, name: &str) -> usize {
        self.roles.iter().position(|r| r == name).unwrap_or(0)
    }

    /// The protocol module's `lanes` module: the pair enums, each role's
    /// lanes, and `attach` (what `sessions()` calls).
    pub(super) fn module(&self) -> TokenStream {
        // Each pair is one invocation of `lane_pair!` (defined at the top
        // of `lanes`): its labels as `Name wire` lists, payload labels
        // then unit labels, instead of four match arms per label written
        // out here (the arms were most of the tokens of a long protocol).
        let enums = self.pairs.iter().map(|(&(from, to), labels)| {
            let name = self.pair_enum(from, to);
            let doc = Literal::string(&format!(
                " What {} sends {} on their lane: one variant per label.",
                self.roles.get(from).map_or("", String::as_str),
                self.roles.get(to).map_or("", String::as_str)
            ));
            let payloads = labels
                .iter()
                .filter(|(_, (_, unit))| !*unit)
                .map(|(wire, (l, _))| {
                    let wire = Literal::u16_unsuffixed(*wire);
                    quote!(#l #wire)
                });
            let units = labels
                .iter()
                .filter(|(_, (_, unit))| *unit)
                .map(|(wire, (l, _))| {
                    let wire = Literal::u16_unsuffixed(*wire);
                    quote!(#l #wire)
                });
            let (tx, rx) = (Self::tx_fn(from, to), Self::rx_fn(from, to));
            let (sender, receiver) = (self.role_variant(from), self.role_variant(to));
            let (to_field, from_field) = (Self::to_field(to), Self::from_field(from));
            quote! {
                lane_pair!(#name #doc #tx #rx #sender #to_field #receiver #from_field; #(#payloads),*; #(#units),*);
            }
        });
        let roles = (0..self.roles.len()).map(|me| {
            let name = self.role_struct(me);
            let doc = format!(
                " The lanes of {}.",
                self.roles.get(me).map_or("", String::as_str)
            );
            let sends = self.pairs.keys().filter(|(f, _)| *f == me).map(|&(f, t)| {
                let field = Self::to_field(t);
                let e = self.pair_enum(f, t);
                quote!(pub #field: rt::lane::LaneTx<#e>)
            });
            let recvs = self.pairs.keys().filter(|(_, t)| *t == me).map(|&(f, t)| {
                let field = Self::from_field(f);
                let e = self.pair_enum(f, t);
                quote!(pub #field: rt::lane::LaneRx<#e>)
            });
            quote! {
                #[doc = #doc]
                pub struct #name { #(#sends,)* #(#recvs,)* }
            }
        });
        let variants = (0..self.roles.len()).map(|r| {
            let v = self.role_variant(r);
            let s = self.role_struct(r);
            quote!(#v(#s))
        });
        let finish_arms = (0..self.roles.len()).map(|me| {
            let v = self.role_variant(me);
            let checks = self.pairs.keys().filter(|(_, t)| *t == me).map(|&(f, _)| {
                let field = Self::from_field(f);
                let f = u16::try_from(f).unwrap_or(u16::MAX);
                quote! {
                    if let Some(m) = l.#field.try_recv() {
                        return Err(rt::lane::orphan(session, rt::RoleId::single(rt::Role(#f)), m.label()));
                    }
                }
            });
            quote!(Lanes::#v(l) => { #(#checks)* })
        });
        let makes = self.pairs.keys().map(|&(f, t)| {
            let tx = format_ident!("s_{}_{}", f, t);
            let rx = format_ident!("r_{}_{}", f, t);
            quote!(let (#tx, #rx) = rt::lane::lane();)
        });
        let builds = (0..self.roles.len()).map(|me| {
            let v = self.role_variant(me);
            let s = self.role_struct(me);
            let var = format_ident!("r{}", me);
            let sends = self.pairs.keys().filter(|(f, _)| *f == me).map(|&(f, t)| {
                let field = Self::to_field(t);
                let tx = format_ident!("s_{}_{}", f, t);
                quote!(#field: #tx)
            });
            let recvs = self.pairs.keys().filter(|(_, t)| *t == me).map(|&(f, t)| {
                let field = Self::from_field(f);
                let rx = format_ident!("r_{}_{}", f, t);
                quote!(#field: #rx)
            });
            quote!(let mut #var = Some(Lanes::#v(#s { #(#sends,)* #(#recvs,)* }));)
        });
        let picks = (0..self.roles.len()).map(|me| {
            let var = format_ident!("r{}", me);
            let me = u16::try_from(me).unwrap_or(u16::MAX);
            quote!(#me => #var.take())
        });
        // `lane_pair!` only when some pair carries a label (an unused
        // macro would warn in the user's crate).
        let pair_macro = if self.pairs.is_empty() {
            TokenStream::new()
        } else {
            quote! {
                /// One ordered pair's lane: the enum of its labels (`$l`/`$w`: labels with a payload and their wire numbers; `$u`/`$uw`: unit labels), its `LaneMessage` impl, and the functions picking the sender's and the receiver's end from a role's `Lanes`.
                macro_rules! lane_pair {
                    ($name:ident $doc:literal $tx:ident $rx:ident $sender:ident $to:ident $receiver:ident $from:ident; $($l:ident $w:literal),*; $($u:ident $uw:literal),*) => {
                        #[doc = $doc]
                        pub enum $name { $($l(super::labels::$l),)* $($u(super::labels::$u),)* }
                        impl $name {
                            /// The label's wire number (for errors).
                            pub fn label(&self) -> rt::Label {
                                match self { $($name::$l(_) => rt::Label($w),)* $($name::$u(_) => rt::Label($uw),)* }
                            }
                        }
                        impl rt::typestate::LaneMessage for $name {
                            fn label(&self) -> rt::Label {
                                $name::label(self)
                            }
                            fn into_value<V: 'static>(self) -> Option<V> {
                                match self { $($name::$l(m) => rt::typestate::cast(m.0),)* $($name::$u(_) => rt::typestate::cast(()),)* }
                            }
                            fn prepare_session<T: rt::Transport>(self, session: &mut rt::Session<T>, to: rt::RoleId) -> rt::typestate::PreparedSend {
                                match self {
                                    $($name::$l(m) => rt::typestate::prepare_send(session, to, rt::Label($w), m.0),)*
                                    $($name::$u(_) => rt::typestate::prepare_send(session, to, rt::Label($uw), ()),)*
                                }
                            }
                        }
                        /// The sender's end of this lane, if these are the sender's lanes.
                        pub fn $tx(l: &Lanes) -> Option<&rt::lane::LaneTx<$name>> {
                            match l { Lanes::$sender(l) => Some(&l.$to), _ => None }
                        }
                        /// The receiver's end of this lane, if these are the receiver's lanes.
                        pub fn $rx(l: &mut Lanes) -> Option<&mut rt::lane::LaneRx<$name>> {
                            match l { Lanes::$receiver(l) => Some(&mut l.$from), _ => None }
                        }
                    };
                }
            }
        };
        quote! {
            /// The in-memory fast lane (`rt::lane`): one enum per ordered pair of roles, whose variants are the labels that pair carries, payloads by value; `sessions()` gives each endpoint its role's lanes, and the typestates send and receive on them when they have them.
            pub mod lanes {
                use super::rt;
                #pair_macro
                #(#enums)*
                #(#roles)*
                /// One role's lanes (what a session carries until its typestate takes them).
                pub enum Lanes { #(#variants,)* }
                impl Lanes {
                    /// `finish`'s check on the lanes: a message that arrived and was never received is an orphan.
                    pub fn finish<T: rt::Transport>(&mut self, session: &rt::Session<T>) -> Result<(), rt::Error> {
                        match self { #(#finish_arms)* }
                        Ok(())
                    }
                }
                /// Gives every session of a fresh in-memory network its role's lanes.
                pub fn attach(sessions: &mut [rt::Session<rt::MemoryTransport>]) {
                    #(#makes)*
                    #(#builds)*
                    for s in sessions.iter_mut() {
                        let lanes = match s.me().role.0 { #(#picks,)* _ => None };
                        if let Some(l) = lanes {
                            s.transport_mut().attach_lanes(Box::new(l));
                        }
                    }
                }
            }
        }
    }

    /// The pattern of `role`'s lanes in `chan.lanes`.
    fn mine(&self, role: &str) -> TokenStream {
        let v = self.role_variant(self.role_index(role));
        quote!(super::lanes::Lanes::#v)
    }

    /// What `rt::typestate::send_lane` needs to send from `me` to `to`:
    /// the `lanes` function picking the lane, and the pair's lane enum
    /// (the message is its variant named after the label).
    pub(super) fn sender_lane(&self, me: &str, to: &Peer) -> Option<(Ident, Ident)> {
        let Peer::Role(to) = to else { return None };
        let (me_i, to_i) = (self.role_index(me), self.role_index(to));
        Some((Self::tx_fn(me_i, to_i), self.pair_enum(me_i, to_i)))
    }

    /// What `rt::typestate::recv_lane` needs to receive from `from` as
    /// `me`: the `lanes` function picking the lane, and the pair's lane
    /// enum (named in the receive future's type).
    pub(super) fn receiver_lane(&self, me: &str, from: &Peer) -> Option<(Ident, Ident)> {
        let Peer::Role(from) = from else { return None };
        let (from_i, me_i) = (self.role_index(from), self.role_index(me));
        Some((Self::rx_fn(from_i, me_i), self.pair_enum(from_i, me_i)))
    }

    /// `send`'s lane path: hand `m` to the peer's lane.
    pub(super) fn send(&self, me: &str, to: &Peer, ty: &Ident) -> Option<TokenStream> {
        let Peer::Role(to) = to else { return None };
        let (me_i, to_i) = (self.role_index(me), self.role_index(to));
        let mine = self.mine(me);
        let field = Self::to_field(to_i);
        let e = self.pair_enum(me_i, to_i);
        Some(quote! {
            if let Some(#mine(l)) = chan.lanes.as_deref() {
                l.#field.send(super::lanes::#e::#ty(m));
            } else
        })
    }

    /// A receive's lane path: `arms` maps each expected variant to the
    /// method's result; anything else is an error.
    pub(super) fn recv(
        &self,
        me: &str,
        from: &Peer,
        peer: &TokenStream,
        wires: &[TokenStream],
        arms: Vec<(Ident, TokenStream)>,
    ) -> Option<TokenStream> {
        let Peer::Role(from) = from else { return None };
        let (me_i, from_i) = (self.role_index(me), self.role_index(from));
        let mine = self.mine(me);
        let field = Self::from_field(from_i);
        let e = self.pair_enum(from_i, me_i);
        let arms = arms
            .into_iter()
            .map(|(v, result)| quote!(Some(super::lanes::#e::#v(m)) => #result));
        Some(quote! {
            if let Some(#mine(l)) = chan.lanes.as_deref_mut() {
                let got = l.#field.recv().await;
                return match got {
                    #(#arms,)*
                    Some(other) => Err(rt::lane::unexpected(&chan.session, #peer, &[#(#wires),*], other.label())),
                    None => Err(rt::lane::closed(&chan.session, #peer, &[#(#wires),*])),
                };
            }
        })
    }
}
