//! Diagnostic codes of code generation (E05xx).

/// A payload type that Rust cannot write (a reserved word as a name).
pub const BAD_PAYLOAD_TYPE: &str = "E0501";
/// A local type the generator cannot turn into states (a `continue` with
/// no enclosing `rec`); reaching it means an earlier phase let it through.
pub const UNBOUND_CONTINUE: &str = "E0502";
/// A protocol in the requested files that has no projection.
pub const NOT_PROJECTED: &str = "E0503";
/// Two declarations that would become Rust items of the same name.
pub const NAME_CLASH: &str = "E0504";
/// A payload type no value of which can be a message.
pub const NEVER_A_MESSAGE: &str = "E0505";

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
    (
        "E0504",
        "Two declarations would become Rust items of the same name, which Rust rejects. A \
         protocol becomes a module named by its snake_case name, and each role a module inside \
         it (a family member named by index adds `_<index>`: `node_0`), beside the items every \
         protocol module has (`labels`, `lanes`, `rt`). So `HTTPServer` and `HttpServer` are \
         both `http_server`, and a role `Labels` would be a second `labels`. A protocol named \
         `Std`, `Core` or `Alloc` would hide that standard crate where the macro is invoked. \
         The error points at the later declaration and names the earlier one; rename one of \
         them.",
    ),
    (
        "E0505",
        "No value of this payload type can ever be a message. A payload is sent serialised and \
         received as an owned value (`Serialize + DeserializeOwned + Send + 'static`), so a \
         reference (`&str`), a raw pointer, a function pointer, `!` or an unsized type (`[T]`, \
         `dyn Trait`), as the payload or as an element of a tuple or array, cannot be one. The \
         error points at that part; use an owned type (`String`, `Vec<T>`, `Box<dyn Trait>`).",
    ),
];
