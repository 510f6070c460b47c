//! The commands that act on the live release for the user, as Compose's act on a service:
//! `logs` and `exec`, whatever the live colour, after deploys and after a rollback.

use crate::support::{self, Bed};

/// The live instance's version by `docker flow exec` (the demo image's `version` command).
#[track_caller]
fn exec_version(bed: &Bed, extra: &[&str]) -> String {
    let mut args = vec!["exec", "-T"];
    args.extend_from_slice(extra);
    args.extend(["--", "/demo-service", "version"]);
    let r = bed.flow(&args);
    r.ok();
    r.stdout.trim().to_string()
}

#[test]
fn logs_and_exec_follow_the_live_release_through_deploys_and_a_rollback() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("logs", 0);
    // Before any deploy there is nothing to show: one clear error.
    bed.flow(&["logs"]).fails(1, "no release of `app` runs");
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");
    bed.flow(&["deploy"]).ok();
    // Live: green, v2. Its logs are v2's only; --all shows both colours, prefixed.
    let logs = bed.flow(&["logs"]);
    logs.ok();
    let all_output = format!("{}{}", logs.stdout, logs.stderr);
    assert!(
        all_output.contains("demo-service v2 listening"),
        "{all_output}"
    );
    assert!(!all_output.contains("demo-service v1"), "{all_output}");
    let all = bed.flow(&["logs", "--all"]);
    all.ok();
    let blue = format!("{}-app-blue-1 ", bed.project);
    let green = format!("{}-app-green-1", bed.project);
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with(&blue) && l.contains("| demo-service v1 listening")),
        "{}",
        all.stdout
    );
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with(&green) && l.contains("| demo-service v2 listening")),
        "{}",
        all.stdout
    );
    // --tail 0 prints nothing of the past.
    let none = bed.flow(&["logs", "--tail", "0"]);
    none.ok();
    assert_eq!(format!("{}{}", none.stdout, none.stderr).trim(), "");
    // exec runs in the live release; its exit code is the command's.
    assert_eq!(exec_version(&bed, &[]), "v2");
    let failed = bed.flow(&[
        "exec",
        "-T",
        "-e",
        "PORT=1",
        "--",
        "/demo-service",
        "healthcheck",
    ]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        !failed.stderr.contains('×'),
        "no diagnostic for the command's own exit: {}",
        failed.stderr
    );
    bed.flow(&["exec", "--index", "2", "--", "/demo-service", "version"])
        .fails(2, "has 1 instance; there is no instance 2");
    // Two instances: --index picks by name.
    bed.flow(&["scale", "2"]).ok();
    assert_eq!(exec_version(&bed, &["--index", "2"]), "v2");
    let two = bed.flow(&["logs"]);
    two.ok();
    assert!(
        two.stdout.contains(&format!(
            "{}-app-green-2 | demo-service v2 listening",
            bed.project
        )),
        "{}",
        two.stdout
    );
    // After a rollback both follow the release that is live again.
    bed.flow(&["rollback"]).ok();
    assert_eq!(bed.version_at("/demo"), "v1");
    assert_eq!(exec_version(&bed, &[]), "v1");
    let back = bed.flow(&["logs"]);
    back.ok();
    let out = format!("{}{}", back.stdout, back.stderr);
    assert!(
        out.contains("demo-service v1 listening") && !out.contains("v2"),
        "{out}"
    );
    // Through the docker CLI too, with the target's options after the command.
    let r = bed.docker(&[
        "flow",
        "exec",
        "-T",
        "-t",
        "app",
        "--",
        "/demo-service",
        "version",
    ]);
    r.ok();
    assert_eq!(r.stdout.trim(), "v1");
    // Compose's spellings: the service positionally (`logs app`, `exec app CMD…`, `scale app
    // N`), as `docker compose logs app` and `docker compose exec app …` take it.
    let named = bed.flow(&["logs", "app"]);
    named.ok();
    let out = format!("{}{}", named.stdout, named.stderr);
    assert!(out.contains("demo-service v1 listening"), "{out}");
    let r = bed.flow(&["exec", "-T", "app", "/demo-service", "version"]);
    r.ok();
    assert_eq!(r.stdout.trim(), "v1");
    bed.flow(&["scale", "app", "1"]).ok();
    let status = bed.flow(&["status", "app", "--format", "json"]);
    status.ok();
    assert_eq!(status.json()["target"], "app", "{}", status.stdout);
    bed.flow(&["exec", "app"])
        .fails(2, "exec needs a command after the service");
}
