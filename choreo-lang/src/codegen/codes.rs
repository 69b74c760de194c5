//! Diagnostic codes of code generation (E05xx).

/// A payload type that Rust cannot write (a reserved word as a name).
pub const BAD_PAYLOAD_TYPE: &str = "E0501";
/// A local type the generator cannot turn into states (a `continue` with
/// no enclosing `rec`); reaching it means an earlier phase let it through.
pub const UNBOUND_CONTINUE: &str = "E0502";
/// A protocol in the requested files that has no projection.
pub const NOT_PROJECTED: &str = "E0503";

pub const EXPLANATIONS: &[(&str, &str)] = &[
    (
        "E0501",
        "A payload type is valid choreo type syntax but Rust cannot write it: a part of it is a \
         word Rust reserves (`move`, `match`, `type`, …), so no typed endpoint can be generated. \
         The error points at that word. Name the Rust item differently (or re-export it under \
         another name) and use that name in the payload.",
    ),
    (
        "E0502",
        "A `continue` names no enclosing `rec` in a projected local type. The checker rejects \
         this in source; seeing it from code generation is a compiler bug worth reporting.",
    ),
    (
        "E0503",
        "A protocol has no projection, so no endpoints were generated for it. The projection \
         errors reported with it say why; fix them and the module appears.",
    ),
];
