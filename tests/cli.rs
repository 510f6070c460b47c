//! The foundation through the real binary: plugin protocol, settings and their sources, the seed's
//! `--flow`, and usage errors. Settings tests need no engine; plugin tests use the installed plugin.

use crate::support;

use serde_json::{json, Value};
use support::{Bed, Run};

fn config(bed: &Bed, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut a = vec!["config", "--format", "json"];
    a.extend(args);
    let r = bed.flow_env(&a, env);
    r.ok();
    r.json()
}

/// (key, file YAML value, env var, env value, flag args, expected for file, env, flag)
struct Row {
    key: &'static str,
    file: &'static str,
    env_var: &'static str,
    env: &'static str,
    flag: &'static [&'static str],
    want: [Value; 3],
}

fn rows() -> Vec<Row> {
    let r = |key, file, env_var, env, flag, want| Row {
        key,
        file,
        env_var,
        env,
        flag,
        want,
    };
    vec![
        r(
            "blue_green",
            "true",
            "FLOW_BLUE_GREEN",
            "false",
            &["--blue-green"],
            [json!(true), json!(false), json!(true)],
        ),
        r(
            "cert_path",
            "/f",
            "FLOW_CERT_PATH",
            "/e",
            &["--cert-path", "/c"],
            [json!("/f"), json!("/e"), json!("/c")],
        ),
        r(
            "compose_path",
            "[a.yml]",
            "FLOW_COMPOSE_PATH",
            "b.yml, c.yml",
            &["-f", "d.yml", "-f", "e.yml"],
            [
                json!(["a.yml"]),
                json!(["b.yml", "c.yml"]),
                json!(["d.yml", "e.yml"]),
            ],
        ),
        r(
            "consul_address",
            "http://f:8500",
            "FLOW_CONSUL_ADDRESS",
            "http://e:8500",
            &["--consul-address", "https://c:8500"],
            [
                json!("http://f:8500"),
                json!("http://e:8500"),
                json!("https://c:8500"),
            ],
        ),
        r(
            "consul_template_be_path",
            "f.tmpl",
            "FLOW_CONSUL_TEMPLATE_BE_PATH",
            "e.tmpl",
            &["--consul-template-be-path", "c.tmpl"],
            [json!("f.tmpl"), json!("e.tmpl"), json!("c.tmpl")],
        ),
        r(
            "consul_template_fe_path",
            "f.tmpl",
            "FLOW_CONSUL_TEMPLATE_FE_PATH",
            "e.tmpl",
            &["--consul-template-fe-path", "c.tmpl"],
            [json!("f.tmpl"), json!("e.tmpl"), json!("c.tmpl")],
        ),
        r(
            "flow",
            "[deploy]",
            "FLOW",
            "deploy, proxy",
            &["-F", "scale", "--flow=proxy"],
            [
                json!(["deploy"]),
                json!(["deploy", "proxy"]),
                json!(["scale", "proxy"]),
            ],
        ),
        r(
            "host",
            "unix:///f.sock",
            "FLOW_HOST",
            "tcp://e:2376",
            &["-H", "ssh://c"],
            [
                json!("unix:///f.sock"),
                json!("tcp://e:2376"),
                json!("ssh://c"),
            ],
        ),
        r(
            "project",
            "pf",
            "FLOW_PROJECT",
            "pe",
            &["-p", "pc"],
            [json!("pf"), json!("pe"), json!("pc")],
        ),
        r(
            "proxy_docker_cert_path",
            "/f",
            "FLOW_PROXY_DOCKER_CERT_PATH",
            "/e",
            &["--proxy-docker-cert-path", "/c"],
            [json!("/f"), json!("/e"), json!("/c")],
        ),
        r(
            "proxy_docker_host",
            "unix:///f",
            "FLOW_PROXY_DOCKER_HOST",
            "tcp://e:1",
            &["--proxy-docker-host", "tcp://c:2"],
            [json!("unix:///f"), json!("tcp://e:1"), json!("tcp://c:2")],
        ),
        r(
            "proxy_host",
            "127.0.0.2",
            "FLOW_PROXY_HOST",
            "localhost",
            &["--proxy-host", "::1"],
            [json!("127.0.0.2"), json!("localhost"), json!("::1")],
        ),
        r(
            "proxy_reconf_port",
            "3000",
            "FLOW_PROXY_RECONF_PORT",
            "3001",
            &["--proxy-reconf-port", "3002"],
            [json!(3000), json!(3001), json!(3002)],
        ),
        r(
            "pull_side_targets",
            "true",
            "FLOW_PULL_SIDE_TARGETS",
            "false",
            &["-S"],
            [json!(true), json!(false), json!(true)],
        ),
        r(
            "scale",
            "2",
            "FLOW_SCALE",
            "+1",
            &["--scale", "-1"],
            [json!("2"), json!("+1"), json!("-1")],
        ),
        r(
            "service_path",
            "[/f]",
            "FLOW_SERVICE_PATH",
            "/e1, /e2",
            &["--service-path", "/c"],
            [json!(["/f"]), json!(["/e1", "/e2"]), json!(["/c"])],
        ),
        r(
            "side_targets",
            "[db]",
            "FLOW_SIDE_TARGETS",
            "cache, queue",
            &["--side-target", "x", "--side-target", "y"],
            [json!(["db"]), json!(["cache", "queue"]), json!(["x", "y"])],
        ),
        r(
            "target",
            "tf",
            "FLOW_TARGET",
            "te",
            &["-t", "tc"],
            [json!("tf"), json!("te"), json!("tc")],
        ),
        r(
            "service_port",
            "8080",
            "FLOW_SERVICE_PORT",
            "8081",
            &["--service-port", "8082"],
            [json!(8080), json!(8081), json!(8082)],
        ),
        r(
            "service_domain",
            "[f.example.com]",
            "FLOW_SERVICE_DOMAIN",
            "e.example.com",
            &["--service-domain", "c.example.com"],
            [
                json!(["f.example.com"]),
                json!(["e.example.com"]),
                json!(["c.example.com"]),
            ],
        ),
        r(
            "proxy_driver",
            "none",
            "FLOW_PROXY_DRIVER",
            "docker-flow-proxy",
            &["--proxy-driver", "caddy"],
            [json!("none"), json!("docker-flow-proxy"), json!("caddy")],
        ),
        r(
            "proxy_image",
            "f:1",
            "FLOW_PROXY_IMAGE",
            "e:2",
            &["--proxy-image", "c:3"],
            [json!("f:1"), json!("e:2"), json!("c:3")],
        ),
        r(
            "proxy_name",
            "pf",
            "FLOW_PROXY_NAME",
            "pe",
            &["--proxy-name", "pc"],
            [json!("pf"), json!("pe"), json!("pc")],
        ),
        r(
            "proxy_http_port",
            "81",
            "FLOW_PROXY_HTTP_PORT",
            "82",
            &["--proxy-http-port", "83"],
            [json!(81), json!(82), json!(83)],
        ),
        r(
            "engine",
            "compose",
            "FLOW_ENGINE",
            "swarm",
            &["--engine", "auto"],
            [json!("compose"), json!("swarm"), json!("auto")],
        ),
        r(
            "pull",
            "missing",
            "FLOW_PULL",
            "never",
            &["--pull", "always"],
            [json!("missing"), json!("never"), json!("always")],
        ),
        r(
            "health_timeout",
            "10s",
            "FLOW_HEALTH_TIMEOUT",
            "20",
            &["--health-timeout", "1m"],
            [json!("10s"), json!("20"), json!("1m")],
        ),
        r(
            "drain_timeout",
            "1s",
            "FLOW_DRAIN_TIMEOUT",
            "2s",
            &["--drain-timeout", "3s"],
            [json!("1s"), json!("2s"), json!("3s")],
        ),
        r(
            "lock_wait",
            "1m",
            "FLOW_LOCK_WAIT",
            "2m",
            &["--lock-wait", "3m"],
            [json!("1m"), json!("2m"), json!("3m")],
        ),
        r(
            "proxy_https_port",
            "8443",
            "FLOW_PROXY_HTTPS_PORT",
            "9443",
            &["--proxy-https-port", "10443"],
            [json!(8443), json!(9443), json!(10443)],
        ),
        r(
            "proxy_replicas",
            "2",
            "FLOW_PROXY_REPLICAS",
            "3",
            &["--proxy-replicas", "4"],
            [json!(2), json!(3), json!(4)],
        ),
        r(
            "proxy_registry",
            "a.example:5000",
            "FLOW_PROXY_REGISTRY",
            "b.example",
            &["--proxy-registry", "c.example/team"],
            [
                json!("a.example:5000"),
                json!("b.example"),
                json!("c.example/team"),
            ],
        ),
        r(
            "proxy_publish",
            "ingress",
            "FLOW_PROXY_PUBLISH",
            "host",
            &["--proxy-publish", "ingress"],
            [json!("ingress"), json!("host"), json!("ingress")],
        ),
        r(
            "tls",
            "internal",
            "FLOW_TLS",
            "off",
            &["--tls", "acme"],
            [json!("internal"), json!("off"), json!("acme")],
        ),
        r(
            "tls_cert",
            "f.pem",
            "FLOW_TLS_CERT",
            "e.pem",
            &["--tls-cert", "c.pem"],
            [json!("f.pem"), json!("e.pem"), json!("c.pem")],
        ),
        r(
            "tls_key",
            "fk.pem",
            "FLOW_TLS_KEY",
            "ek.pem",
            &["--tls-key", "ck.pem"],
            [json!("fk.pem"), json!("ek.pem"), json!("ck.pem")],
        ),
        r(
            "acme_email",
            "f@example.com",
            "FLOW_ACME_EMAIL",
            "e@example.com",
            &["--acme-email", "c@example.com"],
            [
                json!("f@example.com"),
                json!("e@example.com"),
                json!("c@example.com"),
            ],
        ),
        r(
            "acme_ca",
            "https://f.example.com/dir",
            "FLOW_ACME_CA",
            "https://e.example.com/dir",
            &["--acme-ca", "https://c.example.com/dir"],
            [
                json!("https://f.example.com/dir"),
                json!("https://e.example.com/dir"),
                json!("https://c.example.com/dir"),
            ],
        ),
        r(
            "acme_ca_root",
            "f-root.pem",
            "FLOW_ACME_CA_ROOT",
            "e-root.pem",
            &["--acme-ca-root", "c-root.pem"],
            [
                json!("f-root.pem"),
                json!("e-root.pem"),
                json!("c-root.pem"),
            ],
        ),
        r(
            "https_redirect",
            "false",
            "FLOW_HTTPS_REDIRECT",
            "true",
            &["--https-redirect=false"],
            [json!(false), json!(true), json!(false)],
        ),
        r(
            "proxy_trusted_proxies",
            "[10.0.0.1]",
            "FLOW_PROXY_TRUSTED_PROXIES",
            "10.0.0.0/8",
            &["--proxy-trusted-proxies", "192.168.0.0/16"],
            [
                json!(["10.0.0.1"]),
                json!(["10.0.0.0/8"]),
                json!(["192.168.0.0/16"]),
            ],
        ),
        r(
            "keep_old",
            "1m",
            "FLOW_KEEP_OLD",
            "2m",
            &["--keep-old", "3m"],
            [json!("1m"), json!("2m"), json!("3m")],
        ),
        r(
            "no_promote",
            "true",
            "FLOW_NO_PROMOTE",
            "false",
            &["--no-promote"],
            [json!(true), json!(false), json!(true)],
        ),
        r(
            "canary",
            "1",
            "FLOW_CANARY",
            "2",
            &["--canary", "25%"],
            [json!("1"), json!("2"), json!("25%")],
        ),
        r(
            "test_cmd",
            "[./a, x]",
            "FLOW_TEST_CMD",
            "./e 'a b'",
            &["--test-cmd", "./c"],
            [json!(["./a", "x"]), json!(["./e", "a b"]), json!(["./c"])],
        ),
        r(
            "progress",
            "plain",
            "FLOW_PROGRESS",
            "json",
            &["--progress", "tty"],
            [json!("plain"), json!("json"), json!("tty")],
        ),
        r(
            "quiet",
            "true",
            "FLOW_QUIET",
            "false",
            &["-q"],
            [json!(true), json!(false), json!(true)],
        ),
        r(
            "ansi",
            "never",
            "FLOW_ANSI",
            "always",
            &["--ansi", "auto"],
            [json!("never"), json!("always"), json!("auto")],
        ),
        r(
            "env_file",
            "f.env",
            "FLOW_ENV_FILE",
            "e.env,e2.env",
            &["--env-file", "c.env", "--env-file", "c2.env"],
            [
                json!(["f.env"]),
                json!(["e.env", "e2.env"]),
                json!(["c.env", "c2.env"]),
            ],
        ),
        r(
            "profile",
            "[pf]",
            "FLOW_PROFILE",
            "pe",
            &["--profile", "pc"],
            [json!(["pf"]), json!(["pe"]), json!(["pc"])],
        ),
        r(
            "project_directory",
            "pdf",
            "FLOW_PROJECT_DIRECTORY",
            "pde",
            &["--project-directory", "pdc"],
            [json!("pdf"), json!("pde"), json!("pdc")],
        ),
        r(
            "health_path",
            "/f",
            "FLOW_HEALTH_PATH",
            "/e",
            &["--health-path", "/c"],
            [json!("/f"), json!("/e"), json!("/c")],
        ),
        r(
            "switch_mode",
            "true",
            "FLOW_SWITCH_MODE",
            "false",
            &["--switch-mode"],
            [json!(true), json!(false), json!(true)],
        ),
        r(
            "dry_run",
            "true",
            "FLOW_DRY_RUN",
            "false",
            &["--dry-run"],
            [json!(true), json!(false), json!(true)],
        ),
    ]
}

