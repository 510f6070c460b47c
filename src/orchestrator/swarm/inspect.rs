//! Swarm's JSON of the target's services and tasks (`docker service inspect`, `docker inspect
//! --type task`) read into instances: a task with Swarm's state, its node and its address on the
//! route network; a colour scaled to 0 as the stopped instances a rollback brings back; docker
//! flow's labels. Separate from `instances.rs`, which asks the manager, because it is pure: the
//! unit tests pin each reading on JSON as the engine gives it.

use std::time::Duration;

use serde_json::Value;

use crate::instance::Instance;
use crate::model::{
    self, Color, LABEL_COLOR, LABEL_KEEP_OLD, LABEL_PORT, LABEL_PREVIOUS_IMAGE,
    LABEL_PREVIOUS_RELEASE, LABEL_PREVIOUS_RELEASED_AT, LABEL_RELEASE, LABEL_RELEASED_AT,
    LABEL_REPLICAS, LABEL_TARGET,
};

/// One service of the target, as `docker service inspect` gives it.
pub(super) struct ServiceState {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) color: Option<Color>,
    pub(super) replicas: u32,
    pub(super) spec: Value,
}

/// One task, as `docker inspect` gives it, with its instance.
pub(super) struct Task {
    pub(super) instance: Instance,
    pub(super) desired_running: bool,
    /// Swarm's own state (`running`, `starting`, `failed`, …) and error.
    pub(super) state: String,
    pub(super) error: String,
    pub(super) message: String,
}

impl Task {
    /// Whether the task is over: it will never run (again).
    pub(super) fn ended(&self) -> bool {
        matches!(
            self.state.as_str(),
            "failed" | "rejected" | "complete" | "shutdown" | "orphaned" | "remove"
        )
    }
}

