//! Draining: waiting until Caddy has no request in flight to instances that left a route.
//!
//! The old instances left the route's record but still run; Caddy looks the record up again
//! within `config::REFRESH_MS`, and until then it may still pick them. docker flow's helper, in
//! the proxy container, waits that long first, then polls Caddy's upstream counters for their
//! addresses: one `docker exec` per round, not one per poll.

use std::time::{Duration, Instant};

use docker_flow_helper::protocol::{self, drain::Outcome};

use super::container::ProxyContainer;
use super::{config, ADMIN};
use crate::engine::args;
use crate::error::Result;
use crate::proxy::Drained;

/// How long one round may wait inside the helper, so that a cancel is noticed between rounds.
const ROUND: Duration = Duration::from_secs(5);

/// Waits until no request is in flight to `addresses` (`ip:port` on the route network), at
/// most `timeout`.
pub(super) fn wait(
    container: &ProxyContainer,
    addresses: &[String],
    timeout: Duration,
) -> Result<Drained> {
    let started = Instant::now();
    let mut settle = 2 * config::REFRESH_MS;
    let mut last = None;
    let mut most = 0;
    while started.elapsed() < timeout {
        crate::cancel::check()?;
        let round = (timeout - started.elapsed()).min(ROUND);
        let mut a = args(&[
            "drain",
            ADMIN,
            &settle.to_string(),
            &round.as_millis().to_string(),
        ]);
        a.extend(addresses.iter().cloned());
        settle = 0;
        let out = container.exec(&a, None, false)?;
        // A round that timed out, or in which Caddy could not say how many were in flight:
        // keep waiting (stopping an instance with requests in flight is worse than waiting out
        // --drain-timeout).
        match protocol::drain::parse(&out.stdout).filter(|_| out.ok()) {
            Some(Outcome::Clear(n)) => {
                return Ok(Drained::Clear {
                    waited_for: most.max(n),
                })
            }
            Some(Outcome::TimedOut(n)) => {
                last = n.or(last);
                most = most.max(n.unwrap_or(0));
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    Ok(Drained::TimedOut(last))
}