#[test]
fn every_setting_follows_default_file_env_flag_precedence() {
    let rows = rows();
    let bed = Bed::new("prec");
    let defaults = config(&bed, &[], &[]);
    let keys: Vec<&String> = defaults.as_object().unwrap().keys().collect();
    for row in &rows {
        assert!(
            keys.iter().any(|k| *k == row.key),
            "{} is not a setting",
            row.key
        );
    }
    // Every setting but `format` (the test's own output switch, checked below) has a row.
    assert_eq!(
        rows.len() + 1,
        keys.len(),
        "a setting lacks a precedence row"
    );
    for row in &rows {
        let k = row.key;
        // The project's directory, unset, is where Compose finds the project.
        let default_source = if k == "project_directory" {
            "compose"
        } else {
            "default"
        };
        assert_eq!(defaults[k]["source"], default_source, "{k}");
        // HTTPS settings apply to a route with domains; a certificate comes with its key.
        let context = match k {
            "tls_cert" => "service_domain: [x.example.com]\ntls_key: k.pem\n",
            "tls_key" => "service_domain: [x.example.com]\ntls_cert: c.pem\n",
            "tls" | "acme_email" | "acme_ca" | "acme_ca_root" | "https_redirect" => {
                "service_domain: [x.example.com]\n"
            }
            _ => "",
        };
        bed.write("docker-flow.yml", &format!("{context}{k}: {}\n", row.file));
        let f = config(&bed, &[], &[]);
        assert_eq!(
            (&f[k]["value"], &f[k]["source"]),
            (&row.want[0], &json!("file")),
            "{k} from the file"
        );
        let e = config(&bed, &[], &[(row.env_var, row.env)]);
        assert_eq!(
            (&e[k]["value"], &e[k]["source"]),
            (&row.want[1], &json!("env")),
            "{k} from env"
        );
        let c = config(&bed, row.flag, &[(row.env_var, row.env)]);
        assert_eq!(
            (&c[k]["value"], &c[k]["source"]),
            (&row.want[2], &json!("flag")),
            "{k} from a flag"
        );
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let bed = Bed::new("defaults");
    let d = config(&bed, &[], &[]);
    for (k, v) in [
        ("blue_green", json!(false)),
        ("proxy_driver", json!("caddy")),
        ("proxy_image", json!("caddy:2")),
        ("proxy_name", json!("docker-flow-proxy")),
        ("proxy_http_port", json!(80)),
        ("proxy_reconf_port", json!(2019)),
        ("pull", json!("always")),
        ("engine", json!("auto")),
        ("health_timeout", json!("60s")),
        ("drain_timeout", json!("30s")),
        ("target", Value::Null),
        ("side_targets", json!([])),
    ] {
        assert_eq!(d[k]["value"], v, "{k}");
        assert_eq!(d[k]["source"], "default", "{k}");
    }
}

#[test]
fn format_and_the_seeds_fallback_variables() {
    let bed = Bed::new("fmt");
    bed.write("docker-flow.yml", "format: json\n");
    let r = bed.flow(&["config"]);
    r.ok();
    assert_eq!(r.json()["format"]["source"], "file");
    let r = bed.flow_env(&["config"], &[("FLOW_FORMAT", "text")]);
    assert!(
        r.stdout.contains("format") && r.stdout.contains("(FLOW_FORMAT)"),
        "{}",
        r.stdout
    );
    bed.write("docker-flow.yml", "");
    let v = config(
        &bed,
        &[],
        &[
            ("SCALE", "+3"),
            ("DOCKER_HOST", "unix:///x.sock"),
            ("CONSUL_ADDRESS", "http://c:8500"),
        ],
    );
    assert_eq!(
        v["scale"],
        json!({"value": "+3", "source": "env", "origin": "SCALE"})
    );
    assert_eq!(
        v["host"],
        json!({"value": "unix:///x.sock", "source": "env", "origin": "DOCKER_HOST"})
    );
    assert_eq!(
        v["consul_address"],
        json!({"value": "http://c:8500", "source": "env", "origin": "CONSUL_ADDRESS"})
    );
    let v = config(&bed, &[], &[("SCALE", "+3"), ("FLOW_SCALE", "4")]);
    assert_eq!(v["scale"]["value"], "4");
    // Compose's own variables, split as Compose splits them, each shown as the source.
    let v = config(
        &bed,
        &[],
        &[
            ("COMPOSE_FILE", "a.yaml:b.yaml"),
            ("COMPOSE_PROJECT_NAME", "shop"),
            ("COMPOSE_PROFILES", "web,debug"),
            ("COMPOSE_ENV_FILES", "x.env,y.env"),
        ],
    );
    for (key, value, var) in [
        ("compose_path", json!(["a.yaml", "b.yaml"]), "COMPOSE_FILE"),
        ("project", json!("shop"), "COMPOSE_PROJECT_NAME"),
        ("profile", json!(["web", "debug"]), "COMPOSE_PROFILES"),
        ("env_file", json!(["x.env", "y.env"]), "COMPOSE_ENV_FILES"),
    ] {
        assert_eq!(
            v[key],
            json!({"value": value, "source": "env", "origin": var}),
            "{key}"
        );
    }
    let v = config(
        &bed,
        &[],
        &[
            ("COMPOSE_FILE", "a.yaml;b.yaml"),
            ("COMPOSE_PATH_SEPARATOR", ";"),
        ],
    );
    assert_eq!(v["compose_path"]["value"], json!(["a.yaml", "b.yaml"]));
}

#[test]
fn a_false_flag_overrides_a_true_file() {
    let bed = Bed::new("boolf");
    bed.write("docker-flow.yml", "blue_green: true\n");
    let v = config(&bed, &["--blue-green=false"], &[]);
    assert_eq!(
        v["blue_green"],
        json!({"value": false, "source": "flag", "origin": "--blue-green"})
    );
    // A value from the file says its line.
    let v = config(&bed, &[], &[]);
    assert_eq!(
        v["blue_green"],
        json!({"value": true, "source": "file", "origin": "docker-flow.yml line 1"})
    );
}

#[test]
fn a_service_has_settings_of_its_own_above_the_files_and_below_variables_and_flags() {
    let bed = Bed::new("persvc");
    bed.write(
        "docker-flow.yml",
        "target: web\nservice_path: [/web]\nhealth_path: /health\nservices:\n  api:\n    service_path: [/api, /v2]\n    blue_green: true\n  worker: {}\n",
    );
    // The target's own settings, each saying where it stands; the rest from the top.
    let v = config(&bed, &["-t", "api"], &[]);
    assert_eq!(
        v["service_path"],
        json!({"value": ["/api", "/v2"], "source": "file", "origin": "docker-flow.yml services.api line 6"})
    );
    assert_eq!(
        v["blue_green"]["origin"],
        "docker-flow.yml services.api line 7"
    );
    assert_eq!(v["health_path"]["origin"], "docker-flow.yml line 3");
    // Another target reads the top of the file; a service with nothing of its own too.
    for target in ["web", "worker"] {
        let v = config(&bed, &["-t", target], &[]);
        assert_eq!(v["service_path"]["value"], json!(["/web"]), "{target}");
        assert_eq!(v["blue_green"]["source"], "default", "{target}");
    }
    // A variable and a flag win over the service's value, as over the file's.
    let v = config(&bed, &["-t", "api"], &[("FLOW_SERVICE_PATH", "/env")]);
    assert_eq!(v["service_path"]["origin"], "FLOW_SERVICE_PATH");
    let v = config(&bed, &["-t", "api", "--service-path", "/flag"], &[]);
    assert_eq!(v["service_path"]["value"], json!(["/flag"]));
    // The target named in the file (no -t): its own settings count.
    bed.write(
        "docker-flow.yml",
        "target: api\nservices:\n  api:\n    service_path: [/api]\n",
    );
    let v = config(&bed, &[], &[]);
    assert_eq!(
        v["service_path"]["origin"],
        "docker-flow.yml services.api line 4"
    );
    // A service of a profile that is not enabled is still one of the project's: its settings
    // are no error for a run of another target; a name no profile has is (bad-input corpus).
    if crate::support::engine_available() {
        let demo = Bed::demo("persvcprof", 0);
        let compose = std::fs::read_to_string(demo.path().join("compose.yaml")).unwrap();
        demo.write(
            "compose.yaml",
            &format!("{compose}  debug:\n    image: demo-service:v1\n    profiles: [debug]\n"),
        );
        let settings = std::fs::read_to_string(demo.path().join("docker-flow.yml")).unwrap();
        demo.write(
            "docker-flow.yml",
            &format!("{settings}services:\n  debug:\n    service_path: [/debug]\n"),
        );
        demo.flow(&["deploy", "--dry-run"]).ok();
    }
}

#[test]
fn text_config_names_each_source() {
    let bed = Bed::new("text");
    bed.write("docker-flow.yml", "# settings\ntarget: app\n");
    let r = bed.flow_env(&["config", "--scale", "+2"], &[("FLOW_BLUE_GREEN", "true")]);
    r.ok();
    let line = |k: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("target ").contains("docker-flow.yml line 2"),
        "{}",
        r.stdout
    );
    assert!(
        line("blue_green ").contains("FLOW_BLUE_GREEN"),
        "{}",
        r.stdout
    );
    assert!(line("scale ").contains("--scale"), "{}", r.stdout);
    assert!(line("pull ").contains("(default)"), "{}", r.stdout);
}

