//! What the steps of one run share, read-only: the engine, the settings, the target, the
//! orchestrator and the proxy; and the operations more than one step performs.

use crate::compose::Project;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::instance::{self, Instance, Upstream};
use crate::model::Release;
use crate::orchestrator::{self, Orchestrator, Platform};
use crate::progress::Progress;
use crate::proxy::{self, Drained, Proxy, RouteSpec};
use crate::releases::{Pending, Releases};
use crate::settings::{ProxyDriver, Settings};

/// How long a switch that gave the proxy new domains waits for their certificates.
const CERTIFICATE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) struct Ctx<'a> {
    pub engine: &'a Engine,
    pub settings: &'a Settings,
    pub project: String,
    pub target: String,
    /// The port the proxy forwards to (an instance's own port label wins).
    pub route_port: u16,
    pub orchestrator: Box<dyn Orchestrator + 'a>,
    pub proxy: Box<dyn Proxy + 'a>,
    pub progress: Progress,
    /// The project's directory: where the user's hooks and test run.
    pub dir: std::path::PathBuf,
    /// The run's steps (`deploy,proxy,stop-old`), as the lock and the hooks name it.
    pub command: String,
    /// The release a deploy step of this run starts (its id is known before it starts, so a
    /// deploy that fails is recorded under it).
    pub release: Release,
    /// The target's image as the Compose file names it (what a deploy would start).
    pub image: String,
    /// How many instances Compose would start of the target (`deploy.replicas`, `scale`): a
    /// first release's count.
    pub replicas: Option<u32>,
    /// Where the target runs (passed to the seams; the flows never branch on it).
    pub platform: Platform,
}

