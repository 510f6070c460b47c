//! The seed's Docker Flow Proxy protocol: one `reconfigure` GET per switch.
//!
//! Kept for users of Docker Flow Proxy. Values are URL-encoded (the seed did not). With custom
//! Consul templates, `SERVICE_NAME` is replaced and the files are copied into the proxy
//! container, and the request names them instead of colour and path, as the seed did.

use std::path::PathBuf;
use std::time::Duration;

use super::{base_url, Drained, Proxy, RouteSpec};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::instance::Upstream;
use crate::model::Color;
use crate::report::RouteReport;
use crate::settings::{ProxySettings, Settings};

/// The image started when none runs and `--proxy-image` names none: Docker Flow Proxy's last
/// tagged release, pinned (the seed started `vfarcic/docker-flow-proxy`, whatever it was then).
pub(crate) const IMAGE: &str = "dockerflow/docker-flow-proxy:18.07.06-72";
/// How long a proxy just started may take to answer its API.
const READY_WITHIN: Duration = Duration::from_secs(30);

pub(crate) struct DockerFlowProxy<'a> {
    engine: &'a Engine,
    proxy_engine: Option<Engine>,
    settings: ProxySettings,
    consul_address: Option<String>,
    fe_template: Option<PathBuf>,
    be_template: Option<PathBuf>,
    route: RouteSpec,
}

