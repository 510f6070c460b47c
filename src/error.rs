//! The one error type of docker flow.
//!
//! Every variant says what went wrong and what to do about it (no internal code line: users see
//! the message and the help), and knows the exit code the README
//! documents: 1 a flow failed, 2 usage or configuration, 3 the environment (daemon, Compose,
//! proxy), 4 another run holds the project's deploy lock (retry later).

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A labelled place in a user's file, for errors that can point at one.
#[derive(Debug)]
pub(crate) struct Located {
    pub src: NamedSource<String>,
    pub span: SourceSpan,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub(crate) enum Error {
    /// A flag, a value or a combination of them is wrong.
    #[error("{message}")]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A setting from `docker-flow.yml`, the environment or a flag is invalid.
    #[error("invalid {key} from {origin}: {message}")]
    Setting {
        key: String,
        origin: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A user file (docker-flow.yml, a Compose file) is malformed or asks for something unsupported.
    #[error("{message}")]
    Config {
        message: String,
        #[help]
        help: Option<String>,
        #[source_code]
        src: Option<NamedSource<String>>,
        #[label("here")]
        span: Option<SourceSpan>,
    },

    /// Docker, Compose or the proxy cannot be used.
    #[error("{message}")]
    Environment {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// What stands at the proxy's name, port or config is not docker flow's own proxy; nothing
    /// was changed.
    #[error("{message}")]
    ProxyNotOwned {
        message: String,
        #[help]
        help: String,
    },

    /// docker flow's proxy runs but does not answer through the engine.
    #[error("{message}")]
    ProxyUnreachable {
        message: String,
        #[help]
        help: String,
    },

    /// A Compose command failed; its own output, above, says why.
    #[error("`{command}` failed (see its output above)")]
    #[diagnostic(help("fix what Compose reports; the live release keeps serving"))]
    ComposeFailed { command: String },

    /// A new instance exited or did not turn healthy in time; what it started is removed.
    #[error("new instance {instance} {what}; the deploy is aborted and {serving}{details}")]
    #[diagnostic(
        help("fix the release (see its logs above), or raise --health-timeout if it only needs longer to start")
    )]
    Unhealthy {
        instance: String,
        /// `exited with code 1`, `is unhealthy`, `did not become healthy within 60s`.
        what: String,
        /// The last health check output and log lines, each under a heading (or empty).
        details: String,
        /// What serves now: "the live release keeps serving", or, on a first deploy, that
        /// nothing was live.
        serving: String,
    },

    /// The target runs in the other deployment mode than the settings ask for; nothing was
    /// changed.
    #[error("`{target}` runs {running}, but blue_green is {asked} (from {origin}): this would change how it is deployed")]
    #[diagnostic(help(
        "deploy it as it runs (--blue-green={running_flag}), or convert it without downtime: `docker flow deploy --blue-green={asked} --switch-mode`"
    ))]
    ModeMismatch {
        target: String,
        /// `blue-green (blue, green)` or `plain`.
        running: String,
        running_flag: bool,
        asked: bool,
        origin: String,
    },

    /// Another run holds the project's deploy lock (or the proxy's); nothing was changed.
    #[error("{what} is locked by `{command}` (pid {pid} on {host}) since {age}s ago")]
    #[diagnostic(
        help("wait for it to finish, or pass --lock-wait=5m to wait; if that run is dead on another machine, remove its lock (`{lock}`) with `docker flow unlock`")
    )]
    Locked {
        /// What is locked: "project `shop`".
        what: String,
        command: String,
        pid: u32,
        host: String,
        age: u64,
        /// The lock's name (its container, or on Swarm mode its service).
        lock: String,
    },

    /// The run lost its deploy lock while it held it: it changed nothing after that.
    #[error("this run lost the project's deploy lock (its lock process ended, or on Swarm mode its heartbeat went silent and another run took the lock over, or it was removed); it stopped before its next change")]
    #[diagnostic(help(
        "another run may be changing the project now: check `docker flow status`, then run the command again"
    ))]
    LockLost,

    /// A flow started and could not finish; the live release keeps serving.
    #[error("{message}")]
    Flow {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The user's own command (`exec`, `logs`) ended with this code: docker flow exits with
    /// it and adds nothing, as `docker exec` does.
    #[error("{command} exited with {code}")]
    Exited { command: String, code: u8 },
}

/// What an aborted deploy leaves serving, when a release was live.
pub(crate) const LIVE_SERVES: &str = "the live release keeps serving";

impl Error {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Flow { .. } | Error::ComposeFailed { .. } | Error::Unhealthy { .. } => 1,
            Error::Usage { .. }
            | Error::Setting { .. }
            | Error::Config { .. }
            | Error::ModeMismatch { .. } => 2,
            Error::Environment { .. }
            | Error::ProxyNotOwned { .. }
            | Error::ProxyUnreachable { .. } => 3,
            Error::Locked { .. } | Error::LockLost => 4,
            Error::Exited { code, .. } => *code,
        }
    }

    /// A failed deploy's outcome when there was no live release: said so, not that one serves.
    pub(crate) fn nothing_was_live(mut self) -> Self {
        if let Error::Unhealthy { serving, .. } = &mut self {
            *serving = "nothing serves: no release of it was live before".into();
        }
        self
    }

    pub(crate) fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub(crate) fn config(
        message: impl Into<String>,
        help: impl Into<String>,
        at: Option<Located>,
    ) -> Self {
        let (src, span) = match at {
            Some(l) => (Some(l.src), Some(l.span)),
            None => (None, None),
        };
        Error::Config {
            message: message.into(),
            help: Some(help.into()),
            src,
            span,
        }
    }

    pub(crate) fn environment(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Environment {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub(crate) fn flow(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Flow {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;

    /// An error as a user reads it (no colour, a fixed width): message and help, no code line.
    fn rendered(e: Error) -> String {
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .render_report(&mut out, &e)
            .unwrap();
        out
    }

    #[test]
    fn errors_read_as_message_and_help() {
        insta::assert_snapshot!(rendered(Error::ModeMismatch {
            target: "app".into(),
            running: "blue-green".into(),
            running_flag: true,
            asked: false,
            origin: "--blue-green".into(),
        }));
        insta::assert_snapshot!(rendered(Error::Locked {
            what: "project `shop`".into(),
            command: "deploy,proxy,stop-old".into(),
            pid: 4242,
            host: "ci-7".into(),
            age: 12,
            lock: "docker-flow-lock-shop".into(),
        }));
        insta::assert_snapshot!(rendered(Error::usage(
            "scale needs a count",
            "pass N, +N or -N: `docker flow scale +2`",
        )));
    }
}
