//! The proxy service replicas' image: the proxy image with this build's helper added (`docker
//! commit` of a container it was copied into), named after both, built once on the node docker
//! talks to and pushed to `--proxy-registry` so that every node can pull it (without a registry
//! the replicas are placed on that node, the only one that has it).

use super::Service;
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::helper;
use crate::settings::ProxySettings;

/// The replicas' image: the proxy image with this build's helper, named after both; built once
/// on the node docker talks to, and pushed to the registry when there is one.
/// `found`: the service as it stands; one that runs this very image was pulled by its nodes
/// already, so nothing is built or pushed again (a deploy would otherwise push every time).
pub(in crate::proxy::caddy) fn image(
    engine: &Engine,
    settings: &ProxySettings,
    found: &Service,
) -> Result<String> {
    let base = engine.read(&args(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        &settings.image,
    ]))?;
    if !base.ok() {
        return Err(Error::environment(
            format!("the proxy image `{}` is not on the engine", settings.image),
            format!("pull it first (`docker pull {}`)", settings.image),
        ));
    }
    let id = base.stdout.trim().trim_start_matches("sha256:");
    let repo = match &settings.registry {
        Some(r) => format!("{r}/docker-flow-proxy"),
        None => "docker-flow-proxy".to_string(),
    };
    let tag = format!("{repo}:{}-{}", helper::build_id(), &id[..id.len().min(12)]);
    if let Service::Ours { image: now, .. } = found {
        if now.split('@').next() == Some(tag.as_str()) {
            return Ok(tag);
        }
    }
    let have = engine.read(&args(&["image", "inspect", "--format", "{{.Id}}", &tag]))?;
    if !have.ok() {
        build(engine, settings, &tag)?;
    }
    if settings.registry.is_some() {
        let out = engine.change(&args(&["push", "--quiet", &tag]), None)?;
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "cannot push the proxy's image `{tag}`: {}",
                    out.last_error_line()
                ),
                "check that the registry answers and that `docker login` gave access to it",
            ));
        }
    }
    Ok(tag)
}

/// `docker create` of the proxy image, the helper copied in, `docker commit`.
fn build(engine: &Engine, settings: &ProxySettings, tag: &str) -> Result<()> {
    let scratch = format!("{}-build-{}", settings.name, std::process::id());
    let fail = |what: &str, out: &crate::engine::Output| {
        Error::environment(
            format!(
                "cannot build the proxy's image ({what}): {}",
                out.last_error_line()
            ),
            format!(
                "check that `{}` can be created on the engine",
                settings.image
            ),
        )
    };
    let created = engine.change(
        &args(&[
            "create",
            "--name",
            &scratch,
            "--entrypoint",
            &helper::path_in_container(),
            &settings.image,
        ]),
        None,
    )?;
    if !created.ok() {
        return Err(fail("create", &created));
    }
    let tar = helper::archive_for_container(&[])?;
    let copied = engine.change(&args(&["cp", "-", &format!("{scratch}:/")]), Some(&tar))?;
    let committed = if copied.ok() {
        Some(engine.change(&args(&["commit", &scratch, tag]), None)?)
    } else {
        None
    };
    engine.change(&args(&["rm", "-f", &scratch]), None)?;
    match committed {
        None => Err(fail("copy the helper", &copied)),
        Some(c) if !c.ok() => Err(fail("commit", &c)),
        Some(_) => Ok(()),
    }
}
