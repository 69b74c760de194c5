//! The faults `aura-node sim --faults` injects.

use std::collections::BTreeSet;
use std::fmt;

use crate::NodeError;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Frames are lost (up to 15%).
    Drop,
    /// Frames take longer (latency and jitter up to 200 ms each).
    Delay,
    /// Frames overtake each other (up to 20% held back).
    Reorder,
    /// Frames arrive twice (up to 10%).
    Duplicate,
    /// The nodes split into two groups for up to 4 s, then heal.
    Partition,
    /// The initiator (or a dealer, in reshare) crashes mid-run.
    InitiatorCrash,
    /// One witness (a participant other than the initiator) crashes.
    WitnessCrash,
    /// One witness signs two results for one prestate.
    Equivocate,
}

const NAMES: [(&str, Fault); 8] = [
    ("drop", Fault::Drop),
    ("delay", Fault::Delay),
    ("reorder", Fault::Reorder),
    ("duplicate", Fault::Duplicate),
    ("partition", Fault::Partition),
    ("initiator-crash", Fault::InitiatorCrash),
    ("witness-crash", Fault::WitnessCrash),
    ("equivocate", Fault::Equivocate),
];

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = NAMES
            .iter()
            .find(|(_, k)| k == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

/// A set of faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Faults::default()
    }

    /// Every fault.
    pub fn all() -> Self {
        Faults(NAMES.iter().map(|(_, f)| *f).collect())
    }

    /// Parse `--faults` items (`all`, or names; empty items are ignored).
    pub fn parse(items: &[String]) -> Result<Self, NodeError> {
        let mut set = BTreeSet::new();
        for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if item == "all" {
                return Ok(Faults::all());
            }
            let fault = NAMES
                .iter()
                .find(|(n, _)| *n == item || n.replace('-', "_") == item)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                    NodeError::Usage(format!(
                        "unknown fault `{item}`; known: {}, or all",
                        known.join(", ")
                    ))
                })?;
            set.insert(fault);
        }
        Ok(Faults(set))
    }

    /// Whether `fault` is on.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// With `fault` added.
    pub fn with(mut self, fault: Fault) -> Self {
        self.0.insert(fault);
        self
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<String> = self.0.iter().map(Fault::to_string).collect();
        f.write_str(&names.join(","))
    }
}
