//! Identifiers: roles, role instances, labels, peers, sessions, and the
//! static protocol descriptor that gives them names.

use std::fmt;

/// A role of a protocol (a single role like `Initiator` or a family like
/// `Witness`), interned as its position in [`ProtocolInfo::roles`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(pub u16);

/// A role instance: a single role (`index: None`) or one member of a family
/// (`Witness[2]` is `index: Some(2)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleId {
    /// The role (or family) this instance belongs to.
    pub role: Role,
    /// `None` for a single role, `Some(i)` for member `i` of a family.
    pub index: Option<u32>,
}

impl RoleId {
    /// The instance of a single (non-family) role.
    pub const fn single(role: Role) -> Self {
        Self { role, index: None }
    }

    /// Member `index` of family `role`.
    pub const fn member(role: Role, index: u32) -> Self {
        Self {
            role,
            index: Some(index),
        }
    }
}

/// A message label, interned as its position in [`ProtocolInfo::labels`].
/// The fingerprint fixes the protocol, so the number is unambiguous on the
/// wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub u16);

/// A transport-level peer: the dense position of a role instance in the
/// [`Roster`](crate::Roster). Transports map it to an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

impl PeerId {
    /// The peer number as a `usize`, for indexing transport tables.
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// A session identifier. Every run of a protocol gets a fresh one; an
/// envelope of another session is a protocol violation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 16]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}

pub(crate) fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

pub(crate) fn short_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Static description of one protocol, emitted once per protocol by the code
/// generator as a `static`. Role and label numbers index into its tables.
#[derive(Debug)]
pub struct ProtocolInfo {
    /// The protocol's name, for messages.
    pub name: &'static str,
    /// Hash of the protocol's canonical global type. Envelopes carry it; a
    /// mismatch means the peer runs another protocol (version).
    pub fingerprint: [u8; 32],
    /// Role names; `Role(i)` is `roles[i]`.
    pub roles: &'static [&'static str],
    /// Label names; `Label(i)` is `labels[i]`.
    pub labels: &'static [&'static str],
}

impl ProtocolInfo {
    /// `Witness[2]`, `Initiator`, or `role#7` for a number outside the table.
    pub fn role_name(&self, id: RoleId) -> String {
        let base = match self.roles.get(usize::from(id.role.0)) {
            Some(name) => (*name).to_owned(),
            None => format!("role#{}", id.role.0),
        };
        match id.index {
            Some(i) => format!("{base}[{i}]"),
            None => base,
        }
    }

    /// The family name, `Witness` (no index).
    pub fn family_name(&self, role: Role) -> String {
        self.role_name(RoleId::single(role))
    }

    /// `Ping`, or `label#9` for a number outside the table.
    pub fn label_name(&self, label: Label) -> String {
        match self.labels.get(usize::from(label.0)) {
            Some(name) => (*name).to_owned(),
            None => format!("label#{}", label.0),
        }
    }

    /// `Ping` or `one of Commit, Abort`.
    pub(crate) fn label_set(&self, labels: &[Label]) -> String {
        match labels {
            [] => "no further message (the session is finished)".to_owned(),
            [one] => format!("label {}", self.label_name(*one)),
            many => {
                let names: Vec<String> = many.iter().map(|l| self.label_name(*l)).collect();
                format!("one of labels {}", names.join(", "))
            }
        }
    }
}
