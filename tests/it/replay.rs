//! `--record` and `--replay`: sessions recorded against live peers (HAR and jsonl), played
//! back as a mock server to in-process clients and as a client against in-process servers;
//! HAR files as Chromium (through Playwright), Chrome's DevTools and mitmproxy write them.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use crate::support::{self, next_text, run, Peer, Seen, Server, PATIENCE};

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("reading the recording");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing the fixture");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// A HAR document with one websocket entry per (url, messages, closes).
fn har(entries: &[(&str, Value, Value)]) -> String {
    let entries: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (url, messages, closes))| {
            json!({
                "startedDateTime": format!("2026-01-01T00:00:0{i}.000Z"),
                "time": 10,
                "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1",
                            "headers": [], "queryString": [], "cookies": [],
                            "headersSize": -1, "bodySize": 0},
                "response": {"status": 101, "statusText": "Switching Protocols",
                             "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                             "content": {"size": 0, "mimeType": "x-unknown"},
                             "redirectURL": "", "headersSize": -1, "bodySize": 0},
                "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
                "_resourceType": "websocket",
                "_webSocketMessages": messages,
                "_wsxCloses": closes,
            })
        })
        .collect();
    json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                   "entries": entries}})
    .to_string()
}

/// A client of `server` at `path`.
fn client_at(server: &Server, path: &str) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).expect("connecting");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let url = format!("ws://127.0.0.1:{}{path}", server.port);
    let (ws, _) = tungstenite::client(url.as_str(), tcp).expect("client handshake");
    ws
}

/// A live server that greets, then answers each text with its upper case, and closes with
/// 4000 "bye" after "quit".
fn greeter() -> Peer {
    Peer::ws(|ws, seen| {
        ws.send(Message::text("welcome")).expect("greeting");
        loop {
            match support::record(ws, seen) {
                Some(Message::Text(t)) if t.as_str() == "quit" => {
                    return support::close_with(ws, 4000, "bye");
                }
                Some(Message::Text(t)) => {
                    ws.send(Message::text(t.as_str().to_uppercase()))
                        .expect("answering");
                }
                Some(_) => {}
                None => return,
            }
        }
    })
}

#[test]
fn a_session_recorded_as_har_is_served_back_by_the_mock_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.har");
    let peer = greeter();
    let url = format!("{}chat?room=1", peer.url());
    let mut cmd = support::wsx();
    cmd.args(["connect", &url, "--record", file.to_str().unwrap()]);
    cmd.args(["-H", "Authorization: Bearer s3cret", "-w", "5"]);
    let out = run(cmd, b"one\ntwo\nquit\n");
    assert_eq!(out.code, Some(6), "the server closed with 4000: {out:?}");
    assert_eq!(out.stdout_text(), "welcome\nONE\nTWO\n");
    drop(peer);

    let doc = read_json(&file);
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["_resourceType"], "websocket");
    assert_eq!(entry["response"]["status"], 101);
    assert!(entry["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/chat?room=1"));
    let authorization = entry["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("authorization")
        })
        .expect("the header is listed");
    assert_eq!(authorization["value"], "[redacted]");
    let messages: Vec<(String, String)> = entry["_webSocketMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let side = m["type"].as_str().unwrap().to_string();
            (side, m["data"].as_str().unwrap().to_string())
        })
        .collect();
    let expected = [
        ("receive", "welcome"),
        ("send", "one"),
        ("send", "two"),
        ("send", "quit"),
        ("receive", "ONE"),
        ("receive", "TWO"),
    ];
    let mut sorted = messages.clone();
    sorted.sort();
    let mut wanted: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    wanted.sort();
    assert_eq!(sorted, wanted, "{messages:?}");
    assert_eq!(entry["_wsxCloses"][0]["type"], "receive");
    assert_eq!(entry["_wsxCloses"][0]["code"], 4000);

    // The mock: the same answers to the same questions, and the recorded close. The lines
    // were piped, so they went out at once, before or after the welcome came (on a busy
    // machine, "one" can be recorded before it, and then the mock waits for "one" before it
    // welcomes): the client sends all three first, as it did.
    let mock = Server::start(&["--replay", file.to_str().unwrap(), "--replay-speed", "0"]);
    let mut ws = client_at(&mock, "/chat?room=1");
    for question in ["one", "two", "quit"] {
        ws.send(Message::text(question)).unwrap();
    }
    assert_eq!(next_text(&mut ws), "welcome");
    assert_eq!(next_text(&mut ws), "ONE");
    assert_eq!(next_text(&mut ws), "TWO");
    match ws.read() {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4000);
            assert_eq!(frame.reason.as_str(), "bye");
        }
        other => panic!("expected the recorded close, got {other:?}"),
    }
}

