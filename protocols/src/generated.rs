//! Endpoints for the mission protocols, generated at build time from
//! `protocols/choreo/*.choreo` by `choreography!(file = …)`. No hand-written
//! endpoint code: edit a `.choreo` file and this rebuilds.
//!
//! One module per protocol: `dkg`, `reshare`, `refresh`, `consensus`,
//! `fast_path`, `consensus_fallback`, `guardian_binding`, `recovery`,
//! `recovery_cancel`, `recovery_grant`, `guardian_handoff`, `epoch_bump`, `channel_root`,
//! `channel_stream`.

use choreo_macros::choreography;

choreography!(file = "choreo/dkg.choreo");
choreography!(file = "choreo/reshare.choreo");
choreography!(file = "choreo/consensus.choreo");
choreography!(file = "choreo/consensus_fallback.choreo");
choreography!(file = "choreo/guardian_binding.choreo");
choreography!(file = "choreo/recovery.choreo");
choreography!(file = "choreo/epoch_bump.choreo");
choreography!(file = "choreo/amp_channel.choreo");
