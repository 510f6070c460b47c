//! Parsers for single setting values. Each returns the typed value or (problem, fix); those of
//! the settings that take one of a few words are in `choices.rs`.
//!
//! Values that end up on a command line or in a proxy route are held to a strict character set
//! here, so nothing a user types can change the meaning of what is sent further on.

use std::time::Duration;

pub(super) type Parsed<T> = Result<T, (String, String)>;

pub(super) fn bad<T>(problem: impl Into<String>, fix: impl Into<String>) -> Parsed<T> {
    Err((problem.into(), fix.into()))
}

/// A boolean, one grammar for flags, variables and `docker-flow.yml` alike (whose YAML reads
/// `yes` and `on` as true too): true, yes, on, 1 / false, no, off, 0.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_port(v: &str) -> Option<u16> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u16>().ok().filter(|p| *p > 0)
}

pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    humantime::parse_duration(v).ok()
}

/// `--scale`: N, +N or -N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScaleSpec {
    Absolute(u32),
    Relative(i64),
}

/// More instances than this on one engine is a typo, not a plan.
pub(crate) const MAX_SCALE: u32 = 1000;

impl ScaleSpec {
    /// The seed's rules: relative to `current`, and never below 1 (the bool says it was raised).
    pub(crate) fn apply(self, current: u32) -> (u32, bool) {
        let n = match self {
            ScaleSpec::Absolute(n) => i64::from(n),
            ScaleSpec::Relative(d) => i64::from(current) + d,
        };
        if n < 1 {
            (1, true)
        } else {
            (n.min(i64::from(MAX_SCALE)) as u32, false)
        }
    }
}

pub(crate) fn parse_scale(v: &str) -> Parsed<ScaleSpec> {
    let fix = format!("use a whole number N, +N or -N, at most {MAX_SCALE} (e.g. 3, +2, -1)");
    let (sign, digits) = match v.as_bytes().first() {
        Some(b'+') => (Some(1i64), &v[1..]),
        Some(b'-') => (Some(-1i64), &v[1..]),
        _ => (None, v),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return bad(format!("`{v}` is not a scale"), fix);
    }
    let n: u32 = match digits.parse() {
        Ok(n) if n <= MAX_SCALE => n,
        _ => return bad(format!("`{v}` is too many instances"), fix),
    };
    Ok(match sign {
        Some(s) => ScaleSpec::Relative(s * i64::from(n)),
        None => ScaleSpec::Absolute(n),
    })
}

/// `--canary`: how many instances of the new release join the live ones in rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CanarySpec {
    Count(u32),
    /// A share of the live release's instance count.
    Percent(u32),
}

impl CanarySpec {
    /// The canary's instance count beside `live` live instances: at least 1.
    pub(crate) fn count(self, live: u32) -> u32 {
        match self {
            CanarySpec::Count(n) => n.max(1),
            CanarySpec::Percent(p) => ((u64::from(live) * u64::from(p) + 50) / 100).max(1) as u32,
        }
    }
}

pub(crate) fn parse_canary(v: &str) -> Parsed<CanarySpec> {
    let fix = format!(
        "use N instances (1 to {MAX_SCALE}) or N% of the live ones (1% to 100%), e.g. 1 or 25%"
    );
    let (digits, percent) = match v.strip_suffix('%') {
        Some(d) => (d, true),
        None => (v, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return bad(format!("`{v}` is not a canary size"), fix);
    }
    match (digits.parse::<u32>(), percent) {
        (Ok(n @ 1..=100), true) => Ok(CanarySpec::Percent(n)),
        (Ok(n), false) if (1..=MAX_SCALE).contains(&n) => Ok(CanarySpec::Count(n)),
        _ => bad(format!("`{v}` is not a canary size"), fix),
    }
}

/// A Compose service name.
pub(crate) fn parse_service_name(v: &str) -> Parsed<String> {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && v.as_bytes()[0].is_ascii_alphanumeric()
    {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not a Compose service name"),
            "use the service's name as written under `services:` (letters, digits, `.`, `_`, `-`)",
        )
    }
}

/// A Compose profile name, as Compose accepts it: letters, digits, `.`, `_`, `-`, starting with
/// a letter or digit (`*` enables every profile).
pub(crate) fn parse_profile(v: &str) -> Parsed<String> {
    if v == "*" || parse_service_name(v).is_ok() {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not a Compose profile name"),
            "use a profile named under a service's `profiles:` (letters, digits, `.`, `_`, `-`), or `*` for all",
        )
    }
}

