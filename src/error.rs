//! The one error type of docker flow.
//!
//! Every variant says what went wrong and what to do about it, and knows the exit code the README
//! documents: 1 a flow failed, 2 usage or configuration, 3 the environment (daemon, Compose, proxy).

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A labelled place in a user's file, for errors that can point at one.
#[derive(Debug)]
pub struct Located {
    pub src: NamedSource<String>,
    pub span: SourceSpan,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    /// A flag, a value or a combination of them is wrong.
    #[error("{message}")]
    #[diagnostic(code(docker_flow::usage))]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A setting from `docker-flow.yml`, the environment or a flag is invalid.
    #[error("invalid {key} from {origin}: {message}")]
    #[diagnostic(code(docker_flow::setting))]
    Setting {
        key: String,
        origin: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A user file (docker-flow.yml, a Compose file) is malformed or asks for something unsupported.
    #[error("{message}")]
    #[diagnostic(code(docker_flow::config))]
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
    #[diagnostic(code(docker_flow::environment))]
    Environment {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// What stands at the proxy's name, port or config is not docker flow's own proxy; nothing
    /// was changed.
    #[error("{message}")]
    #[diagnostic(code(docker_flow::proxy_not_owned))]
    ProxyNotOwned {
        message: String,
        #[help]
        help: String,
    },

    /// docker flow's proxy runs but does not answer through the engine.
    #[error("{message}")]
    #[diagnostic(code(docker_flow::proxy_unreachable))]
    ProxyUnreachable {
        message: String,
        #[help]
        help: String,
    },

    /// A flow started and could not finish; the live release keeps serving.
    #[error("{message}")]
    #[diagnostic(code(docker_flow::flow))]
    Flow {
        message: String,
        #[help]
        help: Option<String>,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Flow { .. } => 1,
            Error::Usage { .. } | Error::Setting { .. } | Error::Config { .. } => 2,
            Error::Environment { .. }
            | Error::ProxyNotOwned { .. }
            | Error::ProxyUnreachable { .. } => 3,
        }
    }

    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub fn config(
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

    pub fn environment(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Environment {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    pub fn flow(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Flow {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
