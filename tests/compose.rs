//! The Compose model against real Compose: the project loads as `docker compose config` shows it,
//! the derived model is handed over unchanged but for the target, and every rejection points at
//! the user's file and line and leaves the engine as it was.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::Bed;

/// `docker compose config --format json EXTRA` in the bed, as Compose itself sees the project.
fn compose_config(bed: &Bed, extra: &[&str]) -> Value {
    let mut a = vec!["compose", "config", "--format", "json"];
    a.extend(extra);
    let r = bed.docker(&a);
    r.ok();
    r.json()
}

fn dry_run_model(bed: &Bed, args: &[&str]) -> Value {
    let mut a = vec![
        "deploy",
        "--dry-run",
        "--format",
        "json",
        "--proxy-driver",
        "none",
    ];
    a.extend(args);
    let r = bed.flow(&a);
    r.ok();
    r.json()["model"].clone()
}

#[test]
fn loads_the_project_the_way_compose_does() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::new("model");
    bed.write(".env", "WEB_TAG=v2\nGREETING=hello from .env\n");
    bed.write(
        "base.yaml",
        "services:\n  base:\n    environment:\n      FROM_BASE: \"yes\"\n    labels:\n      tier: web\n",
    );
    bed.write(
        "compose.yaml",
        &format!(
            r#"name: {}
x-common: &common
  restart: unless-stopped
  environment:
    ANCHOR: "from anchor"
services:
  web:
    <<: *common
    extends:
      file: base.yaml
      service: base
    image: demo-service:${{WEB_TAG}}
    expose: ["8080"]
    environment:
      GREETING: ${{GREETING}}
  db:
    <<: *common
    image: demo-service:v1
  debug:
    image: demo-service:v3
    profiles: [debug]
  worker:
    image: demo-service:v1
    depends_on: [web]
"#,
            bed.project
        ),
    );
    bed.write(
        "compose.override.yaml",
        "services:\n  web:\n    environment:\n      OVERRIDDEN: \"yes\"\n",
    );
    bed.env("COMPOSE_PROFILES", "debug");
    let compose = compose_config(&bed, &[]);
    // A plan shows the model before interpolation (it may carry secrets from `.env`).
    let written = compose_config(&bed, &["--no-interpolate"]);
    let ours = dry_run_model(&bed, &["-t", "web", "--blue-green"]);
    assert_eq!(ours["name"], compose["name"]);
    let theirs = written["services"].as_object().unwrap();
    let mine = ours["services"].as_object().unwrap();
    // Every other service is handed back exactly as Compose resolved it (worker's reference to
    // the target aside).
    // Keys Compose writes as null when it interpolates, and not otherwise, aside.
    let without_nulls = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.retain(|_, x| !x.is_null());
        }
        v
    };
    for (name, svc) in theirs {
        if name == "web" || name == "worker" {
            continue;
        }
        assert_eq!(
            without_nulls(&mine[name]),
            without_nulls(svc),
            "service {name} differs from `docker compose config`"
        );
    }
    assert!(
        mine.contains_key("debug"),
        "the profile's service is missing"
    );
    // The target becomes two colours, identical to Compose's view but for docker flow's labels.
    for color in ["blue", "green"] {
        let mut svc = mine[&format!("web-{color}")].clone();
        let labels = svc["labels"].as_object_mut().unwrap();
        assert_eq!(labels.remove("io.docker-flow.target").unwrap(), "web");
        assert_eq!(labels.remove("io.docker-flow.color").unwrap(), color);
        assert_eq!(labels.remove("io.docker-flow.port").unwrap(), "8080");
        labels.remove("io.docker-flow.release");
        labels.remove("io.docker-flow.released-at");
        assert_eq!(
            without_nulls(&svc),
            without_nulls(&theirs["web"]),
            "web-{color} differs from Compose's web"
        );
    }
    assert_eq!(mine["web-blue"]["image"], "demo-service:${WEB_TAG}");
    let web = &compose["services"]["web"];
    assert_eq!(web["image"], "demo-service:v2", ".env interpolation");
    assert_eq!(web["environment"]["GREETING"], "hello from .env");
    assert_eq!(
        web["restart"], "unless-stopped",
        "YAML anchor and merge key"
    );
    assert_eq!(
        compose["services"]["db"]["environment"]["ANCHOR"],
        "from anchor"
    );
    assert_eq!(web["environment"]["FROM_BASE"], "yes", "extends");
    assert_eq!(web["environment"]["OVERRIDDEN"], "yes", "override file");
    // The first deploy is blue; references to the target follow it.
    assert!(
        mine["worker"]["depends_on"].get("web-blue").is_some(),
        "{}",
        mine["worker"]
    );
    assert!(mine["web-blue"]["labels"]
        .get("io.docker-flow.release")
        .is_some());
    assert!(mine["web-green"]["labels"]
        .get("io.docker-flow.release")
        .is_none());
}

