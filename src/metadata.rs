//! The docker CLI plugin handshake.
//!
//! The docker CLI runs `docker-flow docker-cli-plugin-metadata` on every `docker --help`, so this
//! prints the static part from `plugin-metadata/` plus the crate version, without touching the
//! daemon or reading any settings.

pub(crate) const SUBCOMMAND: &str = "docker-cli-plugin-metadata";

const STATIC: &str = include_str!("../plugin-metadata/metadata.json");

pub(crate) fn json() -> String {
    let mut value: serde_json::Value = serde_json::from_str(STATIC)
        .expect("plugin-metadata/metadata.json is valid JSON (checked by a test)");
    value["Version"] = env!("CARGO_PKG_VERSION").into();
    serde_json::to_string(&value).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_has_the_required_fields() {
        let v: serde_json::Value = serde_json::from_str(&super::json()).unwrap();
        assert_eq!(v["SchemaVersion"], "0.1.0");
        assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
        assert!(v["Vendor"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(v["ShortDescription"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        assert!(v["URL"].as_str().is_some_and(|s| s.starts_with("https://")));
    }
}
