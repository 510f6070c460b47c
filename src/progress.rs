//! Progress for people, on stderr: each step with its duration, warnings, and the wait for health.
//! Nothing here goes to stdout, which carries only results (`--format json`, `status`, `config`).

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub(crate) struct Progress {
    tty: bool,
    quiet: bool,
    /// Redraws of the waiting line, to turn the spinner.
    frame: std::cell::Cell<usize>,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            quiet,
            frame: std::cell::Cell::new(0),
        }
    }

    /// Starts a step; `done` on the returned value prints its duration.
    pub(crate) fn step(&self, what: &str) -> Step {
        if !self.quiet {
            eprintln!("==> {what}");
        }
        Step {
            quiet: self.quiet,
            what: what.to_string(),
            started: Instant::now(),
        }
    }

    pub(crate) fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("    {msg}");
        }
    }

    pub(crate) fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }

    /// A status line while waiting: redrawn in place on a terminal, printed when it changes otherwise.
    pub(crate) fn waiting(&self, line: &str, last: &mut String) {
        if self.quiet || (!self.tty && line == last) {
            return;
        }
        if self.tty {
            self.frame.set(self.frame.get() + 1);
            let spin = ['|', '/', '-', '\\'][self.frame.get() % 4];
            eprint!("\r\x1b[2K    {spin} {line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("    {line}");
        }
        *last = line.to_string();
    }

    pub(crate) fn end_waiting(&self) {
        if self.tty && !self.quiet {
            eprint!("\r\x1b[2K");
        }
    }
}

pub(crate) struct Step {
    quiet: bool,
    what: String,
    started: Instant,
}

impl Step {
    pub(crate) fn done(self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if !self.quiet {
            eprintln!("    {} done in {secs:.1}s", self.what);
        }
        secs
    }
}