#[test]
fn explicit_files_and_project_name_are_passed_to_compose() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("files");
    bed.write(
        "deploy/one.yml",
        "services:\n  app:\n    image: demo-service:v1\n    expose: [\"8080\"]\n",
    );
    bed.write(
        "deploy/two.yml",
        "services:\n  app:\n    environment:\n      TWO: \"2\"\n",
    );
    let name = format!("{}-named", bed.project);
    let ours = dry_run_model(
        &bed,
        &[
            "-t",
            "app",
            "-f",
            "deploy/one.yml",
            "-f",
            "deploy/two.yml",
            "-p",
            &name,
        ],
    );
    assert_eq!(ours["name"], name.as_str());
    assert_eq!(ours["services"]["app"]["environment"]["TWO"], "2");
    assert_eq!(
        ours["services"]["app"]["labels"]["io.docker-flow.target"],
        "app"
    );
}

/// Runs a bad deploy and checks: exit 2, the message, the file and line, nothing changed.
fn rejected(bed: &Bed, args: &[&str], fragment: &str, line: Option<&str>) {
    let before = bed.engine_snapshot();
    let mut a = vec!["deploy"];
    a.extend(args);
    let r = bed.flow(&a);
    r.fails(2, fragment);
    if let Some(line) = line {
        assert!(
            r.stderr.contains("compose.yaml"),
            "no file named:\n{}",
            r.stderr
        );
        assert!(
            r.stderr.contains(line),
            "the line `{line}` is not shown:\n{}",
            r.stderr
        );
    }
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
}

#[test]
fn rejections_point_at_the_file_and_change_nothing() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("reject");
    let compose = |app: &str| {
        format!("name: {}\nservices:\n  db:\n    image: demo-service:v1\n  app:\n    image: demo-service:v1\n{app}", bed.project)
    };
    let flags = [
        "-t",
        "app",
        "--service-path",
        "/x",
        "--proxy-driver",
        "caddy",
    ];
    bed.write(
        "compose.yaml",
        &compose("    container_name: fixed\n    expose: [\"8080\"]\n"),
    );
    rejected(
        &bed,
        &flags,
        "sets container_name `fixed`",
        Some("7 │     container_name: fixed"),
    );
    bed.write(
        "compose.yaml",
        &compose("    ports:\n      - \"8080:8080\"\n"),
    );
    rejected(
        &bed,
        &flags,
        "publishes fixed host port 8080",
        Some("7 │     ports:"),
    );
    bed.write("compose.yaml", &compose(""));
    rejected(
        &bed,
        &flags,
        "cannot tell which port of `app`",
        Some("5 │   app:"),
    );
    bed.write(
        "compose.yaml",
        &compose("    expose: [\"8080\", \"9090\"]\n"),
    );
    rejected(&bed, &flags, "it declares 8080, 9090", Some("expose"));
    rejected(
        &bed,
        &["-t", "nope", "--proxy-driver", "none"],
        "the target `nope` is not a service",
        None,
    );
    let r = bed.flow(&["deploy", "-t", "nope", "--proxy-driver", "none"]);
    assert!(
        r.stderr.contains("the services are: app, db"),
        "{}",
        r.stderr
    );
    rejected(
        &bed,
        &[
            "-t",
            "app",
            "--side-target",
            "cache",
            "--proxy-driver",
            "none",
        ],
        "the side target `cache` is not a service",
        None,
    );
    bed.write("compose.yaml", "services:\n  app:\n    image: [unclosed\n");
    rejected(
        &bed,
        &["-t", "app", "--proxy-driver", "none"],
        "Compose cannot load the project",
        None,
    );
    bed.write("compose.yaml", "");
    rejected(
        &bed,
        &["-t", "app", "--proxy-driver", "none"],
        "Compose cannot load the project",
        None,
    );
    std::fs::remove_file(bed.path().join("compose.yaml")).unwrap();
    rejected(
        &bed,
        &["-t", "app", "--proxy-driver", "none"],
        "no Compose file: Compose looks for compose.yaml",
        None,
    );
    // With the proxy, a route is required.
    bed.write("compose.yaml", &compose("    expose: [\"8080\"]\n"));
    rejected(&bed, &["-t", "app"], "the proxy needs a route", None);
}

