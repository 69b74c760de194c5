//! Property tests of the node frame codec and of the node's frame input:
//! no byte string panics either, and whatever decodes re-encodes to the
//! same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use choreo_runtime::node::wire::{NodeFrame, LINK_VERSION};
use choreo_runtime::node::{Node, NodeConfig, NodeId, Time};
use proptest::prelude::*;

fn frames() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Well-versioned link and envelope headers with a consistent
        // length, so decoding gets deep into the frame.
        (
            0u8..5,
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 61..61 + 40),
        )
            .prop_map(|(kind, seq, ack, rest)| {
                let mut v = vec![LINK_VERSION, kind];
                v.extend_from_slice(&(seq % 4).to_le_bytes());
                v.extend_from_slice(&ack.to_le_bytes());
                let payload = (rest.len() - 61) as u32;
                v.extend_from_slice(&payload.to_le_bytes());
                v.push(1);
                v.extend_from_slice(&rest);
                v
            }),
    ]
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_is_canonical(bytes in frames()) {
        if let Ok(frame) = NodeFrame::decode(&bytes) {
            prop_assert_eq!(frame.encode(), bytes);
        }
    }

    #[test]
    fn a_node_fed_arbitrary_frames_never_panics(frames in proptest::collection::vec(frames(), 1..20)) {
        let peer = NodeId([1; 32]);
        let mut node = Node::new(NodeId([2; 32]), NodeConfig { peers: vec![peer], ..NodeConfig::default() });
        for (i, f) in frames.iter().enumerate() {
            node.handle_frame(Time::from_micros(i as u64), peer, f);
            while node.poll_transmit(Time::from_micros(i as u64)).is_some() {}
        }
        node.handle_timeout(Time::from_micros(60_000_000));
        while node.poll_event().is_some() {}
        prop_assert!(node.stats().pending_frames <= node.config().pending.max_frames as u64);
    }
}
