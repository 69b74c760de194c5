//! The roster: which role instances take part in a session, and the dense
//! peer number of each.

use crate::error::{Error, UsageError};
use crate::ids::{PeerId, Role, RoleId};

/// Whether a role is single or a family of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleShape {
    /// A single role (`Initiator`).
    Single,
    /// A family (`Witness[n]`) with `n` members, known at session start.
    Family(u32),
}

/// Role instances of one session, in a fixed order: role 0's instances,
/// then role 1's, and so on; family members in index order. The position of
/// an instance is its [`PeerId`]. Every participant must build the same
/// roster (same shapes), so peer numbers agree.
///
/// Mapping a `PeerId` to a network address is the transport's business
/// (TCP transports take an address table indexed by `PeerId`).
#[derive(Clone, Debug)]
pub struct Roster {
    shapes: Vec<RoleShape>,
    /// Per role: (first peer number, family size or `None` for a single role).
    slots: Vec<(u32, Option<u32>)>,
    instances: Vec<RoleId>,
}

impl Roster {
    /// One shape per role of the protocol, in [`ProtocolInfo::roles`](crate::ProtocolInfo)
    /// order.
    pub fn new(shapes: &[RoleShape]) -> Result<Self, Error> {
        let mut slots = Vec::with_capacity(shapes.len());
        let mut instances = Vec::new();
        for (r, shape) in shapes.iter().enumerate() {
            let role = Role(u16::try_from(r).map_err(|_| UsageError::RosterTooLarge)?);
            let offset = u32::try_from(instances.len()).map_err(|_| UsageError::RosterTooLarge)?;
            slots.push((
                offset,
                match *shape {
                    RoleShape::Single => None,
                    RoleShape::Family(n) => Some(n),
                },
            ));
            match *shape {
                RoleShape::Single => instances.push(RoleId::single(role)),
                RoleShape::Family(n) => instances.extend((0..n).map(|i| RoleId::member(role, i))),
            }
        }
        u32::try_from(instances.len()).map_err(|_| UsageError::RosterTooLarge)?;
        Ok(Self {
            shapes: shapes.to_vec(),
            slots,
            instances,
        })
    }

    /// Number of role instances (= number of transport peers).
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// True if the roster has no instances.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Number of roles (single or family).
    pub fn role_count(&self) -> usize {
        self.shapes.len()
    }

    /// All instances in peer order.
    pub fn instances(&self) -> &[RoleId] {
        &self.instances
    }

    /// The shape of `role`, if it exists.
    pub fn shape(&self, role: Role) -> Option<RoleShape> {
        self.shapes.get(usize::from(role.0)).copied()
    }

    /// Size of family `role`; `None` if `role` is unknown or single.
    pub fn family_size(&self, role: Role) -> Option<u32> {
        match self.shape(role)? {
            RoleShape::Family(n) => Some(n),
            RoleShape::Single => None,
        }
    }

    /// The peer number of an instance; `None` if it is not in the roster
    /// (unknown role, index on a single role, index out of range, or a
    /// family named without an index).
    #[inline]
    pub fn peer(&self, id: RoleId) -> Option<PeerId> {
        match (self.slots.get(usize::from(id.role.0))?, id.index) {
            ((offset, None), None) => Some(PeerId(*offset)),
            ((offset, Some(n)), Some(i)) if i < *n => Some(PeerId(offset + i)),
            _ => None,
        }
    }

    /// The instance behind a peer number.
    #[inline]
    pub fn instance(&self, peer: PeerId) -> Option<RoleId> {
        self.instances.get(peer.as_usize()).copied()
    }
}
