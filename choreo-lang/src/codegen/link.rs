//! `link Sub(…)`: the generated `join`, which runs the join handshake
//! (`choreo_runtime::link`) and, when `Sub` is generated beside the linking
//! protocol, opens `Sub`'s endpoint for the same role.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use crate::machine::{Header, LinkSite, Participant, ProtocolMachines, Size, Target, END};
use crate::span::FileId;

use super::names::{ident, protocol_module_ident, role_module_ident};
use super::{role_index, size_tokens};

/// What the code of one protocol may link to with a typed entry: the
/// machines of every protocol, and the files whose protocols are generated
/// in the same output (their modules are siblings).
#[derive(Clone, Copy, Debug)]
pub struct Linkable<'a> {
    /// Every protocol's machine phase output, in id order.
    pub machines: &'a [ProtocolMachines],
    /// Files generated together.
    pub generated: &'a [FileId],
}

/// The pieces of a `join` method.
pub(super) struct Join {
    /// `static TARGET: rt::link::LinkTarget = …;`
    pub target: TokenStream,
    /// The typed entry, if `Sub` is generated beside this protocol and this
    /// role's part of it has one local type.
    pub typed: Option<Typed>,
}

pub(super) struct Typed {
    /// `super::super::sub::role`
    pub module: TokenStream,
    /// `super::super::sub`
    pub protocol_module: TokenStream,
    /// The entry state's type name.
    pub entry: Ident,
    /// The role's sends are guarded in `Sub`.
    pub guarded: bool,
    /// `Sub::Params { … }`, built from `chan`.
    pub params: TokenStream,
}

/// Plans the `join` of the `link` statement `site` (found by its location
/// among the protocol's link sites), played by `me` of `protocol`.
/// `join_wire` is the handshake's label number.
pub(super) fn plan(
    protocol: &Header,
    me: &Target,
    site: Option<&LinkSite>,
    module: &str,
    sub: &str,
    join_wire: u16,
    linkable: &Linkable<'_>,
) -> Join {
    let fingerprint = site.map_or([0; 32], |l| l.fingerprint);
    let fp = fingerprint.iter().map(|b| Literal::u8_unsuffixed(*b));
    let roles: &[Participant] = site.map_or(&[], |l| &l.roles);
    let args = roles.iter().map(|p| match p {
        Participant::Member(r, k) => {
            let i = role_index(protocol, r);
            let k = Literal::u32_unsuffixed(u32::try_from(*k).unwrap_or(u32::MAX));
            quote!(rt::link::LinkArg::Instance(rt::RoleId { role: rt::Role(#i), index: Some(#k) }))
        }
        Participant::All(r) => {
            let i = role_index(protocol, r);
            quote!(rt::link::LinkArg::Family(rt::Role(#i)))
        }
        Participant::Role(r) => {
            let i = role_index(protocol, r);
            if protocol.role(r).is_some_and(|info| info.family.is_some()) {
                quote!(rt::link::LinkArg::Family(rt::Role(#i)))
            } else {
                quote!(rt::link::LinkArg::Instance(rt::RoleId { role: rt::Role(#i), index: None }))
            }
        }
    });
    let target = quote! {
        static TARGET: rt::link::LinkTarget = rt::link::LinkTarget {
            module: #module,
            protocol: #sub,
            fingerprint: [#(#fp),*],
            args: &[#(#args),*],
            join_label: rt::Label(#join_wire),
        };
    };
    let typed = site.and_then(|l| typed_entry(protocol, me, l, sub, linkable));
    Join { target, typed }
}

/// `Sub`'s entry for the role this endpoint plays, when `Sub` is generated
/// in the same output and that role has one local type there.
fn typed_entry(
    protocol: &Header,
    me: &Target,
    site: &LinkSite,
    sub: &str,
    linkable: &Linkable<'_>,
) -> Option<Typed> {
    let (roles, link_params) = (&site.roles, &site.params);
    let target = site.target?;
    let sub_machines = linkable.machines.iter().find(|m| m.id == target)?;
    let sub_protocol = &sub_machines.header;
    let generated = sub_protocol
        .files
        .iter()
        .any(|f| linkable.generated.contains(f));
    if !generated {
        return None;
    }
    let projected = sub_machines.roles.as_ref()?;
    // Which argument this role is, and so which role of `Sub` it plays.
    let (my_role, my_index) = match me {
        Target::Role(r) | Target::Family(r) => (r.as_str(), None),
        Target::Member(r, i) => (r.as_str(), Some(*i)),
    };
    let position = roles.iter().position(|p| match p {
        Participant::Role(r) | Participant::All(r) => r == my_role,
        Participant::Member(r, k) => r == my_role && Some(*k) == my_index,
    })?;
    let sub_role = sub_protocol.roles.get(position)?;
    let arg = roles.get(position)?;
    let sub_target = match (arg, &sub_role.family) {
        (Participant::Member(..), None) => Target::Role(sub_role.name.clone()),
        (_, None) => Target::Role(sub_role.name.clone()),
        (_, Some(_)) => match me {
            Target::Member(_, i) => {
                let member = Target::Member(sub_role.name.clone(), *i);
                if projected.iter().any(|l| l.target == member) {
                    member
                } else {
                    Target::Family(sub_role.name.clone())
                }
            }
            _ => Target::Family(sub_role.name.clone()),
        },
    };
    // A uniform family whose members `Sub` treats differently has no one
    // entry type.
    if matches!(me, Target::Family(_))
        && projected
            .iter()
            .any(|l| matches!(&l.target, Target::Member(r, _) if *r == sub_role.name))
    {
        return None;
    }
    let local = projected.iter().find(|l| l.target == sub_target)?;
    let machine = local.machine.as_ref().ok()?;
    let entry = if machine.entry == END {
        quote::format_ident!("End")
    } else {
        quote::format_ident!("S0")
    };
    let sub_mod = protocol_module_ident(sub);
    let role_mod = role_module_ident(&sub_target);
    // `Sub`'s parameters: one sizing a family is that argument's family
    // size; the others follow the link's `; …` arguments in order.
    let mut rest = link_params.iter();
    let fields = sub_protocol.params.iter().map(|p| {
        let field = ident(p);
        let sizing = sub_protocol
            .roles
            .iter()
            .position(|r| r.family == Some(Size::Param(p.clone())));
        let value = match sizing.and_then(|j| roles.get(j)) {
            Some(Participant::Role(r) | Participant::All(r)) => {
                let i = role_index(protocol, r);
                quote!(chan.session.family_size(rt::Role(#i))?)
            }
            _ => match rest.next() {
                Some(size) => size_tokens(size, quote!(chan.params)),
                None => quote!(0),
            },
        };
        quote!(#field: #value)
    });
    let fields: Vec<TokenStream> = fields.collect();
    Some(Typed {
        module: quote!(super::super::#sub_mod::#role_mod),
        protocol_module: quote!(super::super::#sub_mod),
        entry,
        guarded: machine.is_guarded(),
        params: quote!(super::super::#sub_mod::Params { #(#fields),* }),
    })
}
