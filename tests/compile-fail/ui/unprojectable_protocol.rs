// Carol acts in branch `Left` but cannot know Alice chose it: a compile
// error at the offending tokens, never a silently missing module.
use choreo_macros::choreography;

choreography! {
    protocol Unaware {
        roles Alice, Bob, Carol;
        choice at Alice {
            Left => { Alice -> Bob : L; Carol -> Bob : P; }
            Right => { Alice -> Bob : R; }
        }
    }
}

fn main() {}