#[test]
fn metadata_is_served_without_the_daemon() {
    let bed = Bed::new("meta");
    let r = bed.flow_env(
        &["docker-cli-plugin-metadata"],
        &[("DOCKER_HOST", "tcp://127.0.0.1:1")],
    );
    r.ok();
    let v = r.json();
    assert_eq!(v["SchemaVersion"], "0.1.0");
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    assert!(v["Vendor"].is_string() && v["ShortDescription"].is_string() && v["URL"].is_string());
}

fn usage_error(bed: &Bed, args: &[&str], env: &[(&str, &str)], fragment: &str) -> Run {
    let r = bed.flow_env(args, env);
    r.fails(2, fragment);
    r
}

#[test]
fn flow_steps_and_subcommands() {
    let bed = Bed::new("steps");
    usage_error(
        &bed,
        &["deploy", "--flow=deploy"],
        &[],
        "--flow cannot be combined with a subcommand",
    );
    usage_error(
        &bed,
        &["--flow=deploy", "--flow=tests"],
        &[],
        "`tests` is not a flow step",
    );
    usage_error(
        &bed,
        &["--flow=deploy", "--flow=nope"],
        &[],
        "`nope` is not a flow step",
    );
    // Without a command, the help, as Compose does.
    let r = bed.flow(&[]);
    r.ok();
    assert!(
        r.stdout.contains("Usage:") && r.stdout.contains("Commands:"),
        "{}",
        r.stdout
    );
    // Help exits 0 (the seed's exited 1).
    let r = bed.flow(&["--help"]);
    r.ok();
    // The top level lists the commands; each command its own options.
    assert!(r.stdout.contains("deploy") && !r.stdout.contains("--blue-green"));
    let r = bed.flow(&["deploy", "--help"]);
    r.ok();
    assert!(r.stdout.contains("--blue-green"));
    // Options are grouped under headings, in this order.
    let headings = [
        "Project:",
        "Release:",
        "Proxy:",
        "HTTPS (routes with --service-domain, Caddy driver):",
        "Health and timing:",
        "Output:",
    ];
    // The Docker connection and Docker Flow 1.x's options are listed by `config`'s help (every
    // command that takes them still does).
    let config = bed.flow(&["config", "--help"]);
    config.ok();
    for heading in [
        "Docker connection:",
        "Docker Flow 1.x compatibility (Docker Flow Proxy, Consul):",
    ] {
        assert!(
            config.stdout.lines().any(|l| l == heading),
            "{}",
            config.stdout
        );
        assert!(!r.stdout.contains(heading), "{}", r.stdout);
    }
    let at: Vec<Option<usize>> = headings
        .iter()
        .map(|h| r.stdout.lines().position(|l| l == *h))
        .collect();
    assert!(at.iter().all(Option::is_some), "{at:?}\n{}", r.stdout);
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}\n{}", r.stdout);
    let proxy = r.stdout.split("Proxy:").nth(1).unwrap_or_default();
    let proxy = proxy.split("Health and timing:").next().unwrap_or_default();
    assert!(
        proxy.contains("--proxy-driver") && proxy.contains("--service-path"),
        "{proxy}"
    );
    bed.flow(&["help"]).ok();
}

