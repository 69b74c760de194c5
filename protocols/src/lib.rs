//! The aura protocols. Crypto state machines land here.
