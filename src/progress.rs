//! Progress for people and for CI, on stderr: each step with its duration, warnings, and the
//! wait for health. Nothing here goes to stdout, which carries only results (`--format json`,
//! `status`, `config`).
//!
//! `--progress` picks the form, as Compose's does: `tty` redraws the waiting line in place,
//! `plain` prints a line per change, `json` one event object a line, `quiet` nothing (warnings
//! but for json too). `--ansi never` (or `NO_COLOR`) turns `tty` into `plain`: no escape code.

use std::io::Write;
use std::time::Instant;

use serde_json::json;

/// The form progress takes, once the terminal and `--ansi` are known
/// (`Settings::progress_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Tty,
    Plain,
    Json,
    Quiet,
}

/// Writes to stderr, ignoring a closed or broken stderr: progress is for people, and a reader
/// that went away (`| head -1`, a log shipper that died) must not stop a run halfway, nor
/// panic as `eprintln!` does.
pub(crate) fn say(args: std::fmt::Arguments) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// One `--progress json` event: a line of stderr.
pub(crate) fn event(value: serde_json::Value) {
    say(format_args!("{value}\n"));
}

pub(crate) struct Progress {
    mode: Mode,
    /// Redraws of the waiting line, to turn the spinner.
    frame: std::cell::Cell<usize>,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Progress {
        Progress {
            mode,
            frame: std::cell::Cell::new(0),
        }
    }

    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts a step; `done` on the returned value prints its duration.
    pub(crate) fn step(&self, what: &str) -> Step {
        match self.mode {
            Mode::Json => event(json!({"event": "step", "step": what})),
            Mode::Tty | Mode::Plain => say(format_args!("==> {what}\n")),
            Mode::Quiet => {}
        }
        Step {
            mode: self.mode,
            what: what.to_string(),
            started: Instant::now(),
        }
    }

    pub(crate) fn info(&self, msg: &str) {
        match self.mode {
            Mode::Json => event(json!({"event": "info", "message": msg})),
            Mode::Tty | Mode::Plain => say(format_args!("    {msg}\n")),
            Mode::Quiet => {}
        }
    }

    /// A warning shows in every mode: it is something to act on.
    pub(crate) fn warn(&self, msg: &str) {
        match self.mode {
            Mode::Json => event(json!({"event": "warning", "message": msg})),
            _ => say(format_args!("warning: {msg}\n")),
        }
    }

    /// A status line while waiting: redrawn in place on a terminal, printed when it changes otherwise.
    pub(crate) fn waiting(&self, line: &str, last: &mut String) {
        if self.mode == Mode::Quiet || (self.mode != Mode::Tty && line == last) {
            return;
        }
        match self.mode {
            Mode::Tty => {
                self.frame.set(self.frame.get() + 1);
                let spin = ['|', '/', '-', '\\'][self.frame.get() % 4];
                say(format_args!("\r\x1b[2K    {spin} {line}"));
                let _ = std::io::stderr().flush();
            }
            Mode::Json => event(json!({"event": "waiting", "message": line})),
            _ => say(format_args!("    {line}\n")),
        }
        *last = line.to_string();
    }

    pub(crate) fn end_waiting(&self) {
        if self.mode == Mode::Tty {
            say(format_args!("\r\x1b[2K"));
        }
    }
}

pub(crate) struct Step {
    mode: Mode,
    what: String,
    started: Instant,
}

impl Step {
    pub(crate) fn done(self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        match self.mode {
            Mode::Json => event(json!({
                "event": "done",
                "step": self.what,
                "seconds": (secs * 1000.0).round() / 1000.0,
            })),
            Mode::Tty | Mode::Plain => say(format_args!("    {} done in {secs:.1}s\n", self.what)),
            Mode::Quiet => {}
        }
        secs
    }
}

/// Runs a command whose own output the user should see (Compose's progress, a hook, a test),
/// shown as `mode` says: on stderr as it comes (stdout too: stdout carries only results), each
/// line a JSON event labelled `label`, or (quiet) kept and shown only if the command fails.
/// Returns its exit code (-1 when a signal ended it).
pub(crate) fn show(expression: duct::Expression, label: &str, mode: Mode) -> std::io::Result<i32> {
    if mode == Mode::Tty {
        // On a terminal the command draws its own progress there.
        let out = expression.stdout_to_stderr().run()?;
        return Ok(out.status.code().unwrap_or(-1));
    }
    // Elsewhere its output passes through docker flow, so that a reader of stderr that went
    // away ends no command halfway (a Go program such as Compose dies of SIGPIPE writing to a
    // closed pipe): its lines are then dropped, and the command runs to its end.
    let reader = expression.stderr_to_stdout().reader()?;
    let mut kept = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(&reader)) {
        let Ok(line) = line else { break };
        match mode {
            Mode::Json => event(json!({"event": "output", "command": label, "line": line})),
            Mode::Plain => say(format_args!("{line}\n")),
            _ => kept.push(line),
        }
    }
    // At the end of its output duct has waited for the command already.
    let code = match reader.try_wait() {
        Ok(Some(out)) => out.status.code().unwrap_or(-1),
        _ => -1,
    };
    if code != 0 {
        for line in kept {
            say(format_args!("{line}\n"));
        }
    }
    Ok(code)
}
