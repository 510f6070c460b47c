//! The release gates a team puts around a deploy: the test step (`--test-cmd`, the seed's
//! planned `test`) and the hooks in `.docker-flow/hooks/`, on the real engine, under load.

use std::time::Duration;

use crate::support::load::{only, Load};
use crate::support::{self, Bed};

/// A smoke test: asks the tested release's first instance for its version (through the
/// engine), and passes when it is `$WANT`.
const SMOKE: &str = r#"#!/bin/sh
first=${DOCKER_FLOW_INSTANCES%%,*}
got=$(docker exec "$first" /demo-service version)
echo "smoke: release $DOCKER_FLOW_RELEASE ($DOCKER_FLOW_COLOR) of $DOCKER_FLOW_TARGET answers $got"
[ "$got" = "$WANT" ] || { echo "smoke test failed: wanted $WANT"; exit 1; }
"#;

fn executable(bed: &Bed, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    bed.write(name, text);
    let path = bed.path().join(name);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_failing_test_command_keeps_the_live_release_and_removes_the_tested_one() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("gate", 0);
    executable(&bed, "smoke.sh", SMOKE);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2").env("WANT", "v3");
    let load = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let r = bed.flow(&["deploy", "--test-cmd", "./smoke.sh"]);
    std::thread::sleep(Duration::from_millis(500));
    let stats = load.stop();
    r.fails(1, "the test command failed (exit 1)");
    assert!(
        r.stderr.contains("smoke test failed: wanted v3"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("answers v2"), "{}", r.stderr);
    only(&stats, "v1", "a deploy whose test fails");
    let green = bed.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name={}-app-green", bed.project),
    ]);
    assert_eq!(
        green.stdout.trim(),
        "",
        "the tested release was not removed"
    );
    // A test that passes lets the deploy finish; in docker-flow.yml, as a list.
    bed.env("WANT", "v2");
    let yml = std::fs::read_to_string(bed.path().join("docker-flow.yml")).unwrap();
    bed.write("docker-flow.yml", &format!("{yml}test_cmd: [./smoke.sh]\n"));
    let r = bed.flow(&["deploy"]);
    r.ok();
    assert!(r.stderr.contains("==> test"), "{}", r.stderr);
    assert_eq!(bed.version_at("/demo"), "v2");
    // As the seed's step, on a staged release: the test runs before the proxy step.
    bed.env("V", "v3").env("WANT", "v3");
    bed.flow(&[
        "--flow=deploy",
        "--flow=test",
        "--flow=proxy",
        "--flow=stop-old",
    ])
    .ok();
    assert_eq!(bed.version_at("/demo"), "v3");
}

/// A hook that appends what it was told to `$HOOK_LOG`, and fails when `$FAIL` names it.
const HOOK: &str = r#"#!/bin/sh
echo "$DOCKER_FLOW_HOOK release=$DOCKER_FLOW_RELEASE color=$DOCKER_FLOW_COLOR instances=$DOCKER_FLOW_INSTANCES live=$DOCKER_FLOW_LIVE_INSTANCES target=$DOCKER_FLOW_TARGET context=$DOCKER_CONTEXT error=$DOCKER_FLOW_ERROR" >> "$HOOK_LOG"
[ "$FAIL" != "$DOCKER_FLOW_HOOK" ]
"#;

#[test]
fn hooks_run_once_each_with_their_variables_and_a_failing_pre_deploy_changes_nothing() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("hook", 0);
    let log = bed.path().join("hooks.log");
    bed.env("HOOK_LOG", &log.display().to_string());
    for hook in ["pre-deploy", "pre-promote", "post-deploy", "on-failure"] {
        executable(&bed, &format!(".docker-flow/hooks/{hook}"), HOOK);
    }
    // A misspelled hook never runs, and the run says so.
    executable(&bed, ".docker-flow/hooks/pre-deploi", HOOK);
    // Through the docker CLI with a context: a hook's own `docker` gets the same one.
    let r = bed.docker(&["--context", "default", "flow", "deploy"]);
    r.ok();
    assert!(
        r.stderr.contains(
            ".docker-flow/hooks/pre-deploi is not a hook and never runs (did you mean `pre-deploy`?)"
        ),
        "{}",
        r.stderr
    );
    std::fs::remove_file(bed.path().join(".docker-flow/hooks/pre-deploi")).unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<String> = read().lines().map(String::from).collect();
    let hooks: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        hooks,
        ["pre-deploy", "pre-promote", "post-deploy"],
        "{lines:#?}"
    );
    let blue1 = format!("{}-app-blue-1", bed.project);
    assert!(
        lines[0].contains("release= color= instances= live= target=app context=default"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("color=blue") && lines[1].contains(&format!("instances={blue1}")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("color=blue") && lines[2].contains(&format!("live={blue1}")),
        "{}",
        lines[2]
    );

    // A failing pre-deploy hook: nothing changes, exit 1, on-failure says why.
    std::fs::remove_file(&log).unwrap();
    bed.env("FAIL", "pre-deploy").env("V", "v2");
    let before = bed.engine_snapshot();
    bed.flow(&["deploy"])
        .fails(1, "the pre-deploy hook failed (exit 1)");
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
    let lines: Vec<String> = read().lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].starts_with("on-failure ")
            && lines[1].contains("error=the pre-deploy hook failed"),
        "{lines:#?}"
    );
    assert_eq!(bed.version_at("/demo"), "v1");

    // A failing pre-promote hook: the new release goes, the live one keeps serving.
    bed.env("FAIL", "pre-promote");
    bed.flow(&["deploy"])
        .fails(1, "the pre-promote hook failed (exit 1)");
    assert_eq!(bed.version_at("/demo"), "v1");
    let green = bed.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name={}-app-green", bed.project),
    ]);
    assert_eq!(green.stdout.trim(), "");

    // A hook that cannot run is refused before anything changes.
    bed.write(".docker-flow/hooks/pre-deploy", "#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bed.path().join(".docker-flow/hooks/pre-deploy"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    bed.flow(&["deploy"]).fails(2, "is not an executable file");
}