#[test]
fn bad_values_name_the_problem_and_the_fix() {
    let bed = Bed::new("bad");
    usage_error(
        &bed,
        &["config"],
        &[("FLOW_BLUE_GREEN", "yes please")],
        "invalid blue_green from FLOW_BLUE_GREEN: `yes please` is not a boolean",
    );
    for bad in ["abc", "+", "+-1", "0x5"] {
        usage_error(
            &bed,
            &["config", &format!("--scale={bad}")],
            &[],
            &format!("`{bad}` is not a scale"),
        );
    }
    usage_error(
        &bed,
        &["config", "--scale=99999999999"],
        &[],
        "is too many instances",
    );
    usage_error(&bed, &["scale", "abc"], &[], "not a scale");
    usage_error(
        &bed,
        &["config", "--service-path", "demo"],
        &[],
        "does not start with `/`",
    );
    usage_error(
        &bed,
        &["config", "--service-path", "/a;id"],
        &[],
        "which a path prefix may not",
    );
    usage_error(
        &bed,
        &["config", "--service-domain", "a b.com"],
        &[],
        "is not a valid domain",
    );
    usage_error(
        &bed,
        &["config", "--proxy-http-port", "70000"],
        &[],
        "is not a port",
    );
    usage_error(
        &bed,
        &["config", "--consul-address", "consul:8500"],
        &[],
        "is not an http(s) URL",
    );
    usage_error(
        &bed,
        &["config", "--proxy-driver", "nginx"],
        &[],
        "is not a proxy driver",
    );
    usage_error(
        &bed,
        &["config", "--proxy-host", "http://10.1.2.3"],
        &[],
        "is not a host name or IP address",
    );
    usage_error(
        &bed,
        &["config", "--health-timeout", "soon"],
        &[],
        "is not a duration",
    );
    usage_error(
        &bed,
        &["--bogus", "flow", "config"],
        &[],
        "unknown docker global flag `--bogus`",
    );
    usage_error(&bed, &["config", "--bogus"], &[], "--bogus");
    bed.write("docker-flow.yml", "target: app\nscale: [1\n");
    let r = usage_error(&bed, &["config"], &[], "not valid YAML");
    assert!(r.stderr.contains("docker-flow.yml"), "{}", r.stderr);
    bed.write("docker-flow.yml", "target: app\nblue-green: true\n");
    let r = usage_error(&bed, &["config"], &[], "unknown setting `blue-green`");
    assert!(
        r.stderr.contains("blue_green") && r.stderr.contains("2 │"),
        "{}",
        r.stderr
    );
    bed.write("docker-flow.yml", "target: app\nproxy_http_port: 99999\n");
    let r = usage_error(
        &bed,
        &["config"],
        &[],
        "invalid `proxy_http_port` in docker-flow.yml",
    );
    assert!(
        r.stderr.contains("2 │ proxy_http_port: 99999"),
        "{}",
        r.stderr
    );
}

