//! The preview of a staged release (`deploy --no-promote`): its instances join the route
//! network and are held in a record of their own beside the route's, under a key; a request
//! that carries that key in `PREVIEW_HEADER` reaches them, and no other does. A new key is drawn
//! for each release staged; the operator gets it from the deploy or `status`.

use super::{config, Caddy};
use crate::error::{Error, Result};
use crate::instance::Upstream;

impl Caddy<'_> {
    pub(super) fn stage_preview(&self, upstreams: &[Upstream]) -> Result<Option<String>> {
        let members = self.attach(upstreams)?;
        // A new key for each release staged: a request reaches it only with this key, which
        // the operator gets from the deploy or `status` (through the engine).
        let key = (!members.is_empty()).then(preview_key).transpose()?;
        self.rotation().set_keyed(
            &config::preview_record(&self.route),
            key.as_deref(),
            &members,
        )?;
        Ok(Some(key.unwrap_or_default()))
    }

    pub(super) fn staged_preview_key(&self) -> Result<Option<String>> {
        if !self.serving()? {
            return Ok(None);
        }
        self.rotation().key(&config::preview_record(&self.route))
    }

    pub(super) fn staged_preview(&self) -> Result<Vec<Upstream>> {
        if !self.serving()? {
            return Ok(Vec::new());
        }
        let members = self
            .rotation()
            .get(&config::preview_record(&self.route))?
            .unwrap_or_default();
        Ok(self.upstreams(members))
    }
}

/// A preview's key: 128 random bits as 32 hexadecimal digits (the rotation's record key).
fn preview_key() -> Result<String> {
    let mut bits = [0u8; 16];
    getrandom::fill(&mut bits).map_err(|e| {
        Error::environment(
            format!("cannot draw a random key for the preview: {e}"),
            "check the system's random number source",
        )
    })?;
    Ok(bits.iter().map(|b| format!("{b:02x}")).collect())
}