/// A Compose project name: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
pub(crate) fn parse_project(v: &str) -> Parsed<String> {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
        && (v.as_bytes()[0].is_ascii_lowercase() || v.as_bytes()[0].is_ascii_digit())
    {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not a Compose project name"),
            "use lower-case letters, digits, `-` and `_`, starting with a letter or digit",
        )
    }
}

/// `--service-path`: an absolute URL path prefix with no characters that need quoting.
pub(crate) fn parse_service_path(v: &str) -> Parsed<String> {
    let fix = "use an absolute path such as /api/v1 (letters, digits and - . _ ~ / only)";
    if !v.starts_with('/') {
        return bad(format!("`{v}` does not start with `/`"), fix);
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~/".contains(*c)))
    {
        return bad(
            format!(
                "`{}` contains {:?}, which a path prefix may not",
                v.escape_debug(),
                c
            ),
            fix,
        );
    }
    if v.contains("//") {
        return bad(format!("`{v}` contains an empty segment"), fix);
    }
    Ok(v.to_string())
}

/// `--health-path`: an absolute path, optionally with a query (`/health?full=1`), of the same
/// strict characters as a route's path.
pub(crate) fn parse_health_path(v: &str) -> Parsed<String> {
    let (path, query) = v.split_once('?').unwrap_or((v, ""));
    let path = parse_service_path(path)?;
    if let Some(c) = query
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~=&%".contains(*c)))
    {
        return bad(
            format!("`{}` contains {:?} in its query", v.escape_debug(), c),
            "use a query of letters, digits and - . _ ~ = & % only",
        );
    }
    Ok(if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    })
}

/// `--service-domain`: a host name, optionally with a leading `*.` wildcard.
pub(crate) fn parse_domain(v: &str) -> Parsed<String> {
    let fix = "use a host name such as app.example.com or *.example.com";
    let name = v.strip_prefix("*.").unwrap_or(v);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        bad(format!("`{}` is not a valid domain", v.escape_debug()), fix)
    }
}

pub(crate) fn parse_http_url(v: &str) -> Parsed<String> {
    // The `http` crate (already there for ureq) parses URIs without the `url` crate's IDNA
    // tables: a Consul address is ASCII.
    match v.parse::<http::Uri>() {
        Ok(u)
            if matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(v.to_string())
        }
        _ => bad(
            format!("`{v}` is not an http(s) URL"),
            "use an address such as http://consul:8500",
        ),
    }
}

/// A docker host as `-H` takes it (unix://, tcp://, ssh://, npipe://, fd://).
pub(crate) fn parse_docker_host(v: &str) -> Parsed<String> {
    let ok = ["unix://", "tcp://", "ssh://", "npipe://", "fd://"]
        .iter()
        .any(|p| v.starts_with(p))
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not a docker host"),
            "use unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST",
        )
    }
}

/// A host name or IP address (no scheme, no port).
pub(crate) fn parse_host(v: &str) -> Parsed<String> {
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() || parse_domain(v).is_ok() {
        Ok(bare.to_string())
    } else {
        bad(
            format!("`{v}` is not a host name or IP address"),
            "give the host only, e.g. 127.0.0.1 (the port is --proxy-reconf-port)",
        )
    }
}

/// A container or image-like name docker accepts, with no characters that need quoting.
pub(crate) fn parse_name(v: &str) -> Parsed<String> {
    if !v.is_empty()
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not a container name"),
            "use letters, digits, `_`, `.` and `-`",
        )
    }
}

/// How many replicas the proxy service runs: 1 to 100.
pub(crate) fn parse_replicas(v: &str) -> Parsed<u32> {
    match v.parse::<u32>() {
        Ok(n @ 1..=100) => Ok(n),
        _ => bad(
            format!("`{v}` is not a number of proxy replicas"),
            "give a number from 1 to 100 (leave it unset for one proxy container)",
        ),
    }
}

/// A registry to push to: `host[:port]` with an optional `/path`, in the characters image
/// references allow.
pub(crate) fn parse_registry(v: &str) -> Parsed<String> {
    let v = v.trim_end_matches('/');
    let (host, path) = v.split_once('/').unwrap_or((v, ""));
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
    if host_ok && path_ok && (host.contains(['.', ':']) || host == "localhost") {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not a registry"),
            "give the registry's host, with its port and a path if needed: registry.example.com, 10.0.0.5:5000/team",
        )
    }
}

