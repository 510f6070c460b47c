//! `docker flow exec`: a command in an instance of the live release, whatever its colour, as
//! `docker compose exec` runs one in a service's.

use std::io::IsTerminal;

use super::Ctx;
use crate::engine::args;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecOptions {
    /// 1-based, in name order.
    pub index: usize,
    pub tty: bool,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub env: Vec<String>,
    pub command: Vec<String>,
}

pub(super) fn run(ctx: &Ctx, o: &ExecOptions) -> Result<()> {
    let live = super::logs::chosen(ctx, false)?;
    let Some(instance) = o.index.checked_sub(1).and_then(|i| live.get(i)) else {
        return Err(Error::usage(
            format!(
                "the live release of `{}` has {} instance{}; there is no instance {}",
                ctx.target,
                live.len(),
                if live.len() == 1 { "" } else { "s" },
                o.index
            ),
            format!("pass --index from 1 to {}", live.len()),
        ));
    };
    let mut a = args(&["exec", "--interactive"]);
    // A terminal only when there is one on both ends, as `docker compose exec` decides.
    if o.tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        a.push("--tty".into());
    }
    if let Some(u) = &o.user {
        a.extend(["--user".to_string(), u.clone()]);
    }
    if let Some(w) = &o.workdir {
        a.extend(["--workdir".to_string(), w.clone()]);
    }
    for e in &o.env {
        a.extend(["--env".to_string(), e.clone()]);
    }
    a.push(instance.name.clone());
    a.extend(o.command.iter().cloned());
    ctx.engine.interactive(&a)
}
