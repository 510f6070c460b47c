//! The route's HTTPS as the Caddy driver holds it through a run: its files read and checked
//! once (`tls`), the issuer its certificates come from, and, once this run wrote the route with
//! domains Caddy certifies itself (ACME, or its local CA), waiting a while until Caddy's storage
//! holds their certificates (the helper's `certs`), so the run can say which it has.

use std::time::{Duration, Instant};

use super::{tls, Caddy};
use crate::error::Result;
use crate::proxy::Certificates;

impl Caddy<'_> {
    /// Reads and checks the route's HTTPS files once; whether the route has HTTPS.
    pub(super) fn load_tls(&self) -> Result<bool> {
        if self.tls.borrow().is_none() {
            let m = tls::load(&self.route.tls)?;
            *self.tls.borrow_mut() = Some(m);
        }
        Ok(self.tls.borrow().as_ref().is_some_and(Option::is_some))
    }

    /// Where the route's certificates come from; None on HTTP only. Only once `load_tls` has
    /// read them.
    pub(super) fn issuer(&self) -> Option<tls::Issuer> {
        let tls = self.tls.borrow();
        tls.as_ref()
            .and_then(Option::as_ref)
            .map(|m| m.https.issuer.clone())
    }

    /// Whether Caddy obtains the route's certificates itself (ACME, or its local CA), rather
    /// than load the files docker flow gives it.
    pub(super) fn issues_certificates(&self) -> bool {
        matches!(
            self.issuer(),
            Some(tls::Issuer::Acme { .. } | tls::Issuer::Internal)
        )
    }

    pub(super) fn wait_for_certificates(&self, timeout: Duration) -> Result<Certificates> {
        if !self.issuing.get() || self.engine.dry_run() {
            return Ok(Certificates::default());
        }
        let started = Instant::now();
        let mut a = vec!["certs".to_string(), tls::STORAGE.to_string()];
        a.extend(self.route.domains.iter().cloned());
        loop {
            let out = self.container.exec(&a, None, false)?;
            let held: Vec<String> = out.stdout.lines().map(String::from).collect();
            let missing: Vec<String> = self
                .route
                .domains
                .iter()
                .filter(|d| !held.contains(d))
                .cloned()
                .collect();
            if missing.is_empty() || started.elapsed() >= timeout || !out.ok() {
                return Ok(Certificates {
                    obtained: held,
                    missing,
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}
