//! The bad-input corpus (tests/bad-input/): every case gets one clear error with its fix, the
//! documented exit code, no panic, and leaves the engine exactly as it was.

use crate::support;

use std::path::Path;

use support::Bed;

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

#[test]
fn every_bad_input_is_refused_cleanly() {
    if !support::engine_available() {
        return;
    }
    let corpus = support::root().join("tests/bad-input");
    let base = corpus.join("_base");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p != &base)
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 30,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let bed = Bed::new("bad");
        for f in ["compose.yaml", "docker-flow.yml"] {
            let text = read(case, f).or_else(|| read(&base, f)).unwrap();
            bed.write(f, &text);
        }
        if case.join("no-compose").exists() {
            std::fs::remove_file(bed.path().join("compose.yaml")).unwrap();
        }
        let args: Vec<String> = read(case, "args")
            .unwrap_or_else(|| "deploy\n".into())
            .lines()
            .map(|l| l.replace("\\n", "\n"))
            .collect();
        let empty = tempfile::tempdir().unwrap();
        // The bed's own proxy name: a case that wrongly started a proxy would show in the
        // snapshot (a case may still name another).
        let mut env: Vec<(String, String)> = vec![
            ("COMPOSE_PROJECT_NAME".into(), bed.project.clone()),
            ("FLOW_PROXY_NAME".into(), bed.proxy_name.clone()),
        ];
        for line in read(case, "env")
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
        {
            let (k, v) = line.split_once('=').unwrap();
            env.push((
                k.into(),
                v.replace("{EMPTY_DIR}", empty.path().to_str().unwrap()),
            ));
        }
        let expect = read(case, "expect").unwrap();
        let mut lines = expect.lines();
        let code: i32 = lines.next().unwrap().trim().parse().unwrap();
        let fragments: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();

        // Containers, networks and volumes named after the bed (its proxy too, see above): other
        // tests run beside this one and change the engine's shared state.
        let before = bed.engine_snapshot();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = bed.flow_env(&argv, &envs);
        let after = bed.engine_snapshot();
        let mut problems = Vec::new();
        if r.code != code {
            problems.push(format!("exit {} instead of {code}", r.code));
        }
        for f in &fragments {
            if !r.stderr.contains(f) {
                problems.push(format!("no `{f}` in the message"));
            }
        }
        if !r.stderr.contains("help:") {
            problems.push("no fix (help:) in the message".into());
        }
        if r.stderr.contains("panicked") || r.stderr.contains("RUST_BACKTRACE") {
            problems.push("it panicked".into());
        }
        if !r.stdout.trim().is_empty() {
            problems.push(format!("it printed to stdout: {}", r.stdout.trim()));
        }
        if before != after {
            problems.push(format!(
                "the engine changed:\nbefore:\n{before}\nafter:\n{after}"
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {}\nstderr:\n{}",
                problems.join("; "),
                r.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
