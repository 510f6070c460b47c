//! Swarm mode: a colour is a service of the project's stack (`shop_app-blue`), an instance one
//! of its tasks.
//!
//! A deploy sends `docker stack deploy` a stack file (`stack.rs`) with the side targets and the
//! next colour only, never `--prune`, so the live colour is never touched and versions never
//! mix. Swarm's own health gate decides when a task runs (a task with a healthcheck stays
//! `starting` until it passes, and one that turns unhealthy is replaced), so "every task of the
//! release running" is "healthy". Instances are read from the manager's task state (addresses
//! included: the proxy routes to them, never through overlay DNS). A colour that served is
//! scaled to 0, keeping its service (and the replicas it had, in a label) for rollback.
//!
//! Swarm removes the tasks it chooses when a service scales down, so docker flow cannot take
//! chosen tasks out of rotation first: scaling down in place is refused (`can_remove_chosen`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::mask;
use super::stack::{self, Cut};
use super::{NewRelease, Orchestrator};
use crate::compose::{ComposeFile, Project};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::model::{
    self, service_name, Color, Derivation, Release, LABEL_COLOR, LABEL_KEEP_OLD, LABEL_PORT,
    LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_RELEASE, LABEL_PREVIOUS_RELEASED_AT, LABEL_RELEASE,
    LABEL_RELEASED_AT, LABEL_REPLICAS, LABEL_TARGET,
};
use crate::progress::Progress;
use crate::registry;
use crate::settings::{ProxyDriver, PullPolicy, Settings};

/// The label Swarm puts on a stack's services, networks and tasks.
const LABEL_STACK: &str = "com.docker.stack.namespace";
/// How long Swarm may take to create a deployed colour's tasks.
const TASKS_APPEAR: Duration = Duration::from_secs(30);

pub(super) struct Swarm<'a> {
    engine: &'a Engine,
    settings: &'a Settings,
    project: Project,
    target: String,
    port: Option<u16>,
    /// The route network the colours join (the Caddy driver reaches tasks over it).
    route_network: Option<String>,
    planned: RefCell<Option<Value>>,
    /// A dry run's derivation of the model as written (before interpolation), for the plan to
    /// show instead of what interpolation filled in.
    planned_raw: RefCell<Option<ComposeFile>>,
    listed: RefCell<Option<Vec<Instance>>>,
    /// Every task id Swarm had for the target before docker flow last changed it, so that a
    /// failed task can be told from the history (tasks that failed before this run).
    known: RefCell<Option<HashSet<String>>>,
}

/// How long one probe round keeps retrying (short, so ended tasks and cancels are noticed).
const PROBE_ROUND: Duration = Duration::from_secs(2);

/// What docker flow's probe has seen of a release's tasks (targets without a healthcheck).
#[derive(Default)]
struct Probed {
    /// Tasks seen answering.
    answered: HashSet<String>,
    /// Why the others did not yet, by task.
    reasons: std::collections::HashMap<String, String>,
    /// The probe's image, looked up once.
    image: Option<String>,
}

/// One service of the target, as `docker service inspect` gives it.
struct ServiceState {
    name: String,
    id: String,
    color: Option<Color>,
    replicas: u32,
    spec: Value,
}

/// One task, as `docker inspect` gives it, with its instance.
struct Task {
    instance: Instance,
    desired_running: bool,
    /// Swarm's own state (`running`, `starting`, `failed`, …) and error.
    state: String,
    error: String,
    message: String,
}

impl Task {
    /// Whether the task is over: it will never run (again).
    fn ended(&self) -> bool {
        matches!(
            self.state.as_str(),
            "failed" | "rejected" | "complete" | "shutdown" | "orphaned" | "remove"
        )
    }
}

