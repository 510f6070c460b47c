//! What a service needs before it starts, as Compose reads `depends_on`: the services it
//! depends on, theirs in turn, and the condition each must meet (`service_started`,
//! `service_healthy`, `service_completed_successfully`).
//!
//! `docker compose up -d app` starts `db` first when `app` depends on it; docker flow starts a
//! release with `--no-deps` (its colours are services of their own), so it starts what the
//! target needs itself, in the same order, and waits for the conditions the target asks. A
//! side target that depends on the target itself starts once the target serves, as Compose
//! would start it after.

use indexmap::IndexMap;

use crate::compose::Service;

/// What a service must have reached before a service that depends on it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Condition {
    Started,
    Healthy,
    /// Ran to its end with exit code 0 (a one-off job, a migration).
    Completed,
}

impl Condition {
    fn parse(v: &serde_json::Value) -> Condition {
        match v.get("condition").and_then(|c| c.as_str()) {
            Some("service_healthy") => Condition::Healthy,
            Some("service_completed_successfully") => Condition::Completed,
            _ => Condition::Started,
        }
    }

    /// As `depends_on` spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::Completed => "service_completed_successfully",
        }
    }
}

/// The services `service` depends on directly (those of the project: a service of a profile
/// not enabled is not there, and Compose skips it too), with the condition it asks of each.
pub(crate) fn direct(
    services: &IndexMap<String, Service>,
    service: &str,
) -> Vec<(String, Condition)> {
    services
        .get(service)
        .map(|s| {
            s.depends_on
                .iter()
                .filter(|(name, _)| services.contains_key(*name))
                .map(|(name, v)| (name.clone(), Condition::parse(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every service `target` needs, directly or through another, each after the services it
/// needs itself: the order Compose starts them in. Not `target` itself; a cycle (which
/// Compose refuses) ends where it closes.
pub(crate) fn needed(services: &IndexMap<String, Service>, target: &str) -> Vec<String> {
    fn visit(
        services: &IndexMap<String, Service>,
        service: &str,
        seen: &mut Vec<String>,
        out: &mut Vec<String>,
    ) {
        for (dep, _) in direct(services, service) {
            if seen.contains(&dep) {
                continue;
            }
            seen.push(dep.clone());
            visit(services, &dep, seen, out);
            out.push(dep);
        }
    }
    let (mut seen, mut out) = (vec![target.to_string()], Vec::new());
    visit(services, target, &mut seen, &mut out);
    out
}

/// Whether `service` depends on `target`, directly or through another service: Compose
/// starts it only once `target` runs (a front whose nginx resolves `target` as it starts).
pub(crate) fn depends_on(
    services: &IndexMap<String, Service>,
    service: &str,
    target: &str,
) -> bool {
    service != target && needed(services, service).iter().any(|s| s == target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(json: serde_json::Value) -> IndexMap<String, Service> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_needed_services_come_each_after_what_it_needs() {
        let s = services(serde_json::json!({
            "app": {"depends_on": {
                "migrate": {"condition": "service_completed_successfully", "required": true},
                "cache": {"condition": "service_started", "required": true},
                "gone": {"condition": "service_started", "required": false}
            }},
            "migrate": {"depends_on": {"db": {"condition": "service_healthy", "required": true}}},
            "db": {},
            "cache": {"depends_on": {"app": {"condition": "service_started"}}},
            "other": {}
        }));
        assert_eq!(needed(&s, "app"), ["db", "migrate", "cache"]);
        assert_eq!(
            direct(&s, "app"),
            [
                ("migrate".to_string(), Condition::Completed),
                ("cache".to_string(), Condition::Started)
            ]
        );
        assert_eq!(
            direct(&s, "migrate"),
            [("db".to_string(), Condition::Healthy)]
        );
        assert!(needed(&s, "other").is_empty());
        // `cache` depends on `app` (a cycle Compose would refuse; it ends where it closes).
        assert!(depends_on(&s, "cache", "app"));
        assert!(!depends_on(&s, "db", "app"));
        assert!(depends_on(&s, "migrate", "db"));
        assert!(depends_on(&s, "app", "db"));
        assert!(!depends_on(&s, "app", "app"));
        assert!(needed(&s, "nothing").is_empty());
    }
}
