//! Property tests of the wire codec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use choreo_runtime::{Envelope, Label, Payload, Role, RoleId, SessionId};
use proptest::prelude::*;

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        any::<u16>(),
        any::<Option<u32>>(),
        any::<u16>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(s, f, role, index, label, phase, payload)| Envelope {
            session: SessionId(s),
            fingerprint: f,
            sender: RoleId {
                role: Role(role),
                index,
            },
            label: Label(label),
            phase,
            payload: Payload::from_bytes(&payload),
        })
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Mostly well-versioned, to get past the first check.
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|mut v| { v.insert(0, 1); v }),
    ]) {
        if let Ok(env) = Envelope::decode(&bytes) {
            // Whatever decodes re-encodes to the same bytes (canonical form).
            prop_assert_eq!(env.encode(), bytes);
            let _ = env.payload.decode::<(u64, String, Vec<u32>)>();
        }
    }

    #[test]
    fn encode_then_decode_is_identity(env in envelope()) {
        prop_assert_eq!(Envelope::decode(&env.encode()).unwrap(), env);
    }

    #[test]
    fn payload_round_trips(v in any::<(u64, String, Vec<i32>, Option<bool>)>()) {
        let p = Payload::encode(&v).unwrap();
        prop_assert_eq!(p.decode::<(u64, String, Vec<i32>, Option<bool>)>().unwrap(), v);
    }

    #[test]
    fn decoding_arbitrary_payload_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let p = Payload::from_bytes(&bytes);
        let _ = p.decode::<(u64, String, Vec<u32>)>();
        let _ = p.decode::<Vec<Vec<u8>>>();
    }
}
