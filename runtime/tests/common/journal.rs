//! Facts for journal tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use choreo_runtime::journal::{author_of, Fact, FactBody, ScopeId, VerifiedFact};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

pub const SCOPE: ScopeId = ScopeId([7; 32]);

/// A test payload: a counter and some text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub n: u64,
    pub text: String,
}

impl FactBody for Note {
    const KIND: &'static str = "test.note";
    const VERSION: u16 = 1;
}

pub fn device(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn note(key: &SigningKey, n: u64, text: &str) -> VerifiedFact {
    Fact::new(
        SCOPE,
        author_of(key),
        &Note {
            n,
            text: text.to_owned(),
        },
    )
    .unwrap()
    .sign(key)
    .unwrap()
}

/// `count` distinct facts from three devices.
pub fn notes(count: u64) -> Vec<VerifiedFact> {
    let keys = [device(1), device(2), device(3)];
    (0..count)
        .map(|i| note(&keys[(i % 3) as usize], i, &format!("note {i}")))
        .collect()
}
