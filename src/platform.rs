//! Where the project runs, chosen once per run by `orchestrator::detect`: the one value the
//! flows hand to the seams that differ by it (the orchestrator, the proxy's route, the lock).
//! The flows never branch on it; what differs by platform is decided behind those seams
//! (`orchestrator` adds what it decides before an orchestrator exists).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    /// Compose on the engine docker talks to.
    Compose,
    /// Swarm mode: colours are services of a stack, instances its tasks.
    Swarm,
}

impl Platform {
    pub(crate) fn is_swarm(self) -> bool {
        self == Platform::Swarm
    }

    /// Whether the deploy lock is a container alone (Swarm mode's is first a service in the
    /// swarm's Raft store): one a run may take while it still checks (`flows::pipeline`).
    pub(crate) fn lock_is_a_container(self) -> bool {
        self == Platform::Compose
    }

    /// Whether `docker flow down` takes `project` down here; exit 2 otherwise, before anything
    /// changes (a stack is taken down by `docker stack rm`).
    pub(crate) fn takes_down(self, project: &str) -> crate::error::Result<()> {
        match self {
            Platform::Compose => Ok(()),
            Platform::Swarm => Err(crate::error::Error::usage(
                format!("`docker flow down` does not take a Swarm stack down yet (`{project}` runs as one)"),
                format!("take it down with `docker stack rm {project}`; its routes stay in the proxy until the next deploy of each target"),
            )),
        }
    }
}
