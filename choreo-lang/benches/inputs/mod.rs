//! Inputs shared by the compile bench and the `front_end_profile`
//! example, so that the profile measures the bench's text.

/// `k` messages bouncing between two roles.
pub fn sequence(k: usize) -> String {
    let mut body = String::with_capacity(k * 32);
    for i in 0..k {
        if i % 2 == 0 {
            body.push_str("    A -> B : Ping(u64);\n");
        } else {
            body.push_str("    B -> A : Pong(u64);\n");
        }
    }
    format!("protocol Seq {{\n    roles A, B;\n{body}}}\n")
}
