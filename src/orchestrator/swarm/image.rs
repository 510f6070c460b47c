//! The check before a deploy changes anything that the swarm can run the target's image: Swarm
//! mode deploys colours and images, never builds, and on more than one node the image must be in
//! a registry the nodes pull from (asked as their pulls go, `--insecure` for a registry the
//! engine reaches without TLS). Separate because it is the one place here that asks a registry.

use super::{needs_colour, Swarm};
use crate::engine::args;
use crate::error::{Error, Result};
use crate::orchestrator::NewRelease;
use crate::registry;
use crate::settings::PullPolicy;

impl Swarm<'_> {
    /// Swarm's nodes pull images themselves: a stack is made of images, never builds.
    pub(super) fn check_image(&self, r: &NewRelease) -> Result<()> {
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
}
