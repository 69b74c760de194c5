// A payload that can never be a message (a reference: a message arrives as
// an owned value) is underlined in the macro input, with what to write.
use choreo_macros::choreography;

choreography! {
    protocol Profile {
        roles App, Store;
        App -> Store : Name(&str);
    }
}

fn main() {}
