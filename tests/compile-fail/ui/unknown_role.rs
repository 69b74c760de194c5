// A misspelt role is underlined where it is written.
use choreo_macros::choreography;

choreography! {
    protocol Typo {
        roles Client, Server;
        Client -> Sever : Hello;
    }
}

fn main() {}
