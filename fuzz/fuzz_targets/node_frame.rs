//! Node frame and envelope decoding, and a node fed the bytes as frames
//! from a peer: must never panic, and whatever decodes must re-encode to
//! the same bytes. `cargo +nightly fuzz run node_frame` (see the book's
//! Transports chapter).
#![no_main]

use choreo_runtime::node::wire::NodeFrame;
use choreo_runtime::node::{Node, NodeConfig, NodeId, Time};
use choreo_runtime::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = NodeFrame::decode(data) {
        assert_eq!(frame.encode(), data, "node frame encoding is not canonical");
    }
    if let Ok(env) = Envelope::decode(data) {
        assert_eq!(env.encode(), data, "envelope encoding is not canonical");
    }
    // The same bytes as a stream of frames (split at every 0xFF byte) from
    // an allowed peer, with time passing between them.
    let peer = NodeId([1; 32]);
    let mut node = Node::new(
        NodeId([2; 32]),
        NodeConfig {
            peers: vec![peer],
            ..NodeConfig::default()
        },
    );
    for (i, chunk) in data.split(|b| *b == 0xFF).enumerate() {
        let now = Time::from_micros(i as u64 * 250_000);
        node.handle_frame(now, peer, chunk);
        while node.poll_transmit(now).is_some() {}
        node.handle_timeout(now);
    }
    while node.poll_event().is_some() {}
});