#[test]
fn a_dry_run_changes_nothing() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("dry", 0);
    let before = bed.engine_snapshot();
    let r = bed.flow(&["deploy", "--dry-run"]);
    r.ok();
    assert!(r.stdout.contains("Plan (dry run"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("up -d --no-deps --pull missing --scale app-blue=1 app-blue"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("has the route docker-flow."),
        "{}",
        r.stdout
    );
    let record = format!(
        "/docker-flow/helper-{}",
        docker_flow_build_suffix(&r.stdout)
    );
    let record = format!(
        "exec {} {record} set /routes app.{}.dflow '{}-app-blue-1@<address>'",
        bed.proxy_name, bed.project, bed.project
    );
    assert!(r.stdout.contains(&record), "{}", r.stdout);
    assert_eq!(before, bed.engine_snapshot());
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("name={}", bed.proxy_name),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "a dry run started the proxy");
}

#[test]
fn missing_compose_v2_is_an_environment_error() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("nocompose", 0);
    let empty = tempfile::tempdir().unwrap();
    let before = bed.engine_snapshot();
    let r = bed.flow_env(
        &["deploy"],
        &[("DOCKER_CONFIG", empty.path().to_str().unwrap())],
    );
    r.fails(3, "Docker Compose v2 is not installed");
    assert!(
        r.stderr.contains("cli-plugins"),
        "no install help:\n{}",
        r.stderr
    );
    assert_eq!(before, bed.engine_snapshot());
}

#[test]
fn images_are_built_or_pulled_as_asked() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("images");
    bed.write("app/Dockerfile", "FROM scratch\n");
    let compose = |app: &str| {
        format!(
            "name: {}\nservices:\n  app:\n{app}    expose: [\"8080\"]\n  db:\n    image: demo-service:v1\n",
            bed.project
        )
    };
    bed.write(
        "docker-flow.yml",
        "target: app\nside_targets: [db]\nblue_green: true\nproxy_driver: none\n",
    );
    let plan = |args: &[&str]| {
        let mut a = vec!["deploy", "--dry-run"];
        a.extend_from_slice(args);
        let r = bed.flow(&a);
        r.ok();
        r.stdout.clone()
    };
    // A service with a `build:` section is built, never pulled; -S pulls the side targets.
    bed.write("compose.yaml", &compose("    build: ./app\n"));
    let p = plan(&["--pull", "always", "-S"]);
    assert!(p.contains("-f - build app-blue"), "{p}");
    assert!(!p.contains("pull app-blue"), "{p}");
    assert!(p.contains("-f - pull --ignore-buildable db"), "{p}");
    // An image is pulled with --pull always, not with --pull missing; side targets only with -S.
    bed.write("compose.yaml", &compose("    image: demo-service:v1\n"));
    let p = plan(&["--pull", "always"]);
    assert!(p.contains("-f - pull app-blue"), "{p}");
    assert!(!p.contains(" build "), "{p}");
    assert!(!p.contains("pull --ignore-buildable"), "{p}");
    let p = plan(&["--pull", "missing"]);
    assert!(!p.contains("-f - pull "), "{p}");
}