pub(crate) fn parse_image(v: &str) -> Parsed<String> {
    if !v.is_empty()
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/:@".contains(&b))
    {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{v}` is not an image reference"),
            "use NAME[:TAG] or NAME@DIGEST, e.g. caddy:2",
        )
    }
}

/// `--proxy-trusted-proxies`: an IP address or a CIDR range, as Caddy's `trusted_proxies` takes it.
pub(crate) fn parse_ip_range(v: &str) -> Parsed<String> {
    let (ip, prefix) = v.split_once('/').unwrap_or((v, ""));
    let ok = match ip.parse::<std::net::IpAddr>() {
        Ok(addr) => {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            prefix.is_empty() || prefix.parse::<u8>().is_ok_and(|p| p <= max)
        }
        Err(_) => false,
    };
    if ok {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{}` is not an IP address or CIDR range", v.escape_debug()),
            "use an address such as 10.0.0.5 or a range such as 10.0.0.0/8 (or `none`)",
        )
    }
}

/// `--acme-email`: an address the CA may write to about the certificates.
pub(crate) fn parse_email(v: &str) -> Parsed<String> {
    let ok = v.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
    }) && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(v.to_string())
    } else {
        bad(
            format!("`{}` is not an email address", v.escape_debug()),
            "use an address such as ops@example.com",
        )
    }
}

/// `--acme-ca`: an ACME directory, over HTTPS (Caddy refuses a plain-HTTP CA).
pub(crate) fn parse_acme_directory(v: &str) -> Parsed<String> {
    match v.parse::<http::Uri>() {
        Ok(u) if u.scheme_str() == Some("https") && u.host().is_some_and(|h| !h.is_empty()) => {
            Ok(v.to_string())
        }
        _ => bad(
            format!("`{}` is not an https URL of an ACME directory", v.escape_debug()),
            "use the CA's directory URL, such as https://acme-staging-v02.api.letsencrypt.org/directory",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_specs() {
        assert_eq!(parse_scale("3"), Ok(ScaleSpec::Absolute(3)));
        assert_eq!(parse_scale("+2"), Ok(ScaleSpec::Relative(2)));
        assert_eq!(parse_scale("-1"), Ok(ScaleSpec::Relative(-1)));
        for bad in [
            "abc",
            "+",
            "-",
            "+-1",
            "0x5",
            "99999999999999999999",
            "1001",
            "",
            " 1",
            "1.5",
        ] {
            assert!(parse_scale(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn scale_rules_of_the_seed() {
        assert_eq!(ScaleSpec::Relative(2).apply(1), (3, false));
        assert_eq!(ScaleSpec::Relative(-1).apply(3), (2, false));
        assert_eq!(ScaleSpec::Relative(-5).apply(2), (1, true));
        assert_eq!(ScaleSpec::Absolute(0).apply(4), (1, true));
        assert_eq!(ScaleSpec::Absolute(5).apply(1), (5, false));
    }

    #[test]
    fn service_paths() {
        assert!(parse_service_path("/demo").is_ok());
        assert!(parse_service_path("/api/v1.2/x_y-z~").is_ok());
        for bad in [
            "demo",
            "/a b",
            "/a\"b",
            "/a'b",
            "/{x}",
            "/a\nb",
            "/a;rm -rf",
            "/$(id)",
            "/a`b`",
            "/a|b",
            "/a,b",
            "//a",
            "/a&b",
        ] {
            assert!(
                parse_service_path(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn health_paths() {
        assert_eq!(parse_health_path("/"), Ok("/".to_string()));
        assert_eq!(
            parse_health_path("/health?full=1"),
            Ok("/health?full=1".to_string())
        );
        for bad in ["health", "/a b", "/a\r\nX: y", "/h?x=<1>"] {
            assert!(parse_health_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(
            parse_domain("App.Example.com"),
            Ok("app.example.com".into())
        );
        assert!(parse_domain("*.example.com").is_ok());
        for bad in [
            "",
            "exa mple.com",
            "-a.com",
            "a..com",
            "a.com;",
            "http://a.com",
            "a_b.com",
        ] {
            assert!(parse_domain(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn bools_ports_durations() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool("FALSE"), Some(false));
        assert_eq!(parse_bool("yes please"), None);
        for (v, b) in [
            ("yes", true),
            ("On", true),
            ("1", true),
            ("no", false),
            ("off", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool(v), Some(b), "{v}");
        }
        assert_eq!(parse_port("8080"), Some(8080));
        for bad in ["0", "65536", "-1", "80a", ""] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn hosts_and_urls() {
        assert!(parse_http_url("http://consul:8500").is_ok());
        assert!(parse_http_url("consul:8500").is_err());
        assert!(parse_http_url("ftp://consul").is_err());
        assert!(parse_docker_host("unix:///var/run/docker.sock").is_ok());
        assert!(parse_docker_host("/var/run/docker.sock").is_err());
        assert_eq!(parse_host("[::1]"), Ok("::1".into()));
        assert!(parse_host("http://x").is_err());
    }
}
