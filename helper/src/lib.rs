//! The part of docker flow's helper that docker flow itself uses: the protocol between them.
//! The helper program is `main.rs`; docker flow's build.rs compiles it on its own.

pub mod protocol;
