//! Diagnostic codes of projection (E04xx).

/// A role cannot tell the branches of a choice apart.
pub const KNOWLEDGE_OF_CHOICE: &str = "E0401";
/// The chooser does not start some branch by sending.
pub const CHOOSER_NOT_SENDING: &str = "E0402";
/// A role cannot start a timeout handler by sending.
pub const HANDLER_NOT_SENDING: &str = "E0403";
/// A role not passed to a `link` still acts after the link point.
pub const ACTIVE_AT_LINK: &str = "E0404";
/// The role that receives a delegation acts on its own afterwards.
pub const DELEGATE_TARGET_ACTS: &str = "E0405";
/// A `delegate` changes who plays a role on only some paths.
pub const DELEGATE_ON_SOME_PATHS: &str = "E0406";

/// Merging a choice would make a role's projection unreasonably large.
pub const PROJECTION_TOO_LARGE: &str = "E0407";

pub const EXPLANATIONS: &[(&str, &str)] = &[
    (
        "E0401",
        "A role other than the chooser behaves differently in two branches of a \
         `choice` but receives nothing that tells it which branch was taken \
         (knowledge of choice). Its projections of the branches must be equal, or \
         start by receiving messages with different labels from the same sender \
         (full merge, the language contract §5). Fix: have the chooser (or a role that knows) \
         send the role a distinct message at the start of each branch, e.g. \
         `A -> C : Right;` in branch `Right`.",
    ),
    (
        "E0402",
        "The chooser of a `choice` must start every branch by sending (a `send`, \
         `send all`, `select`, `exchange` or `link`, possibly inside a `rec`, \
         `timeout` or every branch of a `par`): that first message is how the other \
         roles learn the decision. Fix: make the chooser's first action in the \
         branch a message it sends.",
    ),
    (
        "E0403",
        "Every role that takes part in a `timeout` handler must be able to start the \
         handler alone, so its projection of the handler must start by sending (a \
         `link` counts: its join handshake sends first). Otherwise a role whose \
         deadline passed would wait for a message nobody sends. Fix: reorder the \
         handler so each participating role sends first, or `link` to a fallback \
         protocol.",
    ),
    (
        "E0404",
        "A `link` hands the listed roles over to another protocol. Every role of the \
         current protocol that is not passed to it must have finished by then: \
         nothing may remain in its projection after the link point. Fix: pass the \
         role to the linked protocol, or move its remaining interactions before the \
         `link`.",
    ),
    (
        "E0405",
        "After `delegate R to S;`, S plays the rest of R's part and takes no part of \
         its own. A statement after the delegation that still names S would need S \
         to play two roles at once. Fix: delegate to a role that has finished, or \
         move the statement before the `delegate`.",
    ),
    (
        "E0406",
        "A `delegate` must change who plays a role on every path alike: every branch \
         of a `choice` that continues after it delegates the same way, a `rec` \
         repeats (`continue`) with the same roles it started with (delegating on a \
         path that leaves the loop is fine), and no delegation happens inside a \
         `par` or `timeout` (where it would hold on some interleavings or outcomes \
         only). Fix: move the `delegate` after the compound statement, or repeat it \
         in every branch.",
    ),
    (
        "E0407",
        "When a role's branch projections continue differently after a reception, \
         the full merge gives every arm its own copy of its continuation. Choices \
         nested inside such continuations multiply the copies, and a small protocol \
         can project to an exponentially large local type. Projection stops past a \
         fixed budget (200,000 actions per role). Fix: let the role continue the \
         same way after nested choices (a common continuation stays after the \
         merged `branch`), or split the protocol with `link`.",
    ),
];