impl<'a> Ctx<'a> {
    /// The context for `target` of `project`; `port` is the service port the proxy forwards to.
    pub(crate) fn new(
        engine: &'a Engine,
        settings: &'a Settings,
        project: Project,
        target: String,
        port: Option<u16>,
        platform: Platform,
    ) -> Ctx<'a> {
        let route_port = port.unwrap_or(80);
        let dir = project.dir.clone();
        let service = project.model.services.get(&target);
        let image = service.and_then(|s| s.image.clone()).unwrap_or_default();
        let replicas = service.and_then(|s| s.replicas());
        let route = RouteSpec::new(settings, &project, &target, route_port, platform);
        Ctx {
            engine,
            settings,
            project: project.model.name.clone(),
            orchestrator: orchestrator::new(engine, settings, project, &target, port, platform),
            target,
            route_port,
            proxy: proxy::for_settings(engine, settings, route),
            progress: Progress::new(settings.progress_mode()),
            dir,
            command: String::new(),
            release: Release::new(),
            image,
            replicas,
            platform,
        }
    }

    /// The release the proxy step would promote (and the test step tests): what this run
    /// deployed, else the newest running one (staged by an earlier `--flow=deploy`).
    pub(crate) fn to_promote(&self, done: &super::outcome::History) -> Result<Vec<Instance>> {
        Ok(match done.deployed() {
            Some(d) => d.new.clone(),
            None => self.releases()?.newest_release(),
        })
    }

    /// The release model now: the target's instances and what the proxy routes to.
    pub(crate) fn releases(&self) -> Result<Releases> {
        let routed = self.proxy.current()?;
        self.releases_routed(routed)
    }

    /// The release model, with what the proxy routes to known already.
    pub(crate) fn releases_routed(&self, routed: Option<Vec<Upstream>>) -> Result<Releases> {
        Ok(Releases::new(
            self.settings.blue_green,
            self.orchestrator.instances()?,
            routed,
        ))
    }

    /// Makes sure the proxy runs and has the route, and says what the user should know of it.
    pub(crate) fn ensure_proxy(&self) -> Result<()> {
        self.proxy.ensure()?;
        for warning in self.proxy.take_warnings() {
            self.progress.warn(&warning);
        }
        Ok(())
    }

    /// Points the proxy at exactly `new` (health-checked first), then waits until what it
    /// routed to before has no request in flight (at most `--drain-timeout`). Returns where
    /// it routes now.
    pub(crate) fn route_to(&self, new: &[Instance]) -> Result<Vec<Upstream>> {
        self.orchestrator.wait_healthy(new, &self.progress)?;
        self.ensure_proxy()?;
        crate::cancel::check()?;
        let upstreams: Vec<Upstream> = new.iter().map(|i| i.upstream(self.route_port)).collect();
        let before = self.proxy.current()?.unwrap_or_default();
        self.proxy
            .switch(&upstreams, new.first().and_then(|i| i.color))?;
        let old: Vec<Upstream> = before
            .into_iter()
            .filter(|u| !upstreams.contains(u))
            .collect();
        self.progress.info(&format!(
            "proxy ({}) routes to {}",
            self.proxy.driver(),
            instance::list(&upstreams)
        ));
        let draining = std::time::Instant::now();
        match self.proxy.drain(&old, self.settings.drain_timeout)? {
            Drained::TimedOut(in_flight) => {
                let how_many = in_flight.map_or("some".to_string(), |n| n.to_string());
                self.progress.warn(&format!(
                    "{how_many} request(s) still in flight to {} after --drain-timeout ({}); stopping it anyway",
                    instance::list(&old),
                    humantime::format_duration(self.settings.drain_timeout)
                ));
            }
            // Long requests and streams (SSE, WebSockets) opened before the switch keep their
            // old instance until they end: said, as they made the command wait.
            Drained::Clear { waited_for } if waited_for > 0 => self.progress.info(&format!(
                "drained: waited {:.1}s for {waited_for} request(s) in flight to {} (long requests and streams included)",
                draining.elapsed().as_secs_f64(),
                instance::list(&old)
            )),
            Drained::Clear { .. } => {}
        }
        self.report_certificates()?;
        Ok(upstreams)
    }

    /// After a route got new domains: waits a while for their certificates, and says how that
    /// went (a certificate still missing is a warning: the release serves, and the proxy keeps
    /// trying).
    fn report_certificates(&self) -> Result<()> {
        let certs = self.proxy.await_certificates(CERTIFICATE_WAIT)?;
        if !certs.obtained.is_empty() {
            self.progress.info(&format!(
                "certificate ready for {} ({:.1}s)",
                certs.obtained.join(", "),
                certs.waited.as_secs_f64()
            ));
        }
        if !certs.missing.is_empty() {
            self.progress.warn(&format!(
                "no certificate yet for {} after {}s: HTTPS for it fails until the proxy gets one (it keeps trying; `docker logs {}` says why; check that the domain's DNS points at this host and ports 80 and 443 reach it)",
                certs.missing.join(", "),
                CERTIFICATE_WAIT.as_secs(),
                self.settings.proxy.name
            ));
        }
        Ok(())
    }

    /// Whether a proxy routes the target (any driver but `none`).
    pub(crate) fn proxied(&self) -> bool {
        self.settings.proxy.driver != ProxyDriver::None
    }

    /// Refuses to change the target while a canary runs beside the live release: a deploy,
    /// scale or rollback would have to guess which of the two it acts on.
    pub(crate) fn no_canary(&self, releases: &Releases) -> Result<()> {
        match releases.pending(self.proxied()) {
            Some(Pending::Canary { canary, .. }) => Err(Error::flow(
                format!(
                    "a canary of `{}` is in rotation beside the live release ({})",
                    self.target,
                    instance::names(&canary)
                ),
                "decide first: `docker flow promote` makes it live, `docker flow abort` removes it",
            )),
            _ => Ok(()),
        }
    }

    /// Takes `instances` out of the proxy's preview if it sends requests to them, and waits
    /// for those requests to finish: before they are removed.
    pub(crate) fn unpreview(&self, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let previewed = self.proxy.previewed()?;
        let leaving: Vec<Upstream> = previewed
            .into_iter()
            .filter(|up| instances.iter().any(|i| i.is(up)))
            .collect();
        if leaving.is_empty() {
            return Ok(());
        }
        self.proxy.preview(&[])?;
        self.proxy.drain(&leaving, self.settings.drain_timeout)?;
        Ok(())
    }

    /// Removes a release that never served (a failed test or hook, an abort): out of the
    /// preview first.
    pub(crate) fn remove_unserved(&self, instances: &[Instance]) -> Result<()> {
        self.unpreview(instances)?;
        self.orchestrator.remove(instances)
    }

    /// Stops instances that are out of the proxy's rotation and drained (they still get
    /// `--drain-timeout` to exit), then detaches them from what the route reached them by.
    /// They stay, for rollback, unless the caller removes them.
    pub(crate) fn take_out(&self, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        self.orchestrator
            .stop(instances, self.settings.drain_timeout)?;
        self.proxy.retire(instances)
    }
}
