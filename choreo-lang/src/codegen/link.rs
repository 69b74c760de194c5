//! `link Sub(…)`: the generated `join`, which runs the join handshake
//! (`choreo_runtime::link`) and, when `Sub` is generated beside the linking
//! protocol, opens `Sub`'s endpoint for the same role.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use crate::global::{GStmt, GlobalProtocol, Loc, Participant, Size};
use crate::local::Projected;
use crate::local::Target;
use crate::machine::{Machine, END};
use crate::span::FileId;

use super::names::{ident, snake};
use super::{role_index, size_tokens};

/// What the code of one protocol may link to with a typed entry: the
/// projections of every protocol, and the files whose protocols are
/// generated in the same output (their modules are siblings).
#[derive(Clone, Copy, Debug)]
pub struct Linkable<'a> {
    /// Every protocol's projections.
    pub projections: &'a [Projected],
    /// Files generated together.
    pub generated: &'a [FileId],
}

/// The `link` statement at `loc` in `protocol` (inlined calls keep their
/// own locations, so this finds links that came from a `call` too).
fn find_link(body: &[GStmt], loc: Loc) -> Option<&GStmt> {
    for stmt in body {
        let found = match stmt {
            GStmt::Link { loc: l, .. } if *l == loc => return Some(stmt),
            GStmt::Choice { branches, .. } => branches.iter().find_map(|b| find_link(&b.body, loc)),
            GStmt::Rec { body, .. } => find_link(body, loc),
            GStmt::Par { branches, .. } => branches.iter().find_map(|b| find_link(b, loc)),
            GStmt::Timeout { body, handler, .. } => {
                find_link(body, loc).or_else(|| find_link(handler, loc))
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
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

/// Plans the `join` of the `link` at `loc`, played by `target` of
/// `protocol`. `join_wire` is the handshake's label number.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    program: &crate::global::CheckedProgram,
    protocol: &GlobalProtocol,
    me: &Target,
    loc: Loc,
    module: &str,
    sub: &str,
    fingerprint: &[u8; 32],
    join_wire: u16,
    linkable: &Linkable<'_>,
) -> Join {
    let fp = fingerprint.iter().map(|b| Literal::u8_unsuffixed(*b));
    let link = find_link(&protocol.body, loc);
    let (roles, params): (&[Participant], &[Size]) = match link {
        Some(GStmt::Link { roles, params, .. }) => (roles, params),
        _ => (&[], &[]),
    };
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
    let typed = typed_entry(program, protocol, me, roles, params, module, sub, linkable);
    Join { target, typed }
}

/// `Sub`'s entry for the role this endpoint plays, when `Sub` is generated
/// in the same output and that role has one local type there.
#[allow(clippy::too_many_arguments)]
fn typed_entry(
    program: &crate::global::CheckedProgram,
    protocol: &GlobalProtocol,
    me: &Target,
    roles: &[Participant],
    link_params: &[Size],
    module: &str,
    sub: &str,
    linkable: &Linkable<'_>,
) -> Option<Typed> {
    let sub_protocol = program.protocol(module, sub)?;
    let generated = program
        .modules
        .iter()
        .any(|m| m.name == module && linkable.generated.contains(&m.file));
    if !generated {
        return None;
    }
    let projected = crate::local::projection(linkable.projections, program.id_of(module, sub)?)?;
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
                if projected.locals.iter().any(|l| l.target == member) {
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
            .locals
            .iter()
            .any(|l| matches!(&l.target, Target::Member(r, _) if *r == sub_role.name))
    {
        return None;
    }
    let local = projected.locals.iter().find(|l| l.target == sub_target)?;
    let machine = Machine::build(&local.body).ok()?;
    let entry = if machine.entry == END {
        quote::format_ident!("End")
    } else {
        quote::format_ident!("S0")
    };
    let sub_mod = ident(&snake(sub));
    let role_mod = ident(&super::module_name(&sub_target));
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