impl<'a> Swarm<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        settings: &'a Settings,
        project: Project,
        target: &str,
        port: Option<u16>,
    ) -> Swarm<'a> {
        let route_network = (settings.proxy.driver == ProxyDriver::Caddy)
            .then(|| model::route_network(&project.model.name, target, true));
        Swarm {
            engine,
            settings,
            project,
            target: target.to_string(),
            port,
            route_network,
            planned: RefCell::new(None),
            planned_raw: RefCell::new(None),
            listed: RefCell::new(None),
            known: RefCell::new(None),
        }
    }

    fn stack(&self) -> &str {
        &self.project.model.name
    }

    /// Whether every running task of `running` has been seen answering. A target with a
    /// Docker healthcheck needs nothing more (Swarm runs its task once healthy); one without
    /// runs as soon as its process starts, so docker flow's probe checks each task's port
    /// from a container on the route network, as on one engine (a round of at most
    /// `PROBE_ROUND`). Without a route network (no proxy) there is nothing to probe from.
    fn probed(&self, running: &[Instance], probe: &mut Probed, started: Instant) -> Result<bool> {
        let (Some(net), false) = (
            &self.route_network,
            crate::compose::declares_healthcheck(&self.project.model, &self.target),
        ) else {
            return Ok(true);
        };
        let Some(port) = self.port else {
            return Ok(true);
        };
        let waiting: Vec<(&Instance, String)> = running
            .iter()
            .filter(|i| !probe.answered.contains(&i.id))
            .filter_map(|i| i.address.as_ref().map(|a| (i, format!("{a}:{port}"))))
            .collect();
        if waiting.is_empty() {
            return Ok(running.iter().all(|i| probe.answered.contains(&i.id)));
        }
        if probe.image.is_none() {
            probe.image = Some(crate::probe::image(self.engine)?);
        }
        let round = PROBE_ROUND.min(
            self.settings
                .health_timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(100)),
        );
        let addrs: Vec<String> = waiting.iter().map(|(_, a)| a.clone()).collect();
        let found = crate::probe::run(
            self.engine,
            probe.image.as_deref().unwrap_or_default(),
            net,
            &addrs,
            &self.settings.health_path,
            round,
        )?;
        for (i, addr) in waiting {
            if found.answered.contains(&addr) {
                probe.answered.insert(i.id.clone());
                probe.reasons.remove(&i.id);
            } else if let Some((_, why)) = found.waiting.iter().find(|(a, _)| *a == addr) {
                probe.reasons.insert(i.id.clone(), why.clone());
            }
        }
        Ok(running.iter().all(|i| probe.answered.contains(&i.id)))
    }

    /// Whether the engine reaches `registry` without TLS (its `insecure-registries`), so that
    /// asking it for an image needs `--insecure` as the nodes' pulls do not.
    fn registry_insecure(&self, registry: &str) -> Result<bool> {
        let out = self
            .engine
            .read(&args(&["info", "--format", "{{json .RegistryConfig}}"]))?;
        let config: registry::RegistryConfig =
            serde_json::from_str(out.stdout.trim()).unwrap_or_default();
        Ok(config.insecure(registry))
    }

    /// What Swarm says of the tasks of `release` in `color` that ended or are being stopped:
    /// their states and errors.
    fn ended_tasks(&self, color: Option<Color>, release: &str) -> Result<String> {
        let services: Vec<ServiceState> = self
            .services()?
            .into_iter()
            .filter(|s| s.color == color)
            .collect();
        let mut seen: Vec<String> = Vec::new();
        for t in self.tasks(&services)? {
            if (t.desired_running && !t.ended()) || t.instance.release != release {
                continue;
            }
            let why = if t.error.is_empty() {
                &t.message
            } else {
                &t.error
            };
            let line = format!("Swarm: {}, {why}", t.state);
            if !seen.contains(&line) {
                seen.push(line);
            }
        }
        Ok(if seen.is_empty() {
            "Swarm created none".to_string()
        } else {
            seen.join("; ")
        })
    }

    fn full_name(&self, color: Option<Color>) -> String {
        format!("{}_{}", self.stack(), service_name(&self.target, color))
    }

    /// The target's services (either colour), as Swarm has them now.
    fn services(&self) -> Result<Vec<ServiceState>> {
        let out = self.engine.read(&args(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label={LABEL_STACK}={}", self.stack()),
            "--filter",
            &format!("label={LABEL_TARGET}={}", self.target),
        ]))?;
        if !out.ok() {
            return Err(Error::environment(
                format!("`docker service ls` failed: {}", out.stderr.trim()),
                "docker flow's Swarm mode runs against a swarm manager: check `docker node ls`",
            ));
        }
        let ids: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut a = args(&["service", "inspect"]);
        a.extend(ids);
        let out = self.engine.read(&a)?;
        let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
        Ok(list
            .into_iter()
            .map(|v| {
                let label = |k: &str| model::label(v.pointer("/Spec/Labels"), k);
                ServiceState {
                    name: str_at(&v, "/Spec/Name"),
                    id: str_at(&v, "/ID"),
                    color: Color::parse(&label(LABEL_COLOR)),
                    replicas: v
                        .pointer("/Spec/Mode/Replicated/Replicas")
                        .and_then(Value::as_u64)
                        .unwrap_or(0) as u32,
                    spec: v,
                }
            })
            .collect())
    }

    /// Every task Swarm keeps for `services` (history included).
    fn tasks(&self, services: &[ServiceState]) -> Result<Vec<Task>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let mut a = args(&["service", "ps", "-q", "--no-trunc"]);
        a.extend(services.iter().map(|s| s.id.clone()));
        let out = self.engine.read(&a)?;
        let ids: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut a = args(&["inspect", "--type", "task"]);
        a.extend(ids);
        let out = self.engine.read(&a)?;
        let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|t| {
                let svc = services.iter().find(|s| s.id == str_at(t, "/ServiceID"))?;
                Some(task(t, &svc.name, self.route_network.as_deref()))
            })
            .collect())
    }

    /// The target's instances now: each colour's tasks that Swarm wants running, or, for a
    /// colour scaled to 0, its stopped instances.
    fn list(&self) -> Result<Vec<Instance>> {
        let services = self.services()?;
        let tasks = self.tasks(&services)?;
        let mut out = Vec::new();
        for svc in &services {
            if svc.replicas == 0 {
                out.extend(stopped(svc));
                continue;
            }
            out.extend(
                tasks
                    .iter()
                    .filter(|t| t.desired_running && t.instance.name.starts_with(&svc.name))
                    .map(|t| t.instance.clone()),
            );
        }
        out.sort_by(|a, b| {
            (&a.released_at, &a.release, &a.name).cmp(&(&b.released_at, &b.release, &b.name))
        });
        Ok(out)
    }

    fn changing(&self) {
        *self.listed.borrow_mut() = None;
    }

    /// Notes every task the target has now, before a change (see `known`).
    fn snapshot(&self) -> Result<()> {
        if self.engine.dry_run() {
            return Ok(());
        }
        let ids = self
            .tasks(&self.services()?)?
            .into_iter()
            .map(|t| t.instance.id)
            .collect();
        *self.known.borrow_mut() = Some(ids);
        Ok(())
    }

    /// The route network, made if missing (the proxy's preflight refused one that is not this
    /// route's): a colour joins it as its service is created, never later (that would restart
    /// its tasks).
    fn ensure_route_network(&self) -> Result<()> {
        let Some(net) = &self.route_network else {
            return Ok(());
        };
        let out = self
            .engine
            .read(&args(&["network", "inspect", "-f", "{{.Scope}}", net]))?;
        if out.ok() {
            return Ok(());
        }
        let create = model::route_network_create(self.stack(), &self.target, true);
        let made = self.engine.change(&create, None)?;
        if made.ok_or_exists() {
            return Ok(());
        }
        Err(Error::environment(
            format!(
                "cannot create the route network `{net}`: {}",
                made.stderr.trim()
            ),
            "check `docker network ls` and the swarm's address pools",
        ))
    }

    /// Deploys the side targets and `color` of the derived model, with `replicas` tasks.
    fn deploy(&self, derived: &ComposeFile, color: Color, replicas: u32) -> Result<()> {
        self.snapshot()?;
        self.changing();
        self.ensure_route_network()?;
        let colour = service_name(&self.target, Some(color));
        // A side target that runs is never updated (as Compose's `--no-recreate`).
        let existing = self.engine.read(&args(&[
            "service",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &format!("label={LABEL_STACK}={}", self.stack()),
        ]))?;
        let existing: Vec<&str> = existing.stdout.lines().map(str::trim).collect();
        let mut services: Vec<String> = self
            .settings
            .side_targets
            .iter()
            .filter(|s| !existing.contains(&format!("{}_{s}", self.stack()).as_str()))
            .cloned()
            .collect();
        services.push(colour.clone());
        let labels = [(LABEL_REPLICAS.to_string(), replicas.to_string())];
        let model = serde_json::to_value(derived).map_err(|e| {
            Error::flow(
                format!("cannot serialise the derived model: {e}"),
                "please report this",
            )
        })?;
        let cut = Cut {
            services: &services,
            colour: Some((&colour, replicas)),
            route_network: self.route_network.as_deref(),
            service_labels: &labels,
        };
        let file = stack::stack_file(&model, &cut);
        if self.engine.dry_run() {
            // The plan shows the stack file with what interpolation filled in masked (as the
            // Compose orchestrator's does): `.env` and the environment are where secrets live.
            let raw = self.planned_raw.borrow_mut().take();
            let shown = raw.and_then(|raw| {
                let raw = stack::stack_file(&serde_json::to_value(raw).ok()?, &cut);
                let mut shown = file.clone();
                mask::interpolated(&mut shown, &raw, false);
                Some(shown)
            });
            // Without the model as written, nothing of it is shown.
            *self.planned.borrow_mut() = Some(shown.unwrap_or(Value::Null));
        }
        let body = serde_json::to_vec(&file).unwrap_or_default();
        // Whether the CLI asks the registry for the image's digest (pinning every node to it):
        // `--pull never` means no registry.
        let resolve = match self.settings.pull {
            PullPolicy::Always => "always",
            PullPolicy::Missing => "changed",
            PullPolicy::Never => "never",
        };
        let a = args(&[
            "stack",
            "deploy",
            "--resolve-image",
            resolve,
            "-c",
            "-",
            self.stack(),
        ]);
        let out = self.engine.change_streamed(&a, Some(&body))?;
        if !out.ok() {
            return Err(Error::ComposeFailed {
                command: format!("docker stack deploy {}", self.stack()),
            });
        }
        Ok(())
    }

    /// `docker service update` of a colour: its replicas (and, scaling to 0, how many it had).
    fn scale(&self, color: Option<Color>, replicas: u32, had: Option<u32>) -> Result<()> {
        if replicas > 0 {
            self.snapshot()?;
        }
        self.changing();
        let mut a = args(&["service", "update", "--detach", "--replicas"]);
        a.push(replicas.to_string());
        if let Some(n) = had {
            a.extend(args(&["--label-add", &format!("{LABEL_REPLICAS}={n}")]));
        }
        a.push(self.full_name(color));
        let out = self.engine.change(&a, None)?;
        if !out.ok() {
            return Err(Error::flow(
                format!(
                    "cannot scale {} to {replicas}: {}",
                    self.full_name(color),
                    out.stderr.trim()
                ),
                "see `docker service ps`",
            ));
        }
        Ok(())
    }

    /// Waits until Swarm created the tasks `color` should have (any state); returns them.
    fn await_tasks(&self, color: Option<Color>, want: u32) -> Result<Vec<Instance>> {
        let started = Instant::now();
        loop {
            let now: Vec<Instance> = self
                .list()?
                .into_iter()
                .filter(|i| i.color == color && i.state != "exited")
                .collect();
            if now.len() as u32 >= want || started.elapsed() > TASKS_APPEAR {
                return Ok(now);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Colours of `instances`, with how many of each.
    fn by_color(instances: &[Instance]) -> BTreeMap<Option<Color>, u32> {
        let mut m = BTreeMap::new();
        for i in instances {
            *m.entry(i.color).or_insert(0) += 1;
        }
        m
    }

    fn derive_with(
        &self,
        adjust: &dyn Fn(&mut ComposeFile),
        release: (Option<Color>, &Release),
        refer_to: Color,
        extra: &[(String, String)],
    ) -> Result<ComposeFile> {
        let derivation = Derivation {
            target: &self.target,
            blue_green: true,
            release: Some(release),
            refer_to,
            port: self.port,
            extra_labels: extra,
        };
        let derive = |m: &ComposeFile| {
            let mut base = m.clone();
            adjust(&mut base);
            model::derive(&base, &derivation)
        };
        if self.engine.dry_run() {
            *self.planned_raw.borrow_mut() = self
                .project
                .uninterpolated
                .as_ref()
                .and_then(|raw| derive(raw).ok());
        }
        derive(&self.project.model)
    }
}

/// One instance per service docker flow deployed in `stack` (any target), with its labels: which
/// targets a project has, and in which mode.
pub(super) fn deployed(engine: &Engine, stack: &str) -> Result<Vec<Instance>> {
    let out = engine.read(&args(&[
        "service",
        "ls",
        "-q",
        "--filter",
        &format!("label={LABEL_STACK}={stack}"),
        "--filter",
        &format!("label={LABEL_TARGET}"),
    ]))?;
    let ids: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut a = args(&["service", "inspect"]);
    a.extend(ids);
    let list: Vec<Value> = serde_json::from_str(&engine.read(&a)?.stdout).unwrap_or_default();
    Ok(list
        .iter()
        .map(|v| with_labels(v.pointer("/Spec/TaskTemplate/ContainerSpec/Labels")))
        .collect())
}

/// A colour scaled to 0, as the stopped instances a rollback brings back: as many as it had.
fn stopped(svc: &ServiceState) -> Vec<Instance> {
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
fn task(t: &Value, service: &str, route_network: Option<&str>) -> Task {
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

fn str_at(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// An instance with what docker flow's labels say (release, colour, what it replaced).
fn with_labels(labels: Option<&Value>) -> Instance {
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

/// Swarm mode deploys colours: the target as it is named would be updated in place.
fn needs_colour(color: Option<Color>) -> Result<Color> {
    color.ok_or_else(|| {
        Error::usage(
            "Swarm mode deploys blue-green only: each colour is a service of the stack",
            "deploy with --blue-green (or `blue_green: true` in docker-flow.yml)",
        )
    })
}

impl Orchestrator for Swarm<'_> {
    fn service(&self, color: Option<Color>) -> String {
        self.full_name(color)
    }

    /// None: Swarm replaces an unhealthy task itself, and a task with a healthcheck runs only
    /// once it passed (the manager runs few of them to ask anyway).
    fn unhealthy(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn instances(&self) -> Result<Vec<Instance>> {
        if let Some(list) = self.listed.borrow().clone() {
            return Ok(list);
        }
        let list = self.list()?;
        *self.listed.borrow_mut() = Some(list.clone());
        Ok(list)
    }

    fn forget(&self) {
        self.changing();
    }

    fn can_remove_chosen(&self) -> bool {
        false
    }

    /// Swarm's nodes pull images themselves: a stack is made of images, never builds.
    fn prepare(&self, r: &NewRelease) -> Result<()> {
        needs_colour(r.color)?;
        let svc = &self.project.model.services[&self.target];
        if svc.image.is_none() {
            return Err(Error::config(
                format!(
                    "`{}` has `build:` and no `image:`; Swarm mode deploys images, it cannot build",
                    self.target
                ),
                "build and push the image, and name it with `image:` in the Compose file",
                crate::compose::locate(&self.project.files, &self.target, Some("build")),
            ));
        }
        // Other nodes can only pull it: an image that is in no registry would start nowhere
        // but here. On a single node (or with --pull never) the engine's own images serve.
        if self.settings.pull == PullPolicy::Never || self.engine.dry_run() {
            return Ok(());
        }
        let nodes = self.engine.read(&args(&["node", "ls", "-q"]))?;
        if nodes.stdout.split_whitespace().count() < 2 {
            return Ok(());
        }
        let image = svc.image.clone().unwrap_or_default();
        let mut inspect = args(&["manifest", "inspect"]);
        if self.registry_insecure(registry::of_image(&image))? {
            inspect.push("--insecure".into());
        }
        inspect.push(image.clone());
        let out = self.engine.read(&inspect)?;
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "`{image}` is not in a registry the swarm's nodes can pull it from: {}",
                    out.last_error_line()
                ),
                format!(
                    "push it (`docker push {image}`); if every node has it loaded already, deploy with --pull never"
                ),
            ));
        }
        Ok(())
    }

    fn start_release(&self, r: &NewRelease) -> Result<Vec<Instance>> {
        let color = needs_colour(r.color)?;
        let extra = r.history_labels();
        let derived = self.derive_with(&|_| {}, (r.color, &r.release), r.refer_to, &extra)?;
        let count = r.beside + r.count;
        if let Err(e) = self.deploy(&derived, color, count) {
            let _ = self.scale(r.color, 0, None);
            return Err(e);
        }
        if self.engine.dry_run() {
            return Ok((1..=count)
                .map(|n| Instance {
                    id: format!("{}.{n}", self.full_name(r.color)),
                    name: format!("{}.{n}", self.full_name(r.color)),
                    state: "running".into(),
                    color: r.color,
                    release: r.release.id.clone(),
                    released_at: r.release.at.clone(),
                    ..Instance::default()
                })
                .collect());
        }
        let started: Vec<Instance> = self
            .await_tasks(r.color, count)?
            .into_iter()
            .filter(|i| i.release == r.release.id)
            .collect();
        if started.is_empty() {
            // Swarm wants none of its tasks running any more (each ended, and its restart
            // policy starts no other): nothing is left to wait for, and nothing to route to.
            let why = self.ended_tasks(r.color, &r.release.id)?;
            let name = self.full_name(r.color);
            self.changing();
            self.engine.change(&args(&["service", "rm", &name]), None)?;
            return Err(Error::Unhealthy {
                serving: crate::error::LIVE_SERVES.into(),
                instance: name,
                what: format!(
                    "has no task Swarm runs {}s after the deploy ({why})",
                    TASKS_APPEAR.as_secs()
                ),
                details: String::new(),
            });
        }
        Ok(started)
    }

    fn add_like(&self, like: &Instance, total: u32, progress: &Progress) -> Result<Vec<Instance>> {
        let before = self.list()?;
        let same_release = self
            .services()?
            .iter()
            .any(|s| s.color == like.color && s.replicas > 0)
            && before
                .iter()
                .any(|i| i.color == like.color && i.release == like.release);
        if same_release {
            self.scale(like.color, total, None)?;
        } else {
            // The colour holds another release (or none): the release again, from its image.
            let color = needs_colour(like.color)?;
            let release = Release {
                id: like.release.clone(),
                at: like.released_at.clone(),
            };
            // On Swarm an instance's image id is the reference its service names (with its
            // digest when the registry was asked); a rollback's `like` carries the previous one.
            let image = if like.image_id.is_empty() {
                like.image.clone()
            } else {
                like.image_id.clone()
            };
            let pin = |m: &mut ComposeFile| {
                if let Some(svc) = m.services.get_mut(&self.target) {
                    svc.image = Some(image.clone());
                    svc.build = None;
                }
            };
            // What it replaced goes with it, so a rollback from it still finds that release.
            let previous: Vec<(String, String)> = [
                (LABEL_PREVIOUS_IMAGE, &like.previous_image),
                (LABEL_PREVIOUS_RELEASE, &like.previous_release),
                (LABEL_PREVIOUS_RELEASED_AT, &like.previous_released_at),
            ]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let derived = self.derive_with(&pin, (like.color, &release), color, &previous)?;
            self.deploy(&derived, color, total)?;
        }
        if self.engine.dry_run() {
            return Ok(Vec::new());
        }
        let now = self.await_tasks(like.color, total)?;
        let healthy = self.wait_healthy(&now, progress)?;
        Ok(healthy
            .into_iter()
            .filter(|i| !before.iter().any(|b| b.id == i.id))
            .collect())
    }

    fn restart(&self, stopped: &[Instance]) -> Result<Vec<Instance>> {
        let list = self.list()?;
        let mut out = Vec::new();
        for (color, n) in Self::by_color(stopped) {
            let running = list
                .iter()
                .filter(|i| i.color == color && i.running())
                .count() as u32;
            self.scale(color, running + n, None)?;
            if !self.engine.dry_run() {
                out.extend(self.await_tasks(color, running + n)?);
            }
        }
        Ok(out)
    }

    /// Until every task Swarm wants running for the instances' colours runs (Swarm's health
    /// gate); a task of their release that failed ends the wait with its error.
    fn wait_healthy(&self, instances: &[Instance], progress: &Progress) -> Result<Vec<Instance>> {
        if self.engine.dry_run() || instances.is_empty() {
            return Ok(instances.to_vec());
        }
        let colors = Self::by_color(instances);
        let releases: Vec<&str> = instances.iter().map(|i| i.release.as_str()).collect();
        let started = Instant::now();
        let mut last = String::new();
        let mut probe = Probed::default();
        loop {
            if let Err(e) = crate::cancel::check() {
                progress.end_waiting();
                return Err(e);
            }
            let services: Vec<ServiceState> = self
                .services()?
                .into_iter()
                .filter(|s| colors.contains_key(&s.color))
                .collect();
            let want: u32 = services.iter().map(|s| s.replicas).sum();
            let tasks = self.tasks(&services)?;
            let known = self.known.borrow();
            // A task of the release that ended while it was awaited failed: Swarm ends one that
            // turns unhealthy (its process may well exit 0 on the SIGTERM).
            if let Some(failed) = tasks.iter().find(|t| {
                t.ended()
                    && releases.contains(&t.instance.release.as_str())
                    && !known.as_ref().is_some_and(|k| k.contains(&t.instance.id))
            }) {
                progress.end_waiting();
                return Err(Error::Unhealthy {
                    serving: crate::error::LIVE_SERVES.into(),
                    instance: failed.instance.name.clone(),
                    what: format!(
                        "ended before Swarm saw it healthy (Swarm: {}, {}, exit code {})",
                        failed.state,
                        if failed.error.is_empty() {
                            &failed.message
                        } else {
                            &failed.error
                        },
                        failed.instance.exit_code
                    ),
                    details: String::new(),
                });
            }
            drop(known);
            let running: Vec<Instance> = tasks
                .iter()
                .filter(|t| t.desired_running)
                .map(|t| t.instance.clone())
                .collect();
            let ready = running.iter().filter(|i| i.running()).count() as u32;
            let all_run = ready >= want && running.iter().all(Instance::running);
            if all_run && self.probed(&running, &mut probe, started)? {
                progress.end_waiting();
                return Ok(running);
            }
            if started.elapsed() > self.settings.health_timeout {
                progress.end_waiting();
                let stuck = running
                    .iter()
                    .find(|i| !i.running() || !probe.answered.contains(&i.id));
                let why = stuck.and_then(|i| probe.reasons.get(&i.id));
                // Where Swarm left it says why: `preparing` is the node still pulling the image.
                let swarm_state = stuck
                    .and_then(|i| tasks.iter().find(|t| t.instance.id == i.id))
                    .map_or_else(String::new, |t| {
                        format!(" (Swarm: {}, {})", t.state, t.message)
                    });
                return Err(Error::Unhealthy {
                    serving: crate::error::LIVE_SERVES.into(),
                    instance: stuck.map_or_else(|| self.full_name(None), |i| i.name.clone()),
                    what: match why {
                        Some(why) if all_run => format!(
                            "did not answer within {}s: {why}",
                            self.settings.health_timeout.as_secs()
                        ),
                        _ => format!(
                            "did not run within {}s{swarm_state}",
                            self.settings.health_timeout.as_secs()
                        ),
                    },
                    details: tasks
                        .iter()
                        .filter(|t| !t.error.is_empty())
                        .map(|t| format!("\n  {}: {}", t.instance.name, t.error))
                        .collect::<String>(),
                });
            }
            if all_run {
                progress.waiting(
                    &format!(
                        "{}/{want} task(s) answering on port {}",
                        probe.answered.len(),
                        self.port.unwrap_or_default()
                    ),
                    &mut last,
                );
                continue; // the probe waited its round
            }
            progress.waiting(&format!("{ready}/{want} task(s) running"), &mut last);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// A whole colour only: scaled to 0, its service kept (with how many it had) for rollback.
    fn stop(&self, instances: &[Instance], _grace: Duration) -> Result<()> {
        let list = self.list()?;
        for (color, n) in Self::by_color(instances) {
            let running = list
                .iter()
                .filter(|i| i.color == color && i.running())
                .count() as u32;
            if n < running {
                return Err(super::cannot_remove_chosen());
            }
            self.scale(color, 0, Some(n))?;
        }
        Ok(())
    }

    /// A whole colour only: its service removed (never a volume).
    fn remove(&self, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let list = self.list()?;
        let mut a = args(&["service", "rm"]);
        for color in Self::by_color(instances).keys() {
            // The flows remove whole releases; a colour's service holds one release.
            let other = list.iter().any(|i| {
                i.color == *color
                    && i.running()
                    && !instances.iter().any(|r| r.release == i.release)
            });
            if other {
                return Err(super::cannot_remove_chosen());
            }
            a.push(self.full_name(*color));
        }
        self.changing();
        let out = self.engine.change(&a, None)?;
        if !out.ok_or_gone() {
            return Err(Error::flow(
                format!("cannot remove services: {}", out.stderr.trim()),
                "remove them with `docker service rm`",
            ));
        }
        Ok(())
    }

    fn planned_model(&self) -> Option<Value> {
        self.planned.borrow().clone()
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
