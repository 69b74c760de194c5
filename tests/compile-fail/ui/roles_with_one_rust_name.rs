// Two roles that would be one Rust module are reported at the role that
// comes second, not as "defined multiple times" inside the expansion.
use choreo_macros::choreography;

choreography! {
    protocol Relay {
        roles HTTPServer, HttpServer;
        HTTPServer -> HttpServer : Fwd(u64);
    }
}

fn main() {}