/// The build suffix of the helper path a plan names (`/docker-flow/helper-<version>-<hash>`).
fn docker_flow_build_suffix(plan: &str) -> String {
    plan.split("/docker-flow/helper-")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_project_is_found_as_compose_finds_it_and_plans_name_containers() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("disc", 0);
    let compose = bed.path().join("compose.yaml").display().to_string();
    let elsewhere = tempfile::tempdir().unwrap();
    // From another directory, -f points at the project: its docker-flow.yml is the one read
    // (blue-green, the route, the proxy), as from inside.
    let config = bed.flow_from(
        elsewhere.path(),
        &["-f", &compose, "config", "--format", "json"],
    );
    config.ok();
    let v = config.json();
    assert_eq!(v["blue_green"]["value"], true, "{v}");
    let origin = v["blue_green"]["origin"].as_str().unwrap().to_string();
    assert!(
        origin.ends_with("docker-flow.yml line 4") && origin.starts_with('/'),
        "{origin}"
    );
    // Compose's own spellings work as docker flow's: --file and --project-name.
    let v = bed
        .flow_from(
            elsewhere.path(),
            &[
                "--file",
                &compose,
                "--project-name",
                "spelled",
                "config",
                "--format",
                "json",
            ],
        )
        .json();
    assert_eq!(v["blue_green"]["source"], "file", "{v}");
    assert_eq!(v["project"]["value"], "spelled", "{v}");
    assert_eq!(v["project"]["source"], "flag", "{v}");
    // So does --project-directory, and a subdirectory of the project (Compose looks up).
    let dir = bed.path().display().to_string();
    let v = bed
        .flow_from(
            elsewhere.path(),
            &["--project-directory", &dir, "config", "--format", "json"],
        )
        .json();
    assert_eq!(v["blue_green"]["source"], "file", "{v}");
    std::fs::create_dir_all(bed.path().join("sub")).unwrap();
    let v = bed
        .flow_from(&bed.path().join("sub"), &["config", "--format", "json"])
        .json();
    assert_eq!(v["blue_green"]["origin"], origin.as_str(), "{v}");
    let r = bed.flow_from(elsewhere.path(), &["-f", &compose, "deploy"]);
    r.ok();
    assert_eq!(bed.version_at("/demo"), "v1");
    bed.flow_from(elsewhere.path(), &["-f", &compose, "deploy"])
        .ok();
    let s = bed.flow(&["status", "--format", "json"]).json();
    assert_eq!(s["live_color"], "green", "{s}");
    // A plan names containers, never by their 64-character ids.
    let plan = bed.flow(&["deploy", "--dry-run"]);
    plan.ok();
    assert!(
        plan.stdout
            .contains(&format!("rm -f {}-app-blue-1", bed.project)),
        "{}",
        plan.stdout
    );
    assert!(
        !plan
            .stdout
            .split_whitespace()
            .any(|w| w.len() >= 64 && w.bytes().all(|b| b.is_ascii_hexdigit())),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_dry_run_never_prints_what_interpolation_filled_in() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("secret");
    bed.write(".env", "TOKEN=hunter2\n");
    bed.write("app.env", "FROM_FILE=s3cr3t\n");
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:v1\n    environment:\n      TOKEN: ${{TOKEN}}\n      PLAIN: visible\n    env_file: [app.env]\n    expose: [\"8080\"]\n",
            bed.project
        ),
    );
    let r = bed.flow(&[
        "deploy",
        "--dry-run",
        "--format",
        "json",
        "--proxy-driver",
        "none",
        "-t",
        "app",
    ]);
    r.ok();
    for secret in ["hunter2", "s3cr3t"] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "{secret} printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    let env = &r.json()["model"]["services"]["app"]["environment"];
    assert_eq!(env["TOKEN"], "${TOKEN}", "{env}");
    assert_eq!(env["PLAIN"], "visible", "{env}");
    assert_eq!(env["FROM_FILE"], "********", "{env}");
    // What Compose is handed is interpolated all the same.
    bed.flow(&[
        "deploy",
        "--proxy-driver",
        "none",
        "-t",
        "app",
        "--pull",
        "missing",
    ])
    .ok();
    let e = bed.docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &format!("{}-app-1", bed.project),
    ]);
    assert!(
        e.stdout.contains("TOKEN=hunter2") && e.stdout.contains("FROM_FILE=s3cr3t"),
        "{}",
        e.stdout
    );
}

