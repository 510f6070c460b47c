//! Long-lived connections through a switch: a server-sent-events stream open on the old release
//! keeps its instance until it ends (or `--drain-timeout` passes, when the instance is stopped
//! and ends it cleanly), while new connections go to the new release at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::load::{self, Load};
use crate::support::{self, Bed};

/// What a stream client saw: each event with when it came (from the stream's start), and
/// whether the stream ended with HTTP's last chunk (a clean end) rather than a cut.
struct Seen {
    events: Vec<(Duration, String)>,
    clean: bool,
    ended: Duration,
}

/// Opens `GET /demo/stream?ms=MS` through the proxy and reads it to its end, in a thread.
fn open_stream(port: u16, ms: u64, started: Instant) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
        write!(
            s,
            "GET /demo/stream?ms={ms} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut chunked = false;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            chunked |= line
                .to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked");
        }
        assert!(chunked, "the stream is not chunked");
        let (mut events, mut body, mut clean) = (Vec::new(), String::new(), false);
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break; // cut: no last chunk
            }
            let Ok(size) = usize::from_str_radix(line.trim(), 16) else {
                break;
            };
            if size == 0 {
                clean = true;
                break;
            }
            let mut chunk = vec![0; size + 2];
            if r.read_exact(&mut chunk).is_err() {
                break;
            }
            body.push_str(&String::from_utf8_lossy(&chunk[..size]));
            while let Some(at) = body.find("\n\n") {
                let event: String = body.drain(..at + 2).collect();
                if let Some(data) = event.trim().strip_prefix("data: ") {
                    events.push((started.elapsed(), data.to_string()));
                }
            }
        }
        Seen {
            events,
            clean,
            ended: started.elapsed(),
        }
    })
}

#[test]
fn a_stream_open_during_a_switch_keeps_its_release_until_it_ends_and_new_requests_get_the_new_one()
{
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("stream", 0);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");

    // A 20 s stream on v1, opened before the deploy, which switches after about 5 s on an idle
    // machine and after more than 9 s on a busy one: the stream must outlast the switch and
    // the drain's first look (a shorter one once ended before it, and nothing was in flight).
    let live = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120));
    let stream = open_stream(bed.http_port, 20_000, live.started);
    std::thread::sleep(Duration::from_millis(300));
    let r = bed.flow(&["deploy", "--drain-timeout", "40s"]);
    let deployed = live.started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let stats = live.stop();
    let seen = stream.join().unwrap();
    r.ok();
    assert!(seen.clean, "the stream was cut, not ended");
    assert!(
        seen.events.len() >= 130 && seen.events.iter().all(|(_, v)| v.starts_with("v1 ")),
        "the stream did not keep v1 to its end: {} events, {:?}",
        seen.events.len(),
        seen.events.iter().map(|(_, v)| v).collect::<Vec<_>>()
    );
    // The old release was stopped only after the stream ended; new requests got v2 before that.
    assert!(
        deployed >= seen.ended,
        "the deploy returned at {deployed:?}, before the stream ended at {:?}",
        seen.ended
    );
    let first_v2 = stats.first_of("v2").expect("no v2 answer");
    assert!(
        first_v2 < seen.ended,
        "new requests reached v2 only at {first_v2:?}, after the stream ended at {:?}",
        seen.ended
    );
    load::no_drop(&stats, deployed, "v2");
    assert!(r.stderr.contains("drained: waited"), "{}", r.stderr);

    // A stream longer than --drain-timeout: the old instance is stopped after it, and ends the
    // stream cleanly when asked to stop.
    bed.env("V", "v3");
    let t = Instant::now();
    let stream = open_stream(bed.http_port, 60_000, t);
    std::thread::sleep(Duration::from_millis(300));
    let r = bed.flow(&["deploy", "--drain-timeout", "2s"]);
    let seen = stream.join().unwrap();
    r.ok();
    assert!(
        r.stderr.contains("still in flight") && r.stderr.contains("after --drain-timeout"),
        "{}",
        r.stderr
    );
    assert!(seen.clean, "the stream was cut, not ended");
    assert!(seen.events.iter().all(|(_, v)| v.starts_with("v2 ")));
    assert!(
        seen.ended < t.elapsed() && seen.ended < Duration::from_secs(30),
        "the stream outlived the deploy: {:?}",
        seen.ended
    );
    assert_eq!(bed.version_at("/demo"), "v3");
}