#[test]
fn the_mock_waits_for_the_client_and_keeps_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let t = 1_767_225_600.0;
    let messages = json!([
        {"type": "receive", "time": t + 5.0, "opcode": 1, "data": "ready"},
        {"type": "send", "time": t + 6.0, "opcode": 1, "data": "go"},
        {"type": "receive", "time": t + 6.6, "opcode": 1, "data": "first"},
        {"type": "receive", "time": t + 7.2, "opcode": 2, "data": "AAH/"},
    ]);
    let file = write(
        dir.path(),
        "gaps.har",
        &har(&[("ws://h/", messages, json!([]))]),
    );
    let mut mock = Server::start(&["--replay", &file]);
    let mut ws = mock.client();
    // The first message goes at once, however late it was recorded.
    let started = Instant::now();
    assert_eq!(next_text(&mut ws), "ready");
    assert!(started.elapsed() < Duration::from_secs(4));
    // Nothing more until the client has sent what the recording has it send.
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(900)))
        .unwrap();
    match ws.read() {
        Err(tungstenite::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
        other => panic!("the mock did not wait for the client: {other:?}"),
    }
    ws.get_mut().set_read_timeout(Some(PATIENCE)).unwrap();
    let sent = Instant::now();
    ws.send(Message::text("not go")).unwrap();
    assert_eq!(next_text(&mut ws), "first");
    let first = sent.elapsed();
    match ws.read().unwrap() {
        Message::Binary(b) => assert_eq!(b.as_ref(), [0, 1, 255]),
        other => panic!("expected the binary message, got {other:?}"),
    }
    let second = sent.elapsed();
    // The recorded gaps, 0.6 s each, give or take a loaded machine.
    assert!(first >= Duration::from_millis(500), "{first:?}");
    assert!(
        second >= first + Duration::from_millis(500),
        "{first:?} {second:?}"
    );
    // A client message that is not the recorded one is shown with both; the play goes on.
    mock.expect_stderr("#1 --replay: message 1 differs from the recording, which has \"go\"");
    mock.expect_stdout("#1 > ready (replayed)");
    mock.expect_stdout("#1 < not go");
    mock.expect_stdout("#1 > [binary 3 B] 00 01 ff (replayed)");
}

#[test]
fn replay_speed_divides_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let t = 1_767_225_600.0;
    let messages = json!([
        {"type": "receive", "time": t, "opcode": 1, "data": "a"},
        {"type": "receive", "time": t + 3.0, "opcode": 1, "data": "b"},
    ]);
    let file = write(
        dir.path(),
        "slow.har",
        &har(&[("ws://h/", messages, json!([]))]),
    );
    let mock = Server::start(&["--replay", &file, "--replay-speed", "10"]);
    let mut ws = mock.client();
    assert_eq!(next_text(&mut ws), "a");
    let started = Instant::now();
    assert_eq!(next_text(&mut ws), "b");
    let gap = started.elapsed();
    // 3 s / 10: well under the recorded gap, and not at once.
    assert!(gap >= Duration::from_millis(250), "{gap:?}");
    assert!(gap < Duration::from_millis(2500), "{gap:?}");
}

#[test]
fn each_path_is_served_its_own_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let say = |text: &str| json!([{"type": "receive", "time": 1.0, "opcode": 1, "data": text}]);
    let file = write(
        dir.path(),
        "paths.har",
        &har(&[
            ("ws://h/first", say("the first"), json!([])),
            ("ws://h/feed?topic=a", say("topic a"), json!([])),
            ("ws://h/feed?topic=b", say("topic b"), json!([])),
        ]),
    );
    let mock = Server::start(&["--replay", &file, "--replay-speed", "0"]);
    for (path, expected) in [
        ("/feed?topic=b", "topic b"),
        ("/feed?topic=a", "topic a"),
        ("/feed?topic=z", "topic a"),
        ("/feed", "topic a"),
        ("/elsewhere", "the first"),
    ] {
        let mut ws = client_at(&mock, path);
        assert_eq!(next_text(&mut ws), expected, "{path}");
    }
}

