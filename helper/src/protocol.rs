//! What docker flow and its helper say to each other, defined once for both sides: the helper
//! program formats with these functions and docker flow parses with them.
//!
//! Everything is lines of text on the helper's stdout (docker passes them through `docker exec`
//! and `docker run`); the helper's arguments are argv, never a shell string.

/// `set` and `get`: the rotation's records.
pub mod record {
    /// A member of a record on the command line of `set`: `<container>@<ipv4>`.
    pub fn member_arg(container: &str, ip: &str) -> String {
        format!("{container}@{ip}")
    }

    /// The inverse of [`member_arg`]. A container name is Docker's: letters, digits, `_`, `.`
    /// and `-`, so nothing in it can start another line of a record.
    pub fn parse_member_arg(arg: &str) -> Option<(&str, &str)> {
        arg.rsplit_once('@').filter(|(c, _)| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
    }

    /// A member as a record file holds it and `get` prints it: `<ipv4> <container>`.
    pub fn line(ip: &str, container: &str) -> String {
        format!("{ip} {container}\n")
    }

    /// The inverse of [`line`]: (container, ipv4). A key line is no member.
    pub fn parse_line(line: &str) -> Option<(String, String)> {
        if line.starts_with(KEY_PREFIX) {
            return None;
        }
        let (ip, container) = line.trim().split_once(' ')?;
        Some((container.trim().to_string(), ip.to_string()))
    }

    /// `set`'s option that gives a record a key: the rotation then answers it only under the
    /// name `<key>.<name>` (a staged release's preview, which only requests carrying the key
    /// reach).
    pub const KEY_ARG: &str = "--key";
    const KEY_PREFIX: &str = "key ";

    /// Whether `key` is a record's key: 32 lowercase hexadecimal digits (128 random bits; one
    /// DNS label, and what the proxy's header matcher lets through).
    pub fn is_key(key: &str) -> bool {
        key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// A record file's key line, first in the file.
    pub fn key_line(key: &str) -> String {
        format!("{KEY_PREFIX}{key}\n")
    }

    /// The key a record file's text holds, if any.
    pub fn parse_key(text: &str) -> Option<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(KEY_PREFIX))
            .map(str::trim)
            .filter(|k| is_key(k))
    }

    /// `set`'s option that makes the helper's `follow` keep the record on the tasks Swarm runs
    /// for `services`, at their addresses on `network` (Swarm mode).
    pub fn follow_args(network: &str, services: &[String]) -> [String; 3] {
        ["--follow".into(), network.into(), services.join(",")]
    }

    /// The file beside a record that says what it follows: `.<name>.follow` (a record's name
    /// never starts with a dot, so the rotation's DNS never serves it).
    pub fn follow_file(name: &str) -> String {
        format!(".{name}{FOLLOW_SUFFIX}")
    }

    pub const FOLLOW_SUFFIX: &str = ".follow";

    /// A follow file's text.
    pub fn follow_spec(network: &str, services: &[&str]) -> String {
        let mut s = format!("network {network}\n");
        for svc in services {
            s.push_str(&format!("service {svc}\n"));
        }
        s
    }

    /// The inverse of [`follow_spec`]: (network, services).
    pub fn parse_follow(text: &str) -> Option<(String, Vec<String>)> {
        let mut network = None;
        let mut services = Vec::new();
        for line in text.lines() {
            match line.split_once(' ')? {
                ("network", n) => network = Some(n.to_string()),
                ("service", s) => services.push(s.to_string()),
                _ => return None,
            }
        }
        Some((network?, services)).filter(|(_, s)| !s.is_empty())
    }
}

/// `standby`, `swap`, `settle`: a release kept warm, swapped into its route by a rollback.
pub mod standby {
    /// The exit code of a `swap` that found nothing to swap (the rollback goes the long way).
    pub const NOTHING: u8 = 3;

    /// The standby's file beside the route's record `name` (never a name the DNS serves).
    pub fn file(name: &str) -> String {
        format!(".{name}.standby")
    }

    /// The standby file's first line: until when (unix seconds) it may be swapped in. On Swarm
    /// mode the follow spec comes next (its `network` and `service` lines), then the members.
    pub fn header(until: u64) -> String {
        format!("until {until}\n")
    }

    /// A standby file, read: until when, what the record is to follow, the members.
    pub struct Standby {
        pub until: u64,
        pub follow: Option<(String, Vec<String>)>,
        pub members: Vec<(String, String)>,
    }

    /// The inverse of a standby file.
    pub fn parse(text: &str) -> Option<Standby> {
        let mut lines = text.lines();
        let until = lines.next()?.strip_prefix("until ")?.parse().ok()?;
        let (spec, members): (Vec<&str>, Vec<&str>) =
            lines.partition(|l| l.starts_with("network ") || l.starts_with("service "));
        let follow = if spec.is_empty() {
            None
        } else {
            Some(super::record::parse_follow(&spec.join("\n"))?)
        };
        Some(Standby {
            until,
            follow,
            members: members
                .into_iter()
                .filter_map(super::record::parse_line)
                .collect(),
        })
    }
}

