//! Security: no user value reaches a shell, and resolved Compose config (which can carry secrets
//! from `.env`) never lands in a file.

use crate::support;

use support::Bed;

#[test]
fn shell_metacharacters_are_rejected_or_passed_inertly() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("meta", 0);
    let canary = bed.path().join("pwned");
    let payload = format!(
        "$(touch {0});touch {0}`touch {0}`|touch {0}",
        canary.display()
    );
    // Every option whose value reaches a docker or compose command line, or the proxy.
    let cases: Vec<Vec<String>> = vec![
        vec!["-t".into(), payload.clone()],
        vec!["--side-target".into(), payload.clone()],
        vec!["-p".into(), payload.clone()],
        vec!["-f".into(), payload.clone()],
        vec!["--service-path".into(), format!("/x{payload}")],
        vec!["--service-domain".into(), payload.clone()],
        vec!["--proxy-name".into(), payload.clone()],
        vec!["--proxy-image".into(), payload.clone()],
        vec!["-H".into(), format!("tcp://{payload}")],
        vec!["--proxy-docker-host".into(), format!("tcp://{payload}")],
        vec![
            "--consul-template-fe-path".into(),
            payload.clone(),
            "--consul-template-be-path".into(),
            payload.clone(),
            "--proxy-driver".into(),
            "docker-flow-proxy".into(),
        ],
        vec!["--scale".into(), payload.clone()],
    ];
    for extra in cases {
        let mut args = vec!["deploy".to_string()];
        args.extend(extra.iter().cloned());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = bed.engine_snapshot();
        let r = bed.flow_env(&argv, &[("V", "v2")]);
        assert_ne!(r.code, 0, "{args:?} was accepted:\n{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!canary.exists(), "{args:?} ran a shell command");
        assert_eq!(before, bed.engine_snapshot(), "{args:?} changed the engine");
    }
    // The same value in the environment.
    let r = bed.flow_env(&["deploy"], &[("FLOW_TARGET", &payload)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!canary.exists());
}

#[test]
fn resolved_compose_config_never_lands_in_a_file() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("secret", 0);
    let secret = "s3cr3t-value-from-dot-env";
    bed.write(".env", &format!("API_TOKEN={secret}\n"));
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      API_TOKEN: ${{API_TOKEN}}\n      HEALTH: ${{HEALTH:-ok}}\n    expose: [\"8080\"]\n  db:\n    image: demo-service:v1\n",
            bed.project
        ),
    );
    let tmp = tempfile::tempdir().unwrap();
    bed.env("TMPDIR", tmp.path().to_str().unwrap());
    bed.flow(&["deploy"]).ok();
    bed.env("HEALTH", "fail")
        .env("V", "v2")
        .env("FLOW_HEALTH_TIMEOUT", "5s");
    bed.flow(&["deploy"]).fails(1, "unhealthy");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "temporary files were left behind: {left:?}"
    );
    // Nor in the project directory.
    for entry in std::fs::read_dir(bed.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().is_some_and(|n| n == ".env") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(!text.contains(secret), "{} holds the secret", p.display());
    }
}
