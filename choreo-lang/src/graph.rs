//! Diagrams: the global protocol as a sequence diagram, a local type as a
//! state machine; mermaid and Graphviz DOT.

use crate::{global::GlobalProtocol, local::LocalProtocol};

pub fn global_mermaid(protocol: &GlobalProtocol) -> String {
    let _ = protocol;
    String::new() // placeholder until the projection engineer lands diagrams
}

pub fn global_dot(protocol: &GlobalProtocol) -> String {
    let _ = protocol;
    String::new() // placeholder
}

pub fn local_mermaid(local: &LocalProtocol) -> String {
    let _ = local;
    String::new() // placeholder
}

pub fn local_dot(local: &LocalProtocol) -> String {
    let _ = local;
    String::new() // placeholder
}
