//! Caddy's admin API, through the engine: each request is the helper's `admin` command run in
//! the proxy container (see `container`), which reaches the API on the container's loopback.

use docker_flow_helper::protocol;
use serde_json::Value;

use super::container::ProxyContainer;
use super::ADMIN;
use crate::engine::args;
use crate::error::{Error, Result};

/// What Caddy answered.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

impl Reply {
    /// The body as JSON (null when it is not).
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

pub(super) struct Admin<'c, 'a> {
    container: &'c ProxyContainer<'a>,
}

impl<'c, 'a> Admin<'c, 'a> {
    pub(super) fn new(container: &'c ProxyContainer<'a>) -> Admin<'c, 'a> {
        Admin { container }
    }

    pub(super) fn unreachable(&self, detail: &str) -> Error {
        let name = self.container.name();
        Error::ProxyUnreachable {
            message: format!("the proxy `{name}` does not answer: {detail}"),
            help: format!(
                "check the proxy container (`docker logs {name}`); `docker flow proxy` re-applies the routes once it runs"
            ),
        }
    }

    pub(super) fn get(&self, path: &str) -> Result<Reply> {
        self.call("GET", path, None, None)
    }

    /// A change: POST, PATCH or PUT of `body`, guarded by `if_match` when given.
    pub(super) fn send(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Reply> {
        self.call(method, path, Some(body), if_match)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply> {
        let mut a = args(&["admin", ADMIN, method, path]);
        a.extend(if_match.map(String::from));
        let body = body.map(|b| b.to_string().into_bytes());
        let out = self.container.exec(&a, body.as_deref(), false)?;
        if !out.ok() {
            return Err(self.unreachable(out.last_error_line()));
        }
        parse(&out.stdout).ok_or_else(|| self.unreachable("the helper's answer was garbled"))
    }
}

/// The helper's answer (see `docker_flow_helper::protocol::admin`).
fn parse(out: &str) -> Option<Reply> {
    let (status, etag, body) = protocol::admin::parse(out)?;
    Some(Reply { status, etag, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helpers_answer_is_status_etag_then_body() {
        let r = parse("200 \"/config/ 1a2b\"\n{\"a\": 1}\n").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.etag.as_deref(), Some("\"/config/ 1a2b\""));
        assert_eq!(r.json()["a"], 1);
        let r = parse("412 -\n").unwrap();
        assert_eq!((r.status, r.etag, r.body.as_str()), (412, None, ""));
        assert!(parse("garbage").is_none());
    }
}