impl<'a> DockerFlowProxy<'a> {
    pub(crate) fn new(
        engine: &'a Engine,
        settings: &Settings,
        route: RouteSpec,
    ) -> DockerFlowProxy<'a> {
        let proxy_engine = settings
            .proxy
            .docker_host
            .as_ref()
            .map(|h| engine.for_host(h, settings.proxy.docker_cert_path.as_ref()));
        DockerFlowProxy {
            engine,
            proxy_engine,
            settings: settings.proxy.clone(),
            consul_address: settings.consul_address.clone(),
            fe_template: settings.consul_template_fe_path.clone(),
            be_template: settings.consul_template_be_path.clone(),
            route,
        }
    }

    fn docker(&self) -> &Engine {
        self.proxy_engine.as_ref().unwrap_or(self.engine)
    }

    /// The image to start: `--proxy-image` when it names one, else the pinned release.
    fn image(&self) -> &str {
        if self.settings.image == crate::settings::DEFAULT_PROXY_IMAGE {
            IMAGE
        } else {
            &self.settings.image
        }
    }

    /// Waits until the proxy just (re)started answers its ping, at most `READY_WITHIN` (the
    /// seed slept 5 s, too long for a proxy that starts in one and too short for a slow one).
    fn await_ready(&self) -> Result<()> {
        let url = format!(
            "{}/v1/docker-flow-proxy/ping",
            base_url(&self.settings.host, self.settings.reconf_port)
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let started = std::time::Instant::now();
        loop {
            crate::cancel::check()?;
            let answer = agent.get(&url).call();
            if answer.as_ref().is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if started.elapsed() >= READY_WITHIN {
                let why = match answer {
                    Ok(r) => format!("it answered {}", r.status()),
                    Err(e) => e.to_string(),
                };
                return Err(Error::environment(
                    format!(
                        "the proxy `{}` did not answer {url} within {}s: {why}",
                        self.settings.name,
                        READY_WITHIN.as_secs()
                    ),
                    "see `docker logs` of the proxy; check --proxy-host and --proxy-reconf-port",
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The seed's service name: `<project>-<target>`.
    pub(crate) fn service_name(&self) -> String {
        format!("{}-{}", self.route.project, self.route.target)
    }

    /// The reconfigure URL for a switch to `color`.
    pub(crate) fn reconfigure_url(
        &self,
        color: Option<Color>,
        templates: Option<(&str, &str)>,
    ) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        {
            q.append_pair("serviceName", &self.service_name());
            match templates {
                Some((fe, be)) => {
                    q.append_pair("consulTemplateFePath", fe);
                    q.append_pair("consulTemplateBePath", be);
                }
                None => {
                    if let Some(c) = color {
                        q.append_pair("serviceColor", c.as_str());
                    }
                    q.append_pair("servicePath", &self.route.paths.join(","));
                    if !self.route.domains.is_empty() {
                        q.append_pair("serviceDomain", &self.route.domains.join(","));
                    }
                }
            }
        }
        format!(
            "{}/v1/docker-flow-proxy/reconfigure?{}",
            base_url(&self.settings.host, self.settings.reconf_port),
            q.finish()
        )
    }

    /// Copies the templates, with `SERVICE_NAME` replaced, into the proxy container.
    fn copy_templates(&self, color: Option<Color>) -> Result<Option<(String, String)>> {
        let (Some(fe), Some(be)) = (&self.fe_template, &self.be_template) else {
            return Ok(None);
        };
        let svc = self.service_name();
        let replacement = match color {
            Some(c) => format!("{svc}-{c}"),
            None => svc.clone(),
        };
        let dir = tempfile::Builder::new()
            .prefix("docker-flow-")
            .tempdir()
            .map_err(|e| {
                Error::environment(
                    format!("cannot make a temporary directory: {e}"),
                    "check TMPDIR",
                )
            })?;
        let name = &self.settings.name;
        let staged = dir.path().join("consul_templates");
        std::fs::create_dir(&staged).map_err(|e| {
            Error::environment(
                format!("cannot write {}: {e}", staged.display()),
                "check TMPDIR",
            )
        })?;
        let mut dests = Vec::new();
        for (src, kind) in [(fe, "fe"), (be, "be")] {
            let text = std::fs::read_to_string(src).map_err(|e| {
                Error::config(
                    format!("cannot read the Consul template {}: {e}", src.display()),
                    "fix --consul-template-fe-path / --consul-template-be-path",
                    None,
                )
            })?;
            let file = format!("{svc}-{kind}.tmpl");
            std::fs::write(
                staged.join(&file),
                text.replace("SERVICE_NAME", &replacement),
            )
            .map_err(|e| {
                Error::environment(format!("cannot write a template copy: {e}"), "check TMPDIR")
            })?;
            dests.push(format!("/consul_templates/{file}"));
        }
        // `docker cp DIR/. C:/consul_templates` creates the directory if needed and needs no
        // shell or mkdir inside the proxy's image.
        let cp = self.docker().change(
            &args(&[
                "cp",
                &format!("{}/.", staged.display()),
                &format!("{name}:/consul_templates"),
            ]),
            None,
        )?;
        if !cp.ok() {
            return Err(Error::environment(
                format!(
                    "cannot copy the templates into the proxy `{name}`: {}",
                    cp.stderr.trim()
                ),
                "check that the proxy container exists",
            ));
        }
        Ok(Some((dests[0].clone(), dests[1].clone())))
    }
}

impl Proxy for DockerFlowProxy<'_> {
    fn driver(&self) -> &'static str {
        "docker-flow-proxy"
    }

    fn ensure(&self) -> Result<()> {
        let name = &self.settings.name;
        let status = self.docker().container_status(name)?;
        let r = if let Some(status) = status {
            if status == "running" {
                return Ok(());
            }
            self.docker().change(&args(&["start", name]), None)?
        } else {
            // Published on the ports the settings name (the seed's 80 was fixed).
            let mut a = args(&["run", "-d", "--name", name, "-p"]);
            a.push(format!("{}:80", self.settings.http_port));
            a.push("-p".into());
            a.push(format!("{}:8080", self.settings.reconf_port));
            if let Some(c) = &self.consul_address {
                a.push("-e".into());
                a.push(format!("CONSUL_ADDRESS={c}"));
            }
            a.push(self.image().into());
            self.docker().change(&a, None)?
        };
        if !r.ok() {
            return Err(Error::environment(
                format!("cannot start the proxy `{name}`: {}", r.stderr.trim()),
                format!(
                    "start Docker Flow Proxy yourself as `{name}`, or use --proxy-driver=caddy"
                ),
            ));
        }
        if self.engine.dry_run() {
            return Ok(());
        }
        self.await_ready()
    }

    fn current(&self) -> Result<Option<Vec<Upstream>>> {
        Ok(None)
    }

    fn switch(&self, _upstreams: &[Upstream], color: Option<Color>) -> Result<()> {
        let templates = self.copy_templates(color)?;
        let url = self.reconfigure_url(
            color,
            templates.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        );
        if self.engine.planned(format!("GET {url}")) {
            return Ok(());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut resp = agent.get(&url).call().map_err(|e| {
            Error::environment(
                format!("the proxy at {url} is unreachable: {e}"),
                "check --proxy-host and --proxy-reconf-port",
            )
        })?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(Error::environment(
                format!(
                    "the proxy answered {status} to the reconfigure request: {}",
                    body.trim()
                ),
                "see the proxy's logs",
            ));
        }
        Ok(())
    }

    fn drain(&self, _old: &[Upstream], _timeout: Duration) -> Result<Drained> {
        // The protocol reports nothing in flight; give the proxy's reload a moment.
        if !self.engine.dry_run() {
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(Drained::Clear { waited_for: 0 })
    }

    fn routes(&self) -> Result<Vec<RouteReport>> {
        Ok(Vec::new())
    }

    fn remove_route(&self) -> Result<()> {
        // Refused before anything changes: `down` takes routes off first.
        Err(Error::usage(
            "`docker flow down` cannot take a route off Docker Flow Proxy yet",
            format!(
                "remove it there (GET /v1/docker-flow-proxy/remove?serviceName={}) and run `docker compose down`, or use --proxy-driver caddy",
                self.service_name()
            ),
        ))
    }
}
