//! `helper hold`: the deploy lock's process. It says `held` once running, then waits until its
//! standard input closes, and exits.
//!
//! docker flow runs it with `docker run -i --rm`, its stdin a pipe only docker flow writes to:
//! when docker flow exits, however it exits (SIGKILL included), or its machine loses the engine,
//! the pipe or the attach connection closes, this process sees the end of its input, the
//! container stops and is removed, and the lock's name is free. A lock that runs therefore has a
//! live holder; no age or process id is ever guessed.

use std::io::{Read, Write};
use std::process::ExitCode;

use crate::protocol;

pub fn run(args: &[String]) -> ExitCode {
    if !args.is_empty() {
        eprintln!("usage: helper hold");
        return ExitCode::from(2);
    }
    let mut out = std::io::stdout();
    if out
        .write_all(protocol::hold::HELD.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    let mut input = std::io::stdin();
    let mut buf = [0u8; 64];
    // Anything written is ignored; only the end of the input matters.
    while matches!(input.read(&mut buf), Ok(n) if n > 0) {}
    ExitCode::SUCCESS
}
