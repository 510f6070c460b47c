//! Output conventions, as Compose's: `--progress auto|tty|plain|json|quiet`, `-q`, `--ansi`
//! and `NO_COLOR`; the terminal cases under a real pseudo-terminal (`script`).

use crate::support::{self, Bed, Run};

/// `docker-flow ARGS` under a pseudo-terminal: what the terminal showed (stdout and stderr).
fn on_a_terminal(bed: &Bed, args: &[&str], env: &[(&str, &str)]) -> Run {
    let line = std::iter::once(env!("CARGO_BIN_EXE_docker-flow"))
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = bed.command(
        std::path::Path::new("script"),
        &["-qec", &line, "/dev/null"],
    );
    c.env("TERM", "xterm-256color").env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    support::run(c)
}

#[test]
fn json_progress_is_one_event_a_line_and_quiet_prints_nothing() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("outj", 800);
    let r = bed.flow(&["deploy", "--progress", "json"]);
    r.ok();
    assert_eq!(r.stdout, "", "results only on stdout");
    let events: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event: {l:?}: {e}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.len(), events.len(), "{}", r.stderr);
    for kind in ["step", "done", "output"] {
        assert!(kinds.contains(&kind), "no {kind} event: {}", r.stderr);
    }
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "done" && e["step"] == "deploy" && e["seconds"].is_number()),
        "{}",
        r.stderr
    );
    // Compose's own output arrives as events too.
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "output" && e["command"] == "compose"),
        "{}",
        r.stderr
    );
    bed.env("V", "v2");
    for quiet in [&["deploy", "--progress", "quiet"][..], &["deploy", "-q"]] {
        let r = bed.flow(quiet);
        r.ok();
        assert_eq!(
            (r.stdout.as_str(), r.stderr.as_str()),
            ("", ""),
            "{quiet:?}"
        );
    }
    assert_eq!(bed.version_at("/demo"), "v2");
    // A failure still says why, in full, when quiet.
    bed.env("HEALTH", "fail").env("V", "v3");
    let r = bed.flow(&["deploy", "-q", "--health-timeout", "3s"]);
    r.fails(1, "healthy");
    assert_eq!(bed.version_at("/demo"), "v2");
}

#[test]
fn no_color_and_ansi_never_print_no_escape_code_on_a_terminal() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("outa", 1500);
    // On a terminal, by default: the waiting line is redrawn (escape codes), and errors are
    // coloured. This is what the other two runs must not show.
    let plain = on_a_terminal(&bed, &["deploy"], &[]);
    assert_eq!(plain.code, 0, "{}", plain.stdout);
    assert!(plain.stdout.contains('\x1b'), "{:?}", plain.stdout);
    let err = on_a_terminal(&bed, &["deploy", "--scale", "abc"], &[]);
    assert!(
        err.stdout.contains('\x1b') && err.stdout.contains("abc"),
        "{:?}",
        err.stdout
    );
    for (n, (args, env)) in [
        (&["deploy"][..], &[("NO_COLOR", "1")][..]),
        (&["deploy", "--ansi", "never"], &[]),
        (&["deploy", "--scale", "abc"], &[("NO_COLOR", "1")]),
        (&["deploy", "--ansi=never", "--scale", "abc"], &[]),
    ]
    .into_iter()
    .enumerate()
    {
        bed.env("V", if n % 2 == 0 { "v2" } else { "v3" });
        let r = on_a_terminal(&bed, args, env);
        assert!(
            !r.stdout.contains('\x1b'),
            "{args:?} {env:?}: {:?}",
            r.stdout
        );
        assert!(
            r.stdout.contains("deploy") || r.stdout.contains("abc"),
            "{:?}",
            r.stdout
        );
    }
}

/// Checks `output` against `docs/schemas/<schema>`: the documented schema is what is printed.
#[track_caller]
pub(crate) fn conforms(schema: &str, output: &str) {
    let path = support::root().join("docs/schemas").join(schema);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(output).unwrap_or_else(|e| panic!("not JSON ({e}): {output}"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{}: {errors:#?}\n{output}",
        path.display()
    );
}

#[test]
fn every_json_output_validates_against_its_documented_schema() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("schema", 0);
    let json = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        let r = bed.flow(&a);
        r.ok();
        r.stdout.clone()
    };
    conforms("config.schema.json", &json(&["config"]));
    conforms("plan.schema.json", &json(&["deploy", "--dry-run"]));
    conforms("run.schema.json", &json(&["deploy"]));
    conforms("run.schema.json", &json(&["scale", "2"]));
    conforms("status.schema.json", &json(&["status"]));
    conforms("run.schema.json", &json(&["deploy"]));
    conforms("run.schema.json", &json(&["rollback"]));
    let every = bed.flow_env(&["status", "--format", "json"], &[("FLOW_TARGET", "")]);
    every.ok();
    let v: serde_json::Value = serde_json::from_str(&every.stdout).unwrap();
    assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{v}");
    conforms("status-every-target.schema.json", &every.stdout);
    // A schema that says something else fails the check (the check can fail).
    let wrong = std::panic::catch_unwind(|| conforms("config.schema.json", &json(&["status"])));
    assert!(wrong.is_err());
}

/// Runs `docker-flow ARGS` with stdout and stderr on one pipe whose reader goes away after the
/// first line (`2>&1 | head -1`, or a CI log shipper that died); its exit code.
fn with_output_closed_after_one_line(bed: &Bed, args: &[&str]) -> Option<i32> {
    use std::io::BufRead;
    let (reader, writer) = std::io::pipe().unwrap();
    let mut c = bed.command(
        std::path::Path::new(env!("CARGO_BIN_EXE_docker-flow")),
        args,
    );
    c.stdout(writer.try_clone().unwrap()).stderr(writer);
    let mut child = c.spawn().unwrap();
    // The command holds the pipe's only writers now.
    drop(c);
    let mut line = String::new();
    std::io::BufReader::new(reader)
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "{args:?} printed nothing");
    child.wait().unwrap().code()
}

#[test]
fn output_closed_after_one_line_ends_no_run_halfway_and_panics_nowhere() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("pipe", 300);
    assert_eq!(
        with_output_closed_after_one_line(&bed, &["deploy", "--dry-run"]),
        Some(0)
    );
    assert_eq!(
        with_output_closed_after_one_line(&bed, &["deploy"]),
        Some(0)
    );
    assert_eq!(bed.version_at("/demo"), "v1");
    // A deploy whose output goes away still runs to its end: the switch, the drain, stop-old.
    bed.env("V", "v2");
    assert_eq!(
        with_output_closed_after_one_line(&bed, &["deploy"]),
        Some(0)
    );
    assert_eq!(bed.version_at("/demo"), "v2");
    bed.env("V", "v3");
    bed.flow(&["deploy"]).ok();
    assert_eq!(bed.version_at("/demo"), "v3");
}