/// `hold`: the deploy lock's process.
pub mod hold {
    /// What it prints once it runs: the lock is taken.
    pub const HELD: &str = "held\n";
}

/// `admin`: one request to Caddy's admin API.
pub mod admin {
    /// What stands for "no ETag" on the first line.
    const NO_ETAG: &str = "-";

    /// The first line of the answer: `<status> <etag or ->` (an ETag may hold spaces; it is the
    /// rest of the line).
    pub fn head(status: u16, etag: Option<&str>) -> String {
        format!("{status} {}\n", etag.unwrap_or(NO_ETAG))
    }

    /// The whole answer: (status, ETag, body).
    pub fn parse(out: &str) -> Option<(u16, Option<String>, String)> {
        let (first, body) = out.split_once('\n').unwrap_or((out, ""));
        let (status, etag) = first.split_once(' ')?;
        Some((
            status.parse().ok()?,
            (etag != NO_ETAG).then(|| etag.to_string()),
            body.to_string(),
        ))
    }

    /// The exit code when Caddy did not answer at all.
    pub const UNREACHABLE: u8 = 3;
}

/// `drain`: waiting until Caddy has no request in flight to some addresses.
pub mod drain {
    /// How a drain round ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Outcome {
        /// None in flight any more; the most that were while the round waited.
        Clear(u64),
        /// The round's time ran out with this many requests in flight (None: Caddy could not say).
        TimedOut(Option<u64>),
    }

    pub fn line(outcome: Outcome) -> String {
        match outcome {
            Outcome::Clear(n) => format!("clear {n}\n"),
            Outcome::TimedOut(Some(n)) => format!("timeout {n}\n"),
            Outcome::TimedOut(None) => "timeout ?\n".into(),
        }
    }

    pub fn parse(out: &str) -> Option<Outcome> {
        match out.trim() {
            "clear" => Some(Outcome::Clear(0)),
            other if other.starts_with("clear ") => {
                other["clear ".len()..].parse().ok().map(Outcome::Clear)
            }
            other => {
                let n = other.strip_prefix("timeout ")?;
                Some(Outcome::TimedOut(n.parse().ok()))
            }
        }
    }
}

/// `probe`: whether instances answer HTTP from inside their network.
pub mod probe {
    /// One address's finding.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Finding {
        Answered(String),
        /// Not yet, and why.
        Waiting(String, String),
    }

    pub fn line(finding: &Finding) -> String {
        match finding {
            Finding::Answered(addr) => format!("ok {addr}\n"),
            Finding::Waiting(addr, why) => format!("wait {addr} {why}\n"),
        }
    }

    pub fn parse_line(line: &str) -> Option<Finding> {
        match line.trim_end().split_once(' ')? {
            ("ok", addr) => Some(Finding::Answered(addr.to_string())),
            ("wait", rest) => {
                let (addr, why) = rest.split_once(' ').unwrap_or((rest, ""));
                Some(Finding::Waiting(addr.to_string(), why.to_string()))
            }
            _ => None,
        }
    }
}

/// `helper listening`: one `listen <ip:port>` line per listening TCP socket.
pub mod listening {
    use std::net::SocketAddr;

    pub fn line(addr: &SocketAddr) -> String {
        format!("listen {addr}\n")
    }

    pub fn parse_line(line: &str) -> Option<SocketAddr> {
        line.trim_end().strip_prefix("listen ")?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_reads_back_as_written() {
        for addr in ["127.0.0.1:8080", "[::1]:80", "0.0.0.0:3000"] {
            let a: std::net::SocketAddr = addr.parse().unwrap();
            assert_eq!(listening::parse_line(&listening::line(&a)), Some(a));
        }
        assert_eq!(listening::parse_line("ok 1.2.3.4:5"), None);
        assert_eq!(
            record::parse_member_arg(&record::member_arg("shop-web-1", "10.0.0.2")),
            Some(("shop-web-1", "10.0.0.2"))
        );
        assert_eq!(record::parse_member_arg("@10.0.0.2"), None);
        assert_eq!(
            record::parse_line(&record::line("10.0.0.2", "shop-web-1")),
            Some(("shop-web-1".into(), "10.0.0.2".into()))
        );
        let answer = admin::head(200, Some("\"/config/ 1a2b\"")) + "{\"a\": 1}";
        assert_eq!(
            admin::parse(&answer),
            Some((200, Some("\"/config/ 1a2b\"".into()), "{\"a\": 1}".into()))
        );
        assert_eq!(
            admin::parse(&admin::head(412, None)),
            Some((412, None, String::new()))
        );
        assert_eq!(admin::parse("garbage"), None);
        for o in [
            drain::Outcome::Clear(0),
            drain::Outcome::Clear(2),
            drain::Outcome::TimedOut(Some(3)),
            drain::Outcome::TimedOut(None),
        ] {
            assert_eq!(drain::parse(&drain::line(o)), Some(o));
        }
        for f in [
            probe::Finding::Answered("10.0.0.2:8080".into()),
            probe::Finding::Waiting("10.0.0.2:8080".into(), "answered 503".into()),
        ] {
            assert_eq!(probe::parse_line(&probe::line(&f)), Some(f));
        }
    }
}