/// The plugin through the real docker CLI (installed by `make install`).
#[test]
fn the_installed_plugin_works_through_docker() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("plugin");
    bed.write(
        "compose.yaml",
        "services:\n  app:\n    image: demo-service:v1\n",
    );
    let help = bed.docker(&["--help"]);
    help.ok();
    assert!(
        help.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("flow")),
        "docker --help does not list flow:\n{}",
        help.stdout
    );
    let r = bed.docker(&["flow", "--help"]);
    r.ok();
    assert!(
        r.stdout.contains("docker flow") && r.stdout.contains("rollback"),
        "{}",
        r.stdout
    );
    // docker's global flags reach every docker call we make.
    bed.write("docker-flow.yml", "target: app\n");
    let r = bed.docker(&[
        "-H",
        "unix:///var/run/docker.sock",
        "flow",
        "config",
        "--format",
        "json",
    ]);
    r.ok();
    assert_eq!(r.json()["target"]["value"], "app");
    let r = bed.docker(&[
        "-H",
        "unix:///nonexistent/docker.sock",
        "flow",
        "status",
        "--proxy-driver",
        "none",
    ]);
    r.fails(3, "the Docker daemon is unreachable");
    assert!(
        r.stderr.contains("nonexistent"),
        "the -H value did not reach docker:\n{}",
        r.stderr
    );
}