/// The image Compose resolves for `app` with these arguments before `config`.
fn compose_image(bed: &Bed, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut a = vec!["compose"];
    a.extend_from_slice(args);
    a.extend(["config", "--format", "json"]);
    let mut c = bed.command(std::path::Path::new("docker"), &a);
    for (k, v) in env {
        c.env(k, v);
    }
    let r = support::run(c);
    r.ok();
    r.json()["services"]["app"]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn composes_env_file_and_profile_change_what_is_deployed_as_they_change_compose_config() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("cenv", 0);
    bed.write("v2.env", "V=v2\n").write("v3.env", "V=v3\n");
    // --env-file: the same image as Compose resolves with it, deployed and serving.
    assert_eq!(
        compose_image(&bed, &["--env-file", "v2.env"], &[]),
        "demo-service:v2"
    );
    bed.flow(&["deploy", "--env-file", "v2.env"]).ok();
    assert_eq!(bed.version_at("/demo"), "v2");
    // COMPOSE_ENV_FILES does the same, and `config` names it as the source.
    let env = [("COMPOSE_ENV_FILES", "v3.env")];
    assert_eq!(compose_image(&bed, &[], &env), "demo-service:v3");
    let c = bed.flow_env(&["config", "--format", "json"], &env).json();
    assert_eq!(c["env_file"]["origin"], "COMPOSE_ENV_FILES", "{c}");
    bed.flow_env(&["deploy"], &env).ok();
    assert_eq!(bed.version_at("/demo"), "v3");
    // --project-directory: Compose reads that directory's .env (and docker flow its
    // docker-flow.yml), here with the Compose file given apart.
    let yml = std::fs::read_to_string(bed.path().join("docker-flow.yml")).unwrap();
    bed.write("alt/.env", "V=v2\n")
        .write("alt/docker-flow.yml", &yml);
    let alt = ["-f", "compose.yaml", "--project-directory", "alt"];
    assert_eq!(compose_image(&bed, &alt, &[]), "demo-service:v2");
    let mut args = alt.to_vec();
    args.push("deploy");
    bed.flow(&args).ok();
    assert_eq!(bed.version_at("/demo"), "v2");
    // COMPOSE_FILE and COMPOSE_PROJECT_NAME, from another directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let file = bed.path().join("compose.yaml").display().to_string();
    let mut c = bed.command(
        std::path::Path::new(env!("CARGO_BIN_EXE_docker-flow")),
        &[
            "deploy",
            "--env-file",
            &bed.path().join("v3.env").display().to_string(),
        ],
    );
    c.current_dir(elsewhere.path())
        .env("COMPOSE_FILE", &file)
        .env("COMPOSE_PROJECT_NAME", &bed.project);
    support::run(c).ok();
    assert_eq!(bed.version_at("/demo"), "v3");

    // --profile: a target in a profile exists for Compose, and for docker flow, only with it.
    let profiled = Bed::demo("cprof", 0);
    let compose = std::fs::read_to_string(profiled.path().join("compose.yaml")).unwrap();
    profiled.write(
        "compose.yaml",
        &compose.replacen("  app:\n", "  app:\n    profiles: [web]\n", 1),
    );
    profiled
        .flow(&["deploy"])
        .fails(2, "the target `app` is not a service");
    assert_eq!(
        compose_image(&profiled, &["--profile", "web"], &[]),
        "demo-service:v1"
    );
    profiled.flow(&["deploy", "--profile", "web"]).ok();
    assert_eq!(profiled.version_at("/demo"), "v1");
    // COMPOSE_PROFILES, through the docker CLI; status and a redeploy see the same project.
    let env = [("COMPOSE_PROFILES", "web"), ("V", "v2")];
    let mut c = profiled.command(std::path::Path::new("docker"), &["flow", "deploy"]);
    for (k, v) in env {
        c.env(k, v);
    }
    support::run(c).ok();
    assert_eq!(profiled.version_at("/demo"), "v2");
    let s = profiled
        .flow_env(
            &["status", "--format", "json"],
            &[("COMPOSE_PROFILES", "web")],
        )
        .json();
    assert_eq!(s["live_color"], "green", "{s}");
}

#[test]
fn a_first_deploy_starts_as_many_instances_as_compose_would() {
    if !support::engine_available() {
        return;
    }
    // `deploy.replicas` (and `scale`, Compose's older spelling) set the first release's count;
    // later deploys keep the running count.
    let mut bed = Bed::demo("replicas", 0);
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &compose.replacen(
            "    expose: [\"8080\"]\n",
            "    expose: [\"8080\"]\n    deploy:\n      replicas: 3\n",
            1,
        ),
    );
    let running = |bed: &Bed| {
        let s = bed.flow(&["status", "--format", "json"]);
        s.ok();
        let s = s.json();
        ["blue", "green"]
            .iter()
            .map(|c| {
                s["colors"][c]["instances"]
                    .as_array()
                    .map_or(0, |i| i.iter().filter(|i| i["state"] == "running").count())
            })
            .collect::<Vec<_>>()
    };
    let r = bed.flow(&["deploy"]);
    r.ok();
    assert!(r.stderr.contains("with 3 instance(s)"), "{}", r.stderr);
    // The derived model warns no more than the user's file: no "placement" nobody asked for.
    assert!(
        !r.stderr.contains("only honored by the Swarm scheduler"),
        "{}",
        r.stderr
    );
    assert_eq!(running(&bed), [3, 0]);
    bed.env("V", "v2");
    bed.flow(&["deploy"]).ok();
    assert_eq!(running(&bed), [0, 3]);
    assert_eq!(bed.version_at("/demo"), "v2");
    // `scale:` on a fresh project.
    let bed = Bed::demo("scale", 0);
    bed.write(
        "compose.yaml",
        &std::fs::read_to_string(bed.path().join("compose.yaml"))
            .unwrap()
            .replacen(
                "    expose: [\"8080\"]\n",
                "    expose: [\"8080\"]\n    scale: 2\n",
                1,
            ),
    );
    bed.flow(&["deploy"]).ok();
    assert_eq!(running(&bed), [2, 0]);
}

