//! `helper append`, `helper read`: the project's release history, one line per event in a file
//! on the history volume (`docker-flow-history-<project>`, mounted on the deploy lock).
//!
//! `append <file> <line>...` adds lines and syncs them, run in the lock container (`docker exec`)
//! while docker flow holds the lock, so one run writes at a time. `read <file>` prints the file
//! (nothing when there is none yet), run in a short-lived container with the volume read-only.
//! The helper never parses the lines: docker flow writes and reads them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn append(args: &[String]) -> ExitCode {
    let Some((file, lines)) = args.split_first().filter(|(_, l)| !l.is_empty()) else {
        eprintln!("usage: helper append <file> <line>...");
        return ExitCode::from(2);
    };
    if lines.iter().any(|l| l.contains('\n')) {
        eprintln!("helper append: a line holds no newline");
        return ExitCode::from(2);
    }
    // One write of whole lines, so a reader never sees half of one.
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(file))
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper append: {file}: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn read(args: &[String]) -> ExitCode {
    let [file] = args else {
        eprintln!("usage: helper read <file>");
        return ExitCode::from(2);
    };
    match std::fs::read(file) {
        Ok(bytes) => {
            let mut out = std::io::stdout();
            match out.write_all(&bytes).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper read: {file}: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_read_back() {
        let dir = std::env::temp_dir().join(format!("journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.jsonl").display().to_string();
        assert_eq!(
            read(std::slice::from_ref(&file)),
            ExitCode::SUCCESS,
            "no file yet is no history"
        );
        assert_eq!(
            append(&[file.clone(), "{\"a\":1}".into()]),
            ExitCode::SUCCESS
        );
        assert_eq!(
            append(&[file.clone(), "{\"b\":2}".into()]),
            ExitCode::SUCCESS
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        assert_eq!(append(&[file.clone(), "a\nb".into()]), ExitCode::from(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