#[test]
fn a_server_recording_in_jsonl_plays_the_client_side_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.jsonl");
    let file = file.to_str().unwrap();
    let mut server = Server::start(&["--echo", "--record", file]);
    let mut ws = client_at(&server, "/echo?v=1");
    ws.send(Message::text("alpha")).unwrap();
    assert_eq!(next_text(&mut ws), "alpha");
    ws.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert!(matches!(ws.read().unwrap(), Message::Binary(_)));
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
    .unwrap();
    while ws.read().is_ok() {}
    server.expect_stdout("#1 disconnected");
    drop(server);
    let text = std::fs::read_to_string(file).unwrap();
    let open: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(open["type"], "open");
    assert_eq!(open["path"], "/echo?v=1");
    assert!(open["ts"].as_str().unwrap().ends_with('Z'), "{open}");
    // Echoes are not shown by `listen --echo`, but they are recorded.
    assert!(
        text.contains(r#""client":1,"dir":"out","type":"text","data":"alpha""#),
        "{text}"
    );

    // The client side again, against a live server that records what it gets.
    let peer = Peer::echo();
    let mut cmd = support::wsx();
    cmd.args(["connect", &peer.url(), "--replay", file, "-w", "5"]);
    cmd.args(["--format", "jsonl", "--timestamps", "none"]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(0), "{out:?}");
    let seen = peer.all();
    assert_eq!(seen[0], Seen::Text("alpha".into()));
    assert_eq!(seen[1], Seen::Binary(vec![1, 2, 3]));
    assert_eq!(seen[2], Seen::Close(1000, String::new()));
    let printed = out.stdout_text();
    assert!(
        printed.contains(r#"{"dir":"out","type":"text","data":"alpha","replayed":true}"#),
        "{printed}"
    );
}

#[test]
fn connect_replay_waits_for_the_server_within_the_linger() {
    let dir = tempfile::tempdir().unwrap();
    let messages = json!([
        {"type": "send", "time": 1.0, "opcode": 1, "data": "hello"},
        {"type": "receive", "time": 1.1, "opcode": 1, "data": "hi"},
        {"type": "send", "time": 1.2, "opcode": 1, "data": "after hi"},
    ]);
    let file = write(
        dir.path(),
        "c.har",
        &har(&[("ws://h/", messages, json!([]))]),
    );
    // A server that never answers: the second message waits, -w bounds the wait.
    let peer = Peer::ws(|ws, seen| while support::record(ws, seen).is_some() {});
    let mut cmd = support::wsx();
    cmd.args(["connect", &peer.url(), "--replay", &file, "-w", "0.3"]);
    let out = run(cmd, b"never read\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("--replay: the next message waits for message 1 from the server, and 0 came"),
        "{}",
        out.stderr
    );
    let seen = peer.all();
    assert_eq!(seen[0], Seen::Text("hello".into()));
    assert_eq!(
        seen[1],
        Seen::Close(1000, String::new()),
        "stdin is not read"
    );
}

#[test]
fn a_har_from_chromium_through_playwright_replays() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = write(
        dir.path(),
        "chromium.har",
        include_str!("../fixtures/chromium-playwright.har"),
    );
    let mut mock = Server::start(&["--replay", &fixture, "--replay-speed", "0"]);
    // Playwright writes times in milliseconds and no close: the page's own conversation.
    let mut ws = client_at(&mock, "/chat?room=7");
    let greeting = next_text(&mut ws);
    assert_eq!(greeting, r#"{"hello":"browser","n":[1,2]}"#);
    ws.send(Message::text(format!("browser got: {greeting}")))
        .unwrap();
    mock.expect_stdout("#1 < browser got:");
    assert!(!mock.stderr_so_far().contains("differs"));
}

#[test]
fn har_files_as_chrome_devtools_and_mitmproxy_write_them_replay() {
    let dir = tempfile::tempdir().unwrap();
    // Chrome's DevTools "Save all as HAR with content": times in seconds, frames of type
    // "error" beside the messages, a page entry before the socket's.
    let chrome = json!({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
        "pages": [{"startedDateTime": "2026-01-01T00:00:00.000Z", "id": "page_1", "title": "t", "pageTimings": {}}],
        "entries": [
            {"_initiator": {"type": "other"}, "_priority": "VeryHigh", "_resourceType": "document",
             "startedDateTime": "2026-01-01T00:00:00.000Z", "time": 3,
             "request": {"method": "GET", "url": "http://h/", "headers": []}, "response": {"status": 200}},
            {"_initiator": {"type": "script"}, "_resourceType": "websocket",
             "_webSocketMessages": [
                {"type": "send", "time": 1767225601.001, "opcode": 1, "data": "subscribe"},
                {"type": "receive", "time": 1767225601.002, "opcode": 1, "data": "subscribed"},
                {"type": "receive", "time": 1767225601.003, "opcode": 2, "data": "3q2+7w=="},
                {"type": "error", "time": 1767225601.004, "opcode": -1, "data": "Invalid frame header"}],
             "connection": "1234", "pageref": "page_1",
             "startedDateTime": "2026-01-01T00:00:01.000Z", "time": 4,
             "request": {"method": "GET", "url": "wss://h/live", "httpVersion": "HTTP/1.1",
                         "headers": [{"name": "Upgrade", "value": "websocket"}], "queryString": [],
                         "cookies": [], "headersSize": -1, "bodySize": 0},
             "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
                          "headers": [], "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"},
                          "redirectURL": "", "headersSize": -1, "bodySize": 0, "_transferSize": 0},
             "serverIPAddress": "10.0.0.1", "timings": {"blocked": -1, "dns": -1, "ssl": -1,
                "connect": -1, "send": 0, "wait": 0, "receive": 0}}]}});
    // mitmproxy's HAR export (its savehar addon): seconds as floats, and the connection
    // twice, at its 101 (no messages yet) and at its end.
    let mitmproxy = json!({"log": {"version": "1.2", "creator": {"name": "mitmproxy exporthar", "version": "0.1"},
        "pages": [], "entries": [
            {"startedDateTime": "2026-01-01T00:00:01.000000+00:00", "time": 3.5,
             "request": {"method": "GET", "url": "ws://h/live", "httpVersion": "HTTP/1.1",
                         "cookies": [], "headers": [], "queryString": [], "headersSize": 200, "bodySize": 0},
             "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
                          "cookies": [], "headers": [], "content": {"size": 0, "compression": 0, "mimeType": ""},
                          "redirectURL": "", "headersSize": 150, "bodySize": 0},
             "cache": {}, "timings": {"connect": 1.0, "ssl": -1, "send": 0.5, "receive": 0.2, "wait": 3.0},
             "_resourceType": "websocket", "_webSocketMessages": []},
            {"startedDateTime": "2026-01-01T00:00:01.000000+00:00", "time": 12.5,
             "request": {"method": "GET", "url": "ws://h/live", "httpVersion": "HTTP/1.1",
                         "cookies": [], "headers": [], "queryString": [], "headersSize": 200, "bodySize": 0},
             "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
                          "cookies": [], "headers": [], "content": {"size": 0, "compression": 0, "mimeType": ""},
                          "redirectURL": "", "headersSize": 150, "bodySize": 0},
             "cache": {}, "timings": {"connect": 1.0, "ssl": -1, "send": 0.5, "receive": 0.2, "wait": 3.0},
             "serverIPAddress": "10.0.0.1", "_resourceType": "websocket",
             "_webSocketMessages": [
                {"type": "send", "opcode": 1, "data": "subscribe", "time": 1767225601.5},
                {"type": "receive", "opcode": 1, "data": "subscribed", "time": 1767225601.6},
                {"type": "receive", "opcode": 2, "data": "3q2+7w==", "time": 1767225601.7}]}]}});
    for (name, doc) in [("chrome.har", chrome), ("mitmproxy.har", mitmproxy)] {
        let file = write(dir.path(), name, &doc.to_string());
        let mut mock = Server::start(&["--replay", &file, "--replay-speed", "0"]);
        let mut ws = client_at(&mock, "/live");
        ws.send(Message::text("subscribe")).unwrap();
        assert_eq!(next_text(&mut ws), "subscribed", "{name}");
        match ws.read().unwrap() {
            Message::Binary(b) => assert_eq!(b.as_ref(), [0xde, 0xad, 0xbe, 0xef], "{name}"),
            other => panic!("{name}: expected binary, got {other:?}"),
        }
        mock.expect_stdout("#1 > [binary 4 B] de ad be ef (replayed)");
        assert!(!mock.stderr_so_far().contains("differs"), "{name}");
    }
}