/// A colour scaled to 0, as the stopped instances a rollback brings back: as many as it had.
pub(super) fn stopped(svc: &ServiceState) -> Vec<Instance> {
    let count = svc
        .spec
        .pointer(&format!(
            "/Spec/Labels/{}",
            LABEL_REPLICAS.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1u32)
        .max(1);
    let base = with_labels(svc.spec.pointer("/Spec/TaskTemplate/ContainerSpec/Labels"));
    (1..=count)
        .map(|n| Instance {
            id: format!("{}.{n}", svc.id),
            name: format!("{}.{n}", svc.name),
            state: "exited".into(),
            health: "none".into(),
            image: str_at(&svc.spec, "/Spec/TaskTemplate/ContainerSpec/Image"),
            image_id: str_at(&svc.spec, "/Spec/TaskTemplate/ContainerSpec/Image"),
            created: str_at(&svc.spec, "/CreatedAt"),
            finished_at: str_at(&svc.spec, "/UpdatedAt"),
            ..base.clone()
        })
        .collect()
}

/// A task as an instance of its service `service` (its address on `route_network`, if any).
pub(super) fn task(t: &Value, service: &str, route_network: Option<&str>) -> Task {
    let state = str_at(t, "/Status/State");
    let id = str_at(t, "/ID");
    let slot = t.pointer("/Slot").and_then(Value::as_u64).unwrap_or(0);
    let networks: Vec<(String, String)> = t
        .pointer("/NetworksAttachments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|n| {
                    let ip = n
                        .pointer("/Addresses/0")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    (
                        str_at(n, "/Network/Spec/Name"),
                        ip.split('/').next().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let address = route_network.and_then(|net| {
        networks
            .iter()
            .find(|(n, _)| n == net)
            .map(|(_, ip)| ip.clone())
    });
    let mut instance = with_labels(t.pointer("/Spec/ContainerSpec/Labels"));
    instance.id = id.clone();
    instance.name = format!("{service}.{slot}.{id}");
    instance.state = match state.as_str() {
        "running" => "running",
        "new" | "pending" | "assigned" | "accepted" | "preparing" | "ready" | "starting" => {
            "created"
        }
        _ => "exited",
    }
    .into();
    // Swarm reports a task with a healthcheck running only once it passed.
    instance.health = match state.as_str() {
        "running" => "healthy",
        "starting" => "starting",
        _ => "none",
    }
    .into();
    instance.image = str_at(t, "/Spec/ContainerSpec/Image");
    instance.image_id = instance.image.clone();
    instance.created = str_at(t, "/CreatedAt");
    if state == "running" {
        instance.started_at = str_at(t, "/Status/Timestamp");
    } else if instance.state == "exited" {
        instance.finished_at = str_at(t, "/Status/Timestamp");
    }
    instance.exit_code = t
        .pointer("/Status/ContainerStatus/ExitCode")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    instance.networks = networks;
    instance.address = address;
    instance.node = str_at(t, "/NodeID");
    Task {
        instance,
        desired_running: str_at(t, "/DesiredState") == "running",
        state,
        error: str_at(t, "/Status/Err"),
        message: str_at(t, "/Status/Message"),
    }
}

pub(super) fn str_at(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// An instance with what docker flow's labels say (release, colour, what it replaced).
pub(super) fn with_labels(labels: Option<&Value>) -> Instance {
    let label = |k: &str| model::label(labels, k);
    Instance {
        target: label(LABEL_TARGET),
        color: Color::parse(&label(LABEL_COLOR)),
        release: label(LABEL_RELEASE),
        released_at: label(LABEL_RELEASED_AT),
        port: label(LABEL_PORT).parse().ok(),
        previous_image: label(LABEL_PREVIOUS_IMAGE),
        previous_release: label(LABEL_PREVIOUS_RELEASE),
        previous_released_at: label(LABEL_PREVIOUS_RELEASED_AT),
        keep_old: label(LABEL_KEEP_OLD).parse().ok().map(Duration::from_secs),
        ..Instance::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A task as `docker inspect --type task` gives it (trimmed to what docker flow reads).
    fn inspected(state: &str, desired: &str) -> Value {
        json!({
            "ID": "3juwepp6n6p77vgq799vren9v",
            "CreatedAt": "2026-11-27T14:43:26.576799404Z",
            "Spec": {"ContainerSpec": {
                "Image": "demo-service:v2@sha256:ab",
                "Labels": {
                    "io.docker-flow.target": "app", "io.docker-flow.color": "green",
                    "io.docker-flow.release": "r2", "io.docker-flow.released-at": "t2",
                    "io.docker-flow.port": "8080"
                }
            }},
            "ServiceID": "tia",
            "Slot": 2,
            "NodeID": "kpyn9dw8",
            "Status": {"Timestamp": "2026-11-27T14:43:28.2Z", "State": state, "Message": "started",
                       "Err": "", "ContainerStatus": {"ExitCode": 0}},
            "DesiredState": desired,
            "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "shop_default"}}, "Addresses": ["10.246.5.18/24"]},
                {"Network": {"Spec": {"Name": "dflow-shop-app"}}, "Addresses": ["10.246.1.3/24"]}
            ]
        })
    }

    #[test]
    fn a_running_task_is_a_running_healthy_instance_with_its_route_address_and_node() {
        let t = task(
            &inspected("running", "running"),
            "shop_app-green",
            Some("dflow-shop-app"),
        );
        let i = &t.instance;
        assert!(t.desired_running);
        assert_eq!(i.name, "shop_app-green.2.3juwepp6n6p77vgq799vren9v");
        assert_eq!(
            (i.state.as_str(), i.health.as_str()),
            ("running", "healthy")
        );
        assert_eq!(i.address.as_deref(), Some("10.246.1.3"));
        assert_eq!(i.node, "kpyn9dw8");
        assert_eq!(i.color, Some(Color::Green));
        assert_eq!((i.release.as_str(), i.port), ("r2", Some(8080)));
        assert_eq!(i.image, "demo-service:v2@sha256:ab");
        assert_eq!(i.started_at, "2026-11-27T14:43:28.2Z");
        assert_eq!(i.upstream(80).address.as_deref(), Some("10.246.1.3"));
    }

    #[test]
    fn a_starting_task_is_not_ready_and_an_ended_one_is_exited() {
        let starting = task(&inspected("starting", "running"), "s", None);
        assert_eq!(starting.instance.state, "created");
        assert_eq!(starting.instance.health, "starting");
        assert_eq!(starting.instance.address, None, "no route network asked");
        let ended = task(&inspected("complete", "shutdown"), "s", None);
        assert!(!ended.desired_running);
        assert_eq!(ended.instance.state, "exited");
        assert_eq!(ended.instance.finished_at, "2026-11-27T14:43:28.2Z");
        assert_eq!(ended.message, "started");
    }

    #[test]
    fn a_colour_scaled_to_0_is_as_many_stopped_instances_as_it_had() {
        let spec = json!({
            "ID": "svc1", "CreatedAt": "c", "UpdatedAt": "u",
            "Spec": {
                "Name": "shop_app-blue",
                "Labels": {"io.docker-flow.replicas": "3"},
                "TaskTemplate": {"ContainerSpec": {
                    "Image": "demo-service:v1",
                    "Labels": {"io.docker-flow.color": "blue", "io.docker-flow.release": "r1"}
                }}
            }
        });
        let svc = ServiceState {
            name: "shop_app-blue".into(),
            id: "svc1".into(),
            color: Some(Color::Blue),
            replicas: 0,
            spec,
        };
        let list = stopped(&svc);
        assert_eq!(list.len(), 3);
        assert!(list.iter().all(|i| !i.running() && i.release == "r1"));
        assert_eq!(list[2].name, "shop_app-blue.3");
        assert_eq!(list[0].image, "demo-service:v1");
    }
}
