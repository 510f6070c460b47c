//! Cancellation: Ctrl-C, SIGTERM, and the docker CLI's plugin cancel signal.
//!
//! Signals only set a flag; the flows check it at safe points and clean up on the way out (a
//! release that was not switched in is removed, the lock is released), so an interrupted deploy
//! leaves the live release serving. When the docker CLI runs us as a plugin it names a socket in
//! `DOCKER_CLI_PLUGIN_SOCKET` and closes it to ask us to stop; EOF on it counts as a cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Starts listening for cancellation. Called once, before any work.
pub(crate) fn install() {
    let f = flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, f.clone());
    }
    if let Ok(name) = std::env::var("DOCKER_CLI_PLUGIN_SOCKET") {
        watch_plugin_socket(name, f.clone());
    }
}

#[cfg(target_os = "linux")]
fn watch_plugin_socket(name: String, f: Arc<AtomicBool>) {
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    let Ok(addr) = SocketAddr::from_abstract_name(name.as_bytes()) else {
        return;
    };
    let Ok(mut stream) = UnixStream::connect_addr(&addr) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        // The CLI never writes; a read that ends (EOF or error) means it closed the socket.
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        f.store(true, Ordering::SeqCst);
    });
}

#[cfg(not(target_os = "linux"))]
fn watch_plugin_socket(_name: String, _f: Arc<AtomicBool>) {}

/// Set when the run lost its deploy lock: its `hold` process ended (killed, its engine or
/// machine cut off, the container removed), or on Swarm mode the lock was taken over after its
/// heartbeat went silent. Another run may be changing the project: this one makes no change
/// from then on (`still_locked`, asked by every change of the engine's) and stops.
static LOST_LOCK: AtomicBool = AtomicBool::new(false);

pub(crate) fn lost_lock() {
    LOST_LOCK.store(true, Ordering::SeqCst);
}

/// An error once the run lost its deploy lock; asked before each change.
pub(crate) fn still_locked() -> Result<()> {
    if LOST_LOCK.load(Ordering::SeqCst) {
        return Err(Error::LockLost);
    }
    Ok(())
}

pub(crate) fn requested() -> bool {
    flag().load(Ordering::SeqCst) || LOST_LOCK.load(Ordering::SeqCst)
}

/// An error when cancellation was asked for, or the lock was lost.
pub(crate) fn check() -> Result<()> {
    still_locked()?;
    if requested() {
        return Err(Error::flow(
            "interrupted",
            "the live release keeps serving; run the same command again to finish",
        ));
    }
    Ok(())
}
