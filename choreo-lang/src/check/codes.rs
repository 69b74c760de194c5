//! Diagnostic codes of the checker (`E02xx` names and resolution, `E03xx`
//! static checks, `W02xx`/`W03xx` warnings) and their explanations for
//! `choreo explain`.

pub const UNDECLARED_ROLE: &str = "E0201";
pub const DUPLICATE_ROLE: &str = "E0202";
pub const UNKNOWN_MODULE: &str = "E0203";
pub const DUPLICATE_PROTOCOL: &str = "E0204";
pub const UNKNOWN_PROTOCOL: &str = "E0205";
pub const AMBIGUOUS_PROTOCOL: &str = "E0206";
pub const ROLE_ARITY: &str = "E0207";
pub const ROLE_KIND: &str = "E0208";
pub const ROLE_BOUND_TWICE: &str = "E0209";
pub const CALL_CYCLE: &str = "E0210";
pub const UNKNOWN_PARAM: &str = "E0211";
pub const PARAM_ARITY: &str = "E0212";
pub const FAMILY_SIZE_MISMATCH: &str = "E0213";
pub const UNBOUND_CONTINUE: &str = "E0214";
pub const UNBOUND_INDEX: &str = "E0215";
pub const UNKNOWN_ANNOTATION: &str = "E0216";
pub const DUPLICATE_PARAM: &str = "E0217";
pub const DUPLICATE_ALIAS: &str = "E0218";
pub const ALIAS_CYCLE: &str = "E0219";

pub const INDEX_ON_SINGLE: &str = "E0301";
pub const ALL_ON_SINGLE: &str = "E0302";
pub const FAMILY_WITHOUT_INDEX: &str = "E0303";
pub const INDEX_OUT_OF_RANGE: &str = "E0304";
pub const SELF_SEND: &str = "E0305";
pub const LABEL_PAYLOAD: &str = "E0306";
pub const DUPLICATE_BRANCH: &str = "E0307";
pub const EMPTY_CHOICE: &str = "E0308";
pub const BAD_CHOOSER: &str = "E0309";
pub const CONTINUE_NOT_TAIL: &str = "E0310";
pub const REC_SHADOWS: &str = "E0311";
pub const UNGUARDED_REC: &str = "E0312";
pub const UNREACHABLE: &str = "E0313";
pub const PAR_SHARED_PAIR: &str = "E0314";
pub const QUORUM_ZERO: &str = "E0315";
pub const QUORUM_TOO_LARGE: &str = "E0316";
pub const QUORUM_NOT_COLLECTIVE: &str = "E0317";
pub const LINK_NOT_LAST: &str = "E0318";
pub const TIMEOUT_NOT_LAST: &str = "E0319";
pub const ZERO_TIMEOUT: &str = "E0320";
pub const ANNOTATION_PLACE: &str = "E0321";
pub const ANNOTATION_ARGS: &str = "E0322";
pub const FOR_NEEDS_LITERAL: &str = "E0323";
pub const FOR_OVER_SINGLE: &str = "E0324";
pub const ROLES_FIRST: &str = "E0325";
pub const ZERO_FAMILY: &str = "E0326";
pub const CONTINUE_ESCAPES: &str = "E0327";
pub const INDEX_VAR_SHADOWS: &str = "E0328";
pub const DELEGATE_SELF: &str = "E0329";
pub const ALL_NOT_ALLOWED: &str = "E0330";
pub const TOO_LARGE: &str = "E0331";
pub const HANDOVER_IN_PAR: &str = "E0332";

pub const UNUSED_ROLE: &str = "W0201";
pub const EMPTY_PROTOCOL: &str = "W0301";
pub const REC_NEVER_CONTINUES: &str = "W0302";