#[test]
fn a_deploy_starts_what_the_target_depends_on_in_order_and_waits_for_its_conditions() {
    if !support::engine_available() {
        return;
    }
    // As `docker compose up -d app` would: `db` (healthy), then the migration (run to its
    // end), and `cache`, before the app; `unrelated` is not started. No side target is listed.
    let project = |bed: &Bed, db_health: &str| {
        let yml = std::fs::read_to_string(bed.path().join("docker-flow.yml")).unwrap();
        bed.write("docker-flow.yml", &yml.replace("side_targets: [db]\n", ""));
        bed.write(
            "compose.yaml",
            &format!(
                r#"name: {}
services:
  app:
    image: demo-service:${{V:-v1}}
    expose: ["8080"]
    depends_on:
      migrate: {{condition: service_completed_successfully}}
      cache: {{condition: service_started}}
  migrate:
    image: demo-service:v1
    command: ["version"]
    depends_on:
      db: {{condition: service_healthy}}
  db:
    image: demo-service:v1
    environment: {{VERSION: db, STARTUP_DELAY_MS: "1500", HEALTH: {db_health}}}
    healthcheck: {{test: ["CMD", "/demo-service", "healthcheck"], interval: 1s, retries: 3}}
  cache:
    image: demo-service:v1
  unrelated:
    image: demo-service:v1
"#,
                bed.project
            ),
        );
    };
    let bed = Bed::demo("deps", 0);
    project(&bed, "ok");
    bed.flow(&["deploy"]).ok();
    assert_eq!(bed.version_at("/demo"), "v1");
    let state = |service: &str| -> Vec<String> {
        support::docker_words(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", bed.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.State}}",
        ])
    };
    let at = |service: &str, field: &str| -> String {
        support::docker_ok(&[
            "inspect",
            "--format",
            &format!("{{{{.State.{field}}}}}"),
            &format!("{}-{service}-1", bed.project),
        ])
    };
    assert_eq!(state("db"), ["running"]);
    assert_eq!(state("cache"), ["running"]);
    assert_eq!(state("migrate"), ["exited"]);
    assert_eq!(at("migrate", "ExitCode"), "0");
    assert!(state("unrelated").is_empty(), "{:?}", state("unrelated"));
    let time = |t: String| humantime::parse_rfc3339(t.trim()).unwrap();
    // The migration waited for the database's health (1.5 s at least), and ended before the
    // app's first instance started.
    let db_up = time(at("db", "StartedAt"));
    let migrated = time(at("migrate", "StartedAt"));
    assert!(
        migrated.duration_since(db_up).unwrap() >= Duration::from_millis(1400),
        "the migration did not wait for db's health"
    );
    let app_up = time(support::docker_ok(&[
        "inspect",
        "--format",
        "{{.State.StartedAt}}",
        &format!("{}-app-blue-1", bed.project),
    ]));
    assert!(time(at("migrate", "FinishedAt")) <= app_up);
    // The next deploy leaves them as they run (the database is not recreated).
    let db = support::docker_ok(&[
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("{}-db-1", bed.project),
    ]);
    let mut bed = bed;
    bed.env("V", "v2");
    bed.flow(&["deploy"]).ok();
    assert_eq!(bed.version_at("/demo"), "v2");
    assert_eq!(
        support::docker_ok(&[
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{}-db-1", bed.project)
        ]),
        db
    );
    // A database that never gets healthy: exit 1 naming it, and no instance of the app.
    let sick = Bed::demo("depsick", 0);
    project(&sick, "fail");
    let compose = std::fs::read_to_string(sick.path().join("compose.yaml")).unwrap();
    sick.write(
        "compose.yaml",
        &compose.replace(
            "      migrate: {condition: service_completed_successfully}\n",
            "      db: {condition: service_healthy}\n",
        ),
    );
    sick.flow(&["deploy"]).fails(
        1,
        "`app` depends on `db` with `service_healthy`, and `db` is unhealthy",
    );
    let apps = support::docker_words(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", sick.project),
        "--filter",
        "label=io.docker-flow.target=app",
    ]);
    assert!(apps.is_empty(), "{apps:?}");
}