#[test]
fn first_contact_help_version_and_hints() {
    let bed = Bed::new("first");
    // `help <command>` is that command's help; an unknown one is an error.
    let r = bed.flow(&["help", "deploy"]);
    r.ok();
    assert!(
        r.stdout.starts_with("Deploy the next release"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Commands:"), "{}", r.stdout);
    bed.flow(&["help", "bogus"])
        .fails(2, "unrecognized subcommand 'bogus'");
    // `version` and `--version` say the version, the commit and the helper build.
    let v = bed.flow(&["version"]);
    v.ok();
    assert!(
        v.stdout.starts_with(&format!(
            "docker flow {} (commit ",
            env!("CARGO_PKG_VERSION")
        )) && v.stdout.contains(", helper "),
        "{}",
        v.stdout
    );
    let long = bed.flow(&["--version"]);
    long.ok();
    assert_eq!(long.stdout, v.stdout);
    let json = bed.flow(&["version", "--format", "json"]);
    json.ok();
    let json = json.json();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v.stdout.contains(json["helper"].as_str().unwrap()),
        "{json}"
    );
    // A boolean option takes its value after `=`: `-b true` says so.
    for (args, hint) in [
        (&["-b", "true", "deploy"][..], "write `--blue-green=true`"),
        (
            &["--dry-run", "false", "status"][..],
            "write `--dry-run=false`",
        ),
    ] {
        let r = usage_error(&bed, args, &[], "unrecognized subcommand");
        assert!(r.stderr.contains(hint), "{}", r.stderr);
    }
    // Errors carry no internal code line, and clap's own tip is not repeated under ours.
    for r in [
        usage_error(&bed, &["--bogus"], &[], "unexpected argument '--bogus'"),
        usage_error(&bed, &["config", "--scale=x"], &[], "is not a scale"),
    ] {
        assert!(!r.stderr.contains("docker_flow::"), "{}", r.stderr);
        assert!(!r.stderr.contains("For more information"), "{}", r.stderr);
        assert_eq!(r.stderr.matches("help:").count(), 1, "{}", r.stderr);
    }
}

#[test]
fn an_unknown_docker_context_is_named_as_such() {
    let bed = Bed::new("ctx");
    bed.write(
        "compose.yaml",
        "services:\n  app:\n    image: demo-service:v1\n",
    );
    let r = bed.flow_env(
        &["status", "-t", "app"],
        &[("DOCKER_CONTEXT", "no-such-context")],
    );
    r.fails(3, "there is no docker context `no-such-context`");
    assert!(!r.stderr.contains("start Docker"), "{}", r.stderr);
    // docker's `-c` right after `flow` is docker's context too (not the Consul address).
    let r = bed.docker(&["flow", "-c", "no-such-context", "status", "-t", "app"]);
    r.fails(3, "there is no docker context `no-such-context`");
}

/// A shell under tmux (a real pseudo-terminal) with `docker-flow` on its PATH.
struct Terminal {
    socket: String,
    _bin: tempfile::TempDir,
}

impl Terminal {
    fn start(shell: &[&str]) -> Terminal {
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_docker-flow"),
            bin.path().join("docker-flow"),
        )
        .unwrap();
        let socket = crate::support::unique("dflow-term");
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = vec!["env", "PATH", "HOME=/tmp", "TERM=xterm"];
        let path_arg = format!("PATH={path}");
        cmd[1] = &path_arg;
        cmd.extend_from_slice(shell);
        let mut args = vec!["-L", &socket, "new-session", "-d", "-x", "150", "-y", "40"];
        args.extend(cmd.iter().copied());
        let st = std::process::Command::new("tmux").args(&args).status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "tmux is needed for the completion tests (scripts/testbed.sh installs it)"
        );
        Terminal { socket, _bin: bin }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys"];
        args.extend_from_slice(keys);
        assert!(std::process::Command::new("tmux")
            .args(&args)
            .status()
            .unwrap()
            .success());
    }

    fn screen(&self) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text` (10 s at most).
    #[track_caller]
    fn shows(&self, text: &str) {
        for _ in 0..100 {
            if self.screen().contains(text) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the terminal never showed {text:?}:\n{}", self.screen());
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Types `line`, a Tab, and waits for `completed` on the screen (tmux trims trailing blanks);
/// then clears the line.
fn completes(t: &Terminal, line: &str, completed: &str) {
    t.keys(&["-l", line]);
    t.keys(&["Tab"]);
    t.shows(completed);
    t.keys(&["C-u"]);
}

#[test]
fn completion_scripts_complete_commands_and_options_in_bash_and_zsh() {
    let bash = Terminal::start(&["bash", "--norc", "--noprofile", "-i"]);
    bash.keys(&[
        "-l",
        "source <(docker-flow completion bash) && echo bash-loaded",
    ]);
    bash.keys(&["Enter"]);
    bash.shows("\nbash-loaded");
    completes(&bash, "docker-flow dep", "docker-flow deploy");
    completes(
        &bash,
        "docker-flow status --form",
        "docker-flow status --format",
    );
    completes(&bash, "docker-flow logs --fol", "docker-flow logs --follow");

    let zsh = Terminal::start(&["zsh", "-f", "-i"]);
    zsh.keys(&[
        "-l",
        "autoload -Uz compinit && compinit -u && source <(docker-flow completion zsh) && echo zsh-loaded",
    ]);
    zsh.keys(&["Enter"]);
    zsh.shows("\nzsh-loaded");
    completes(&zsh, "docker-flow dep", "docker-flow deploy");
    completes(
        &zsh,
        "docker-flow status --form",
        "docker-flow status --format",
    );
}

#[test]
fn the_docker_cli_completes_docker_flow_through_the_plugin() {
    if !crate::support::engine_available() {
        return;
    }
    let bed = Bed::new("compl");
    // The docker CLI asks the plugin (`docker-flow __complete flow …`), in cobra's protocol.
    let r = bed.docker(&["__complete", "flow", "sta"]);
    r.ok();
    assert!(
        r.stdout.lines().any(|l| l.starts_with("status\t")),
        "{}",
        r.stdout
    );
    let r = bed.docker(&["__complete", "flow", "status", "--for"]);
    r.ok();
    assert!(
        r.stdout.lines().any(|l| l.starts_with("--format\t")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("--blue-green"), "{}", r.stdout);
    // A setting's words, and the project's services (as Compose lists them) where one goes.
    let r = bed.docker(&["__complete", "flow", "deploy", "--tls", ""]);
    r.ok();
    assert_eq!(r.stdout, "acme\ninternal\noff\n:4\n");
    let demo = Bed::demo("complsvc", 0);
    for words in [
        &["deploy", ""][..],
        &["logs", "-f", ""],
        &["exec", ""],
        &["deploy", "-t", "a"],
    ] {
        let mut a = vec!["__complete", "flow"];
        a.extend(words);
        let r = demo.docker(&a);
        r.ok();
        let offered: Vec<&str> = r.stdout.lines().collect();
        assert!(offered.contains(&"app"), "{words:?}: {}", r.stdout);
        assert_eq!(
            offered.contains(&"db"),
            words[words.len() - 1].is_empty(),
            "{words:?}: {}",
            r.stdout
        );
    }
    // The project the words select: another directory's file.
    let r = bed.docker(&[
        "__complete",
        "flow",
        "--project-directory",
        demo.path().to_str().unwrap(),
        "status",
        "",
    ]);
    r.ok();
    assert!(r.stdout.lines().any(|l| l == "db"), "{}", r.stdout);
}

#[test]
fn man_pages_render_after_make_install() {
    // `make test` runs `make install` first, which installs the pages beside the plugin.
    let out = std::process::Command::new("man")
        .args(["-P", "cat", "docker-flow-deploy"])
        .env("MANWIDTH", "100")
        .output()
        .expect("man is needed (scripts/testbed.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("NAME") && text.contains("--blue-green"),
        "{text}"
    );
    let top = std::process::Command::new("man")
        .args(["-P", "cat", "docker-flow"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&top.stdout).contains("SYNOPSIS"));
}

#[test]
fn the_seeds_generic_variables_count_only_with_a_value_valid_for_docker_flow() {
    // `SCALE`, `FLOW` and `CONSUL_ADDRESS` are set by many a CI for other things: a value that
    // is not one of docker flow's is left out (and `config` says so), not refused.
    let bed = Bed::new("generic");
    let r = bed.flow_env(
        &["config", "--format", "json"],
        &[
            ("SCALE", "abc"),
            ("FLOW", "build"),
            ("CONSUL_ADDRESS", "not a url"),
        ],
    );
    r.ok();
    let j = r.json();
    for key in ["scale", "flow", "consul_address"] {
        assert_eq!(j[key]["value"], Value::Null, "{key}: {j}");
        assert!(
            j[key]["origin"]
                .as_str()
                .unwrap()
                .contains("is set, but not to a value of this option"),
            "{key}: {j}"
        );
    }
    // A valid one is read as before; the FLOW_* names are refused when invalid.
    let r = bed.flow_env(&["config", "--format", "json"], &[("SCALE", "+2")]);
    r.ok();
    assert_eq!(r.json()["scale"]["value"], "+2");
    bed.flow_env(&["config"], &[("FLOW_SCALE", "abc")])
        .fails(2, "`abc` is not a scale");
}

#[test]
fn a_failed_run_asked_for_json_answers_in_json_on_stdout() {
    let bed = Bed::new("jsonerr");
    for args in [
        &["deploy", "--format", "json", "--scale", "abc"][..],
        &["--format=json", "deploy", "--bogus"][..],
    ] {
        let r = bed.flow(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let j = r.json();
        assert_eq!(j["exit_code"], 2, "{j}");
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
        assert!(!r.stderr.is_empty(), "the diagnostic still goes to stderr");
    }
    let r = bed.flow(&["deploy", "--scale", "abc"]);
    assert_eq!(r.stdout, "", "no JSON unless asked for");
}

#[test]
fn config_says_where_compose_finds_the_project_directory() {
    // From a directory below the project's, as Compose finds it: upwards.
    let bed = Bed::demo("pdir", 0);
    let below = bed.path().join("src");
    std::fs::create_dir_all(&below).unwrap();
    let r = bed.flow_from(&below, &["config", "--format", "json"]);
    r.ok();
    let j = r.json();
    assert_eq!(
        j["project_directory"]["value"],
        bed.path().display().to_string(),
        "{j}"
    );
    assert_eq!(
        j["project_directory"]["origin"], "where Compose finds the project",
        "{j}"
    );
}

#[test]
fn booleans_read_alike_from_flags_variables_and_the_file() {
    let bed = Bed::new("bools");
    bed.write("docker-flow.yml", "blue_green: yes\ndry_run: off\n");
    let value = |args: &[&str], env: &[(&str, &str)], key: &str| {
        let r = bed.flow_env(&[&["config", "--format", "json"], args].concat(), env);
        r.ok();
        r.json()[key]["value"].clone()
    };
    assert_eq!(value(&[], &[], "blue_green"), true);
    assert_eq!(value(&[], &[], "dry_run"), false);
    assert_eq!(
        value(&[], &[("FLOW_BLUE_GREEN", "no")], "blue_green"),
        false
    );
    assert_eq!(value(&[], &[("FLOW_DRY_RUN", "1")], "dry_run"), true);
    assert_eq!(value(&["--blue-green=off"], &[], "blue_green"), false);
}