#[test]
fn recordings_that_cannot_be_played_are_usage_errors_before_anything_is_dialled() {
    let dir = tempfile::tempdir().unwrap();
    let no_socket = json!({"log": {"entries": [{"request": {"url": "http://h/"}}]}}).to_string();
    let bad_base64 = har(&[(
        "ws://h/",
        json!([{"type": "receive", "time": 1.0, "opcode": 2, "data": "not base64!"}]),
        json!([]),
    )]);
    let cases = [
        ("text.txt", "hello\n", "neither HAR nor jsonl"),
        (
            "broken.har",
            "{\"log\": {\"entries\": [",
            "JSON that does not parse",
        ),
        ("pages.har", no_socket.as_str(), "no WebSocket connection"),
        (
            "binary.har",
            bad_base64.as_str(),
            "HAR entry 1: message 1: the binary payload is not base64",
        ),
        (
            "events.jsonl",
            "{\"dir\":\"in\",\"type\":\"text\",\"data\":\"x\"}\nnot json\n",
            "line 2:",
        ),
    ];
    // A closed port: dialling would be exit 3, binding would print "listening on".
    let url = format!("ws://127.0.0.1:{}/", support::closed_port());
    for (name, text, why) in cases {
        let file = write(dir.path(), name, text);
        for role in ["connect", "listen"] {
            let mut cmd = support::wsx();
            match role {
                "connect" => cmd.args(["connect", &url]),
                _ => cmd.args(["listen", "127.0.0.1:0"]),
            };
            cmd.args(["--replay", &file]);
            let out = run(cmd, b"");
            assert_eq!(out.code, Some(2), "{role} {name}: {out:?}");
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{role} {name}: {}", out.stderr);
            assert!(
                lines[0].starts_with(&format!("wsx: --replay {file}: ")) && lines[0].contains(why),
                "{role} {name}: {}",
                lines[0]
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn a_recording_is_complete_after_sigterm_and_keeps_credentials_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.har");
    let mut server = Server::start(&[
        "--record",
        file.to_str().unwrap(),
        "--record-credentials",
        "-H",
        "Set-Cookie: session=42",
    ]);
    let mut ws = server.client();
    ws.send(Message::text("still here")).unwrap();
    server.expect_stdout("#1 < still here");
    // The file is valid while the connection is open (with no entry yet).
    assert_eq!(read_json(&file)["log"]["entries"], json!([]));
    support::terminate(server.pid);
    assert_eq!(server.wait(), Some(0));
    let doc = read_json(&file);
    let entry = &doc["log"]["entries"][0];
    assert_eq!(entry["_webSocketMessages"][0]["data"], "still here");
    assert_eq!(entry["_webSocketMessages"][0]["type"], "send");
    assert_eq!(entry["_wsxCloses"][0]["code"], 1001);
    let cookie = entry["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("set-cookie")
        })
        .cloned();
    assert_eq!(cookie.unwrap()["value"], "session=42");
}

#[test]
fn the_relay_records_each_client_as_its_browser_would() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.har");
    let upstream = Peer::echo();
    let mut relay = Server::start(&[
        "--forward",
        &upstream.url(),
        "--record",
        file.to_str().unwrap(),
    ]);
    let mut ws = client_at(&relay, "/via?x=1");
    ws.send(Message::text("through")).unwrap();
    assert_eq!(next_text(&mut ws), "through");
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    // The entry is written by the time the client is shown gone.
    relay.expect_stdout("#1 disconnected");
    let doc = read_json(&file);
    let entry = &doc["log"]["entries"][0];
    assert!(entry["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/via?x=1"));
    let messages = &entry["_webSocketMessages"];
    assert_eq!(messages[0]["type"], "send");
    assert_eq!(messages[1]["type"], "receive");
    assert_eq!(messages[1]["data"], "through");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_ends_the_run_with_the_reason() {
    let peer = Peer::echo();
    let mut cmd = support::wsx();
    cmd.args(["connect", &peer.url(), "--record", "/dev/full", "-w", "0"]);
    let out = run(cmd, b"hello\n");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("wsx: recording to /dev/full: No space left on device"),
        "{}",
        out.stderr
    );
    drop(peer);
}
