//! `helper certs <dir> <name>...`: which of the names Caddy holds a certificate for, one per
//! line, read from its storage (`<dir>` is `$XDG_DATA_HOME/caddy/certificates`, where each
//! issuer keeps `<name>/<name>.crt`, a wildcard's name written `wildcard_.example.com`). Run in
//! the proxy container, so docker flow can say when a new domain's certificate is there.

use std::path::Path;
use std::process::ExitCode;

pub fn run(args: &[String]) -> ExitCode {
    let Some((dir, names)) = args.split_first() else {
        eprintln!("usage: helper certs <dir> <name>...");
        return ExitCode::from(2);
    };
    let issuers: Vec<_> = std::fs::read_dir(Path::new(dir))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    for name in names {
        let stored = stored_name(name);
        let held = issuers
            .iter()
            .any(|issuer| issuer.join(&stored).join(format!("{stored}.crt")).is_file());
        if held {
            println!("{name}");
        }
    }
    ExitCode::SUCCESS
}

/// The name as Caddy's storage writes it (certmagic's `StorageKeys.Safe`, for host names).
fn stored_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('*', "wildcard_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stored_lowercase_with_wildcards_spelled_out() {
        assert_eq!(stored_name("Shop.Example.com"), "shop.example.com");
        assert_eq!(stored_name("*.example.com"), "wildcard_.example.com");
    }
}