pub const EXPLANATIONS: &[(&str, &str)] = &[
    ("E0201", "A role (or family) is used but not declared in the protocol's `roles` line.\n\nEvery participant must be declared first: `roles Client, Server, Worker[n];`. Check the spelling; the diagnostic suggests the closest declared name."),
    ("E0202", "A role name is declared twice in the same `roles` line.\n\nEach role or family name must be unique within a protocol. Remove or rename one of the declarations."),
    ("E0203", "A `use` names a module that is neither among the input files nor loadable from the same directory.\n\nA module is named by its `module a.b;` declaration or, without one, by its file stem. Check the spelling or add the file."),
    ("E0204", "Two protocols with the same name in one module.\n\nProtocol names are unique within a module (files that declare the same module share one namespace). Rename one of them."),
    ("E0205", "`call` or `link` names a protocol that cannot be found.\n\nAn unqualified name resolves in the current module, then in the modules named by `use`. A qualified name `a.b.Sub` looks in module `a.b`. Add the `use`, qualify the name or fix the spelling."),
    ("E0206", "An unqualified protocol name is declared in several used modules.\n\nQualify the name (`a.b.Sub`) to say which one you mean."),
    ("E0207", "`call`/`link` passes a different number of roles than the target protocol declares.\n\nRoles are bound positionally: pass exactly one argument per role of the target, in the order of its `roles` line."),
    ("E0208", "A role argument has the wrong kind: a family must be bound to a family (`W`, written without index) and a single role to a single role or a literal family member (`A`, `W[2]`)."),
    ("E0209", "The same role instance is passed twice to `call`/`link` (a family and one of its members also overlap).\n\nEach target role must be played by a different participant, or messages between them would become self-sends."),
    ("E0210", "Protocols call each other in a cycle.\n\n`call` inlines the target, so a cycle would inline forever. Use `rec`/`continue` for repetition, or `link` to hand over to a separately versioned protocol."),
    ("E0211", "A family size, quorum or `call` argument names a parameter the protocol does not declare.\n\nDeclare it in the parameter list: `protocol P(n, t) { … }`, or write a literal."),
    ("E0212", "`call`/`link` passes a different number of parameters after `;` than the target needs.\n\nTarget parameters that size a family are bound by the family argument; every other parameter, in declaration order, must be given after the roles: `call Sub(A, W; t);`."),
    ("E0213", "A family argument does not have the size the target protocol needs: a target family of literal size `k` needs an argument of literal size `k`; two target families sized by the same parameter need arguments of the same size; a member index used by the target is out of range for the argument."),
    ("E0214", "`continue X` names no enclosing `rec X`.\n\n`continue` jumps back to the start of an enclosing `rec` with that name."),
    ("E0215", "A family index names a variable that no enclosing `for` binds.\n\nInside `for i in W { … }` the index `W[i]`, `W[i+1]`, `W[i-1]` refers to the loop variable. Protocol parameters cannot be used as indices; use a literal (`W[0]`) or `[*]`."),
    ("E0216", "Unknown annotation. The known annotations are `@guard(\"cap\")`, `@cost(n)`, `@journal(\"fact\")` and `@leak(class, bits)`."),
    ("E0217", "A protocol parameter is declared twice. Rename one of them."),
    ("E0218", "A payload alias (`type X = …;`) is declared twice in one module. Remove or rename one of them."),
    ("E0219", "Payload aliases refer to each other in a cycle, so they never expand to a type. Make one of them a concrete Rust type."),
    ("E0301", "A single role is used with an index (`A[0]`). Only families (`W[n]` in `roles`) have members."),
    ("E0302", "`[*]` is used on a single role. `[*]` means every member of a family; a single role is written without brackets."),
    ("E0303", "A family is used where one participant is needed without saying which members. Write `W[*]` for every member or `W[k]`/`W[i]` for one member."),
    ("E0304", "A literal member index is not smaller than the family's literal size. Members of `W[3]` are `W[0]`, `W[1]` and `W[2]`."),
    ("E0305", "A message is sent to its own sender (also after `for` unrolling or when a broadcast/gather has nobody else to talk to). A role never messages itself; keep the value locally."),
    ("E0306", "Within one protocol a label always carries the same payload type (compared after expanding aliases; `L;` equals `L(())`). Use another label for the other type, or make the types agree."),
    ("E0307", "Two branches of one `choice` have the same name. Branch names become the variants of the chooser's selection enum and must be distinct."),
    ("E0308", "A `choice` without branches. Give it at least one `Name => { … }` branch, or remove it."),
    ("E0309", "The chooser of a `choice` (and the roles of `delegate`) must be one participant: a single role or one family member (`W[0]`, `W[i]` inside `for`), never `W[*]` or a bare family."),
    ("E0310", "`continue` is not in tail position: statements follow it in its block, or follow the `choice` it sits in. A `continue` jumps back to its `rec`, so whatever follows would be skipped on that path (or never run at all). End each path with its `continue`: move the statements that follow into the branches that need them."),
    ("E0311", "A `rec` reuses the name of an enclosing `rec`. Shadowing would make `continue` ambiguous to the reader; pick another name."),
    ("E0312", "Unguarded recursion: some path through the `rec` body reaches its own `continue` without any interaction (message, `link` or `delegate`), so the loop would spin forever without progress. Add a message on that path."),
    ("E0313", "A statement can never be reached: it follows a `rec` or `choice` every path of which continues a `rec` (or a loop that never exits). Remove it or move it before the loop."),
    ("E0314", "Two branches of a `par` use the same ordered (sender, receiver) pair of role instances (a `[*]` form counts every member), so a message could be claimed by the wrong branch. Sequence the two messages, or send between different roles."),
    ("E0315", "`quorum 0`: a receiver must wait for at least one value."),
    ("E0316", "The quorum is larger than the number of values that can arrive: a gather `W[*] -> A` has size(W) senders (`W[*] -> W[k]` has size(W)-1), an exchange `W[*] -> W[*]` counts the member's own value (at most size(W))."),
    ("E0317", "`quorum` on a receive that is not collective. Only a gather (`W[*] -> A`) or an exchange (`W[*] -> W[*]`) waits for several values."),
    ("E0318", "`link` is not the last statement of its block (or a `call` whose target ends with a `link` is followed by more statements). After a link the listed roles continue in the other protocol; nothing can follow it."),
    ("E0319", "`timeout` is not the last statement of its block (or a `call` whose target ends with a `timeout` is followed by more statements). Put what follows inside the body and the handler instead."),
    ("E0320", "A `timeout` of zero duration would fire immediately. Use a positive duration (`500ms`, `2s`)."),
    ("E0321", "An annotation is written before a statement that is not a message. `@guard`, `@cost`, `@journal` and `@leak` apply to a single message send."),
    ("E0322", "An annotation has the wrong arguments. Expected: `@guard(\"capability\")`, `@cost(n)` with a non-negative integer, `@journal(\"fact\")`, `@leak(class, bits)` with class one of `relationship`, `group`, `neighbor`, `external`."),
    ("E0323", "`for i in W` (or an index `V[i]` inside it) needs the family's size to be a literal, because the loop is unrolled at compile time. Declare the family with a literal size (`W[4]`), or use `[*]` forms."),
    ("E0324", "`for` iterates over the members of a family; the named role is a single role."),
    ("E0325", "The `roles` declaration must come first in a protocol body and every protocol with statements needs one: `roles A, B, W[n];`."),
    ("E0326", "A family of literal size 0 has no members. Use a size of at least 1."),
    ("E0327", "A `continue` inside a `par` branch or a `for` body targets a `rec` outside it. A `par` branch cannot restart the whole loop on its own, and a `for` body is unrolled into a sequence, so the `continue` would not be in tail position. Move the `continue` after the `par`/`for`."),
    ("E0328", "A `for` variable reuses the name of an enclosing `for` variable. Pick another name."),
    ("E0329", "`delegate R to R`: a role cannot delegate to itself."),
    ("E0330", "`[*]` is not allowed here. Pass a family to `call`/`link` by its bare name (`W`); `delegate` takes one participant."),
    ("E0331", "After `for` unrolling and `call` inlining the protocol would have more than 200,000 statements or blocks nested more than 500 deep. Use `[*]` forms instead of `for` over large families, or `link` to a separate protocol instead of deep `call` chains."),
    (
        "E0332",
        "A `timeout` or `link` inside a branch of a `par`. A `link` hands its roles to another protocol and a `timeout` may abandon its body for its handler, but the other branches of the `par` run concurrently and may still send to or expect those roles, so messages could be orphaned or a handler could wait forever. Move the `timeout` or `link` after the `par` (it must then be the last statement of its block).",
    ),
    ("W0201", "A declared role takes no part in the protocol. Remove it from `roles`, or give it something to do."),
    ("W0301", "The protocol has no statements; every role's projection is empty."),
    ("W0302", "A `rec` whose body never continues it runs exactly once. Remove the `rec`, or add `continue` where it should loop."),
];
