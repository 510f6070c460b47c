//! The conditions a Compose target's `depends_on` asks of what it needs (`service_healthy`,
//! `service_completed_successfully`), awaited after `prepare` started those services and before
//! the release starts, as Compose waits before it starts a service. Separate from `mod.rs`
//! because it is the one wait there on services other than the target, with its own failures.

use super::Compose;
use crate::containers;
use crate::dependencies::{self, Condition};
use crate::error::{Error, Result};

impl Compose<'_> {
    /// Waits until each service the target depends on meets the condition the target asks of
    /// it (`service_healthy`, `service_completed_successfully`), as Compose does before it
    /// starts a service; exit 1 naming the one that does not within `--health-timeout`.
    pub(super) fn await_conditions(&self) -> Result<()> {
        if self.engine.dry_run() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        for (service, condition) in dependencies::direct(&self.project.model.services, &self.target)
        {
            if condition == Condition::Started {
                continue;
            }
            loop {
                let instances = containers::labelled(
                    self.engine,
                    &[
                        format!("com.docker.compose.project={}", self.project_name()),
                        format!("com.docker.compose.service={service}"),
                    ],
                )?;
                let met = !instances.is_empty()
                    && instances.iter().all(|i| match condition {
                        Condition::Healthy => i.state == "running" && i.health == "healthy",
                        _ => i.state == "exited" && i.exit_code == 0,
                    });
                let failed = instances.iter().find(|i| match condition {
                    Condition::Healthy => i.health == "unhealthy" || i.state == "exited",
                    _ => i.state == "exited" && i.exit_code != 0,
                });
                if met {
                    break;
                }
                let waited = started.elapsed();
                if failed.is_some() || waited >= self.settings.health_timeout {
                    let what = match failed {
                        Some(i) if i.state == "exited" => {
                            format!("exited with code {}", i.exit_code)
                        }
                        Some(_) => "is unhealthy".to_string(),
                        None => format!(
                            "did not meet it within {} (--health-timeout)",
                            humantime::format_duration(self.settings.health_timeout)
                        ),
                    };
                    return Err(Error::flow(
                        format!(
                            "`{}` depends on `{service}` with `{}`, and `{service}` {what}",
                            self.target,
                            condition.as_str()
                        ),
                        format!("see `docker compose logs {service}`; nothing was switched, and the live release keeps serving"),
                    ));
                }
                crate::cancel::check()?;
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        }
        Ok(())
    }
}
