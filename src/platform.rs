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
}
