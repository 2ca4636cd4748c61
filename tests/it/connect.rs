//! `wsx connect` in a pipe: lines out, payloads in, the linger, formats, and every exit status,
//! against in-process tungstenite peers on 127.0.0.1.

use crate::support;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use support::{close_with, record, record_until_end, run, wsx, Peer, Seen};
use tungstenite::Message;

/// `wsx connect URL EXTRA...`.
pub(crate) fn connect(url: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = wsx();
    cmd.arg("connect").arg(url).args(extra);
    cmd
}

fn text(s: &str) -> Seen {
    Seen::Text(s.into())
}

/// Runs `cmd` with stdin at its end from the start (`/dev/null`) and collects its output.
pub(crate) fn without_stdin(mut cmd: std::process::Command) -> support::Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    support::finish(cmd.spawn().expect("spawning wsx"), b"")
}

fn normal_close() -> Seen {
    Seen::Close(1000, String::new())
}

/// Spawns `cmd` with `stdin` and piped output and reads the first line it prints; returns the
/// child, its stdout (to keep open or to drop) and the line.
fn first_line(
    mut cmd: std::process::Command,
    stdin: Stdio,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
    String,
) {
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsx");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
    let (stdout, line) = support::read_line_within(child.id(), stdout);
    (child, stdout, line)
}

#[test]
fn each_line_is_a_frame_and_each_reply_a_line() {
    let peer = Peer::echo();
    let out = run(connect(&peer.url(), &["-w", "0"]), b"a\nb\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "a\nb\n");
    assert_eq!(out.stderr, "");
    assert_eq!(peer.all()[..3], [text("a"), text("b"), normal_close()]);
}

#[test]
fn replies_from_a_slow_server_arrive_within_the_linger() {
    let peer = Peer::echo_after(Duration::from_millis(500));
    let out = run(connect(&peer.url(), &[]), b"a\nb\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "a\nb\n");
}

#[test]
fn line_endings_are_stripped_and_the_last_line_needs_no_newline() {
    let peer = Peer::echo();
    let out = run(connect(&peer.url(), &["-w", "0"]), b"a\r\n\nb");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        peer.all()[..4],
        [text("a"), text(""), text("b"), normal_close()]
    );
    assert_eq!(out.stdout_text(), "a\n\nb\n");
}

#[test]
fn thousands_of_lines_arrive_in_order_before_the_close() {
    let peer = Peer::echo();
    let input: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    // The echoes of 20,000 lines may still be on their way when the Close goes out: allow
    // a slow machine (or Wine) the time to answer it.
    let args = ["-w", "0", "--close-timeout", "30"];
    let out = run(connect(&peer.url(), &args), input.as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let seen = peer.all();
    assert_eq!(seen.len(), 20_002, "20000 lines, the close, the end");
    for (i, s) in seen.iter().take(20_000).enumerate() {
        assert_eq!(s, &text(&format!("line {i}")));
    }
    assert_eq!(seen[20_000], normal_close());
    assert_eq!(
        out.stdout_text(),
        input,
        "every echo before the close reply is printed"
    );
}

#[test]
fn execute_messages_go_first() {
    let peer = Peer::echo();
    let out = run(
        connect(&peer.url(), &["-w", "0", "-x", "one", "-x", "two"]),
        b"three\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        peer.all()[..4],
        [text("one"), text("two"), text("three"), normal_close()]
    );
}

#[test]
fn binary_flag_sends_lines_as_binary_frames() {
    let peer = Peer::echo();
    let out = run(
        connect(
            &peer.url(),
            &["-w", "0", "--binary", "--binary-output", "hex"],
        ),
        b"hi\n\xff\x00\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        peer.all()[..2],
        [Seen::Binary(b"hi".to_vec()), Seen::Binary(vec![0xff, 0])]
    );
    assert_eq!(out.stdout_text(), "68 69\nff 00\n");
}

#[test]
fn binary_output_encodings_are_byte_exact() {
    for (flag, expected) in [
        ("raw", b"\x00\xffhi".to_vec()),
        ("hex", b"00 ff 68 69\n".to_vec()),
        ("base64", b"AP9oaQ==\n".to_vec()),
    ] {
        let peer = Peer::ws(|ws, seen| {
            ws.send(Message::binary(b"\x00\xffhi".to_vec())).unwrap();
            record_until_end(ws, seen);
        });
        let out = run(
            connect(&peer.url(), &["-w", "0", "--binary-output", flag]),
            b"",
        );
        assert_eq!(out.code, Some(0), "{flag}: {}", out.stderr);
        assert_eq!(out.stdout, expected, "--binary-output {flag}");
    }
}

#[test]
fn slash_commands_in_a_pipe() {
    let peer = Peer::echo();
    let input = b"/ping hi\n/binary 68 69\n//x\n/bin 123\n/close 4000 done\n";
    let out = run(connect(&peer.url(), &["-w", "0", "--slash"]), input);
    let seen = peer.all();
    assert_eq!(
        seen[..4],
        [
            Seen::Ping(b"hi".to_vec()),
            Seen::Binary(b"hi".to_vec()),
            text("/x"),
            Seen::Close(4000, "done".into())
        ]
    );
    assert!(
        out.stderr
            .contains("stdin line 4: odd number of hex digits"),
        "{}",
        out.stderr
    );
    // A line that could not be sent makes the run a failure, after everything else went out.
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 input line was not sent"),
        "{}",
        out.stderr
    );
}

#[test]
fn without_slash_a_slash_line_is_text() {
    let peer = Peer::echo();
    let out = run(connect(&peer.url(), &["-w", "0"]), b"/ping\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(peer.next(), text("/ping"));
}

#[test]
fn jsonl_is_byte_exact() {
    let peer = Peer::echo();
    let out = run(
        connect(&peer.url(), &["--format", "jsonl", "--timestamps", "none"]),
        b"hi\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let url = peer.url();
    let expected = format!(
        concat!(
            "{{\"dir\":\"out\",\"type\":\"open\",\"subprotocol\":null,\"extensions\":null,\"url\":\"{}\"}}\n",
            "{{\"dir\":\"out\",\"type\":\"text\",\"data\":\"hi\"}}\n",
            "{{\"dir\":\"in\",\"type\":\"text\",\"data\":\"hi\"}}\n",
            "{{\"dir\":\"out\",\"type\":\"close\",\"code\":1000,\"reason\":\"\"}}\n",
            "{{\"dir\":\"in\",\"type\":\"close\",\"code\":1000,\"reason\":\"\"}}\n",
        ),
        url
    );
    assert_eq!(out.stdout_text(), expected);
}

#[test]
fn jsonl_timestamps_are_rfc3339_with_milliseconds() {
    let peer = Peer::echo();
    let out = run(
        connect(
            &peer.url(),
            &["-w", "0", "--format", "jsonl", "--timestamps", "utc"],
        ),
        b"hi\n",
    );
    let re =
        regex::Regex::new(r#"^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","dir""#).unwrap();
    let lines = out.stdout_text();
    assert!(lines.lines().count() >= 3, "open, sent, received: {lines}");
    for line in lines.lines() {
        assert!(re.is_match(line), "{line}");
    }
}

#[test]
fn human_format_shows_both_directions_and_escapes_control_characters() {
    let peer = Peer::ws(|ws, seen| {
        record(ws, seen);
        ws.send(Message::text("\x1b[2J\x07evil")).unwrap();
        ws.send(Message::binary(b"hello".to_vec())).unwrap();
        record_until_end(ws, seen);
    });
    let out = run(
        connect(&peer.url(), &["--format", "human", "--timestamps", "none"]),
        b"hi\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let expected = format!(
        "connected to {}\n> hi\n< \\x1b[2J\\x07evil\n< [binary 5 B] 68 65 6c 6c 6f\n> [close 1000 normal]\n< [close 1000 normal]\n",
        peer.url()
    );
    assert_eq!(out.stdout_text(), expected);
}

#[test]
fn human_timestamps_have_milliseconds() {
    let peer = Peer::echo();
    let out = run(
        connect(
            &peer.url(),
            &["-w", "0", "--format", "human", "--timestamps", "utc"],
        ),
        b"hi\n",
    );
    let re = regex::Regex::new(r"^\d\d:\d\d:\d\d\.\d{3} ").unwrap();
    let lines = out.stdout_text();
    assert!(lines.lines().count() >= 3, "{lines}");
    for line in lines.lines() {
        assert!(re.is_match(line), "{line}");
    }
    let out = run(
        connect(
            &Peer::echo().url(),
            &["--format", "human", "--timestamps", "elapsed", "-w", "0"],
        ),
        b"x\n",
    );
    let re = regex::Regex::new(r"^\+\d+\.\d{3} ").unwrap();
    let lines = out.stdout_text();
    assert!(lines.lines().count() >= 3, "{lines}");
    for line in lines.lines() {
        assert!(re.is_match(line), "{line}");
    }
}

#[test]
fn raw_output_keeps_payload_bytes_in_a_pipe() {
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("\x1b[31mred")).unwrap();
        record_until_end(ws, seen);
    });
    let out = run(connect(&peer.url(), &["-w", "0"]), b"");
    assert_eq!(out.stdout, b"\x1b[31mred\n");
}

#[test]
fn ping_shows_the_round_trip_time() {
    let peer = Peer::echo();
    let args = [
        "-w",
        "0",
        "--slash",
        "--format",
        "human",
        "--timestamps",
        "none",
    ];
    let out = run(connect(&peer.url(), &args), b"/ping abc\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let re = regex::Regex::new(r"(?m)^< \[pong\] abc \(\d+\.\d+ ms\)$").unwrap();
    assert!(re.is_match(&out.stdout_text()), "{}", out.stdout_text());
    assert!(!out.stdout_text().contains("[ping]"), "pings need -P");
    let out = run(
        connect(&Peer::echo().url(), &[&args[..], &["-P"]].concat()),
        b"/ping abc\n",
    );
    assert!(
        out.stdout_text().contains("> [ping] abc\n"),
        "{}",
        out.stdout_text()
    );
}

#[test]
fn count_exits_after_n_data_frames() {
    let peer = Peer::ws(|ws, seen| {
        for i in 0..5 {
            ws.send(Message::text(format!("m{i}"))).unwrap();
        }
        record_until_end(ws, seen);
    });
    let out = run(connect(&peer.url(), &["--count", "2", "-w", "-1"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "m0\nm1\n");
    assert_eq!(peer.next(), normal_close());
}

#[test]
fn wait_zero_closes_right_after_the_last_line() {
    let peer = Peer::ws(record_until_end);
    let out = run(connect(&peer.url(), &["-w", "0"]), b"x\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(peer.all()[..2], [text("x"), normal_close()]);
}

#[test]
fn wait_forever_keeps_receiving_until_the_peer_closes() {
    let peer = Peer::ws(|ws, seen| {
        record(ws, seen); // "x"
                          // Silent for longer than the default linger (1 s) after stdin's end: only -w -1
                          // keeps wsx around for what follows.
        std::thread::sleep(Duration::from_millis(1500)); // the behaviour under test
        for i in 0..3 {
            ws.send(Message::text(format!("late {i}"))).unwrap();
        }
        close_with(ws, 1000, "");
        record_until_end(ws, seen);
    });
    let out = run(connect(&peer.url(), &["-w", "-1"]), b"x\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "late 0\nlate 1\nlate 2\n");
}

// Exit statuses, one test each (2 is in tests/cli.rs).

#[test]
fn exit_1_for_a_line_that_is_not_utf8() {
    let peer = Peer::echo();
    let out = run(connect(&peer.url(), &["-w", "0"]), b"ok\n\xff\xfe\nafter\n");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("stdin line 2: not valid UTF-8"),
        "{}",
        out.stderr
    );
    assert_eq!(peer.all()[..3], [text("ok"), text("after"), normal_close()]);
    assert_eq!(out.stdout_text(), "ok\nafter\n");
}

#[test]
fn exit_3_when_the_connection_is_refused() {
    let url = format!("ws://127.0.0.1:{}/", support::closed_port());
    let out = run(connect(&url, &[]), b"x\n");
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("wsx: could not connect to ws://127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
}

#[test]
fn exit_3_when_the_name_does_not_resolve() {
    let out = run(connect("ws://no-such-host.invalid/", &[]), b"");
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr
            .starts_with("wsx: could not resolve no-such-host.invalid"),
        "{}",
        out.stderr
    );
}

#[test]
fn exit_3_when_the_certificate_is_not_trusted() {
    let pki = support::TestPki::new();
    let peer = Peer::tcp({
        let wrap = pki.wrap();
        move |tcp, _| {
            let mut tls = wrap(tcp);
            let _ = tls.read(&mut [0; 1]); // the handshake fails on the client's side
        }
    });
    let url = format!("wss://localhost:{}/", peer.addr.port());
    let out = run(connect(&url, &[]), b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("TLS handshake with localhost failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("not signed by a trusted authority"),
        "{}",
        out.stderr
    );
    drop(peer);
}

#[test]
fn wss_works_with_a_trusted_certificate() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let peer = Peer::ws_over(pki.wrap(), |ws, seen| loop {
        match record(ws, seen) {
            Some(msg @ Message::Text(_)) => ws.send(msg).unwrap(),
            Some(_) => {}
            None => return,
        }
    });
    let url = format!("wss://localhost:{}/", peer.addr.port());
    let mut cmd = connect(&url, &["-w", "0"]);
    cmd.env("SSL_CERT_FILE", &ca);
    let out = run(cmd, b"secure\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
}

#[test]
fn exit_4_when_the_handshake_is_rejected() {
    let peer = Peer::tcp(|mut tcp, _| {
        let mut buf = [0; 4096];
        let _ = tcp.read(&mut buf);
        let body = "no such endpoint\n";
        // One write, as servers answer: the client reads the body that came with the head.
        let response = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = tcp.write_all(response.as_bytes());
    });
    let out = run(connect(&peer.url(), &[]), b"");
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "wsx: handshake rejected by {}: HTTP/1.1 404 Not Found: no such endpoint",
            peer.url()
        )
    );
}

#[test]
fn exit_5_when_the_connection_drops_without_a_close() {
    let peer = Peer::ws(|ws, seen| {
        record(ws, seen);
        // Dropping the socket without a Close frame.
    });
    let out = run(connect(&peer.url(), &["-w", "-1"]), b"x\n");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(
        out.stderr.contains("without a Close frame (1006)"),
        "{}",
        out.stderr
    );
}

/// Writes a frame by hand: what a broken server might send.
fn raw_frame(tcp: &mut std::net::TcpStream, first: u8, payload: &[u8]) {
    let mut frame = vec![first];
    if payload.len() < 126 {
        frame.push(payload.len() as u8);
    } else {
        frame.push(126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(payload);
    tcp.write_all(&frame).unwrap();
}

/// A peer that completes the handshake, then hands the raw socket to `f`.
fn raw_peer<F>(f: F) -> Peer
where
    F: FnOnce(&mut std::net::TcpStream, &std::sync::mpsc::Sender<Seen>) + Send + 'static,
{
    Peer::tcp(move |tcp, seen| {
        let ws = tungstenite::accept(tcp).expect("handshake");
        let mut tcp = ws.into_inner();
        f(&mut tcp, seen);
    })
}

/// Reads the first frame the client sent back and reports its close code.
fn read_close_code(tcp: &mut std::net::TcpStream, seen: &std::sync::mpsc::Sender<Seen>) {
    let mut ws = tungstenite::WebSocket::from_raw_socket(
        Box::new(tcp.try_clone().unwrap()) as Box<dyn support::Io>,
        tungstenite::protocol::Role::Server,
        None,
    );
    record_until_end(&mut ws, seen);
}

#[test]
fn exit_5_on_a_protocol_error_with_close_1002() {
    let peer = raw_peer(|tcp, seen| {
        raw_frame(tcp, 0x83, b"x"); // reserved data opcode 3
        read_close_code(tcp, seen);
    });
    let out = run(connect(&peer.url(), &["-w", "-1"]), b"");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(
        out.stderr.starts_with("wsx: protocol error"),
        "{}",
        out.stderr
    );
    assert_eq!(peer.next(), Seen::Close(1002, String::new()));
}

#[test]
fn exit_5_on_invalid_utf8_with_close_1007() {
    let peer = raw_peer(|tcp, seen| {
        raw_frame(tcp, 0x81, b"\xff\xfe");
        read_close_code(tcp, seen);
    });
    let out = run(connect(&peer.url(), &["-w", "-1"]), b"");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(out.stderr.contains("invalid UTF-8"), "{}", out.stderr);
    assert_eq!(peer.next(), Seen::Close(1007, String::new()));
}

#[test]
fn exit_5_on_a_message_over_the_limit_with_close_1009() {
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("x".repeat(100))).unwrap();
        record_until_end(ws, seen);
    });
    let out = run(
        connect(&peer.url(), &["-w", "-1", "--max-message-size", "10"]),
        b"",
    );
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(out.stderr.contains("message too big"), "{}", out.stderr);
    assert_eq!(peer.next(), Seen::Close(1009, String::new()));
}

#[test]
fn exit_5_when_our_close_gets_no_answer() {
    let peer = raw_peer(|tcp, _| {
        // Read what comes, answer nothing, until wsx hangs up.
        let mut buf = [0; 1024];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    let out = run(
        connect(&peer.url(), &["-w", "0", "--close-timeout", "0.3"]),
        b"x\n",
    );
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "wsx: no answer to our Close within 0.3s"
    );
}

#[test]
fn exit_6_when_the_peer_closes_with_another_code() {
    let peer = Peer::ws(|ws, seen| {
        close_with(ws, 4001, "bad token");
        record_until_end(ws, seen);
    });
    let out = run(connect(&peer.url(), &["-w", "-1"]), b"");
    assert_eq!(out.code, Some(6), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "wsx: the server closed the connection: 4001 \"bad token\""
    );
}

#[test]
fn exit_0_when_the_peer_closes_normally() {
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("bye")).unwrap();
        close_with(ws, 1001, "");
        record_until_end(ws, seen);
    });
    let out = run(connect(&peer.url(), &["-w", "-1"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "bye\n");
}

#[cfg(windows)]
#[test]
#[ignore = "needs a real Windows console: Wine 8 fails GenerateConsoleCtrlEvent (run with --ignored there)"]
fn ctrl_break_closes_gracefully_as_ctrl_c_does() {
    use std::os::windows::process::CommandExt;
    use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
    use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("ready")).unwrap();
        record_until_end(ws, seen);
    });
    // Console events travel between processes sharing a console: wsx inherits the test's.
    let mut cmd = connect(&peer.url(), &["-w", "-1"]);
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP);
    let (child, _stdout, line) = first_line(cmd, Stdio::piped());
    assert_eq!(line, "ready\n", "the session is running");
    // SAFETY: sends Ctrl-Break to the process group that wsx leads.
    let sent = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, child.id()) };
    assert_ne!(
        sent,
        0,
        "GenerateConsoleCtrlEvent {:?}",
        std::io::Error::last_os_error()
    );
    assert_eq!(peer.next(), normal_close(), "Ctrl-Break closes gracefully");
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[cfg(unix)] // signals; Windows has its own test of Ctrl-Break
#[test]
fn exit_130_on_a_second_interrupt_while_closing() {
    let peer = raw_peer(|tcp, seen| {
        raw_frame(tcp, 0x81, b"ready");
        // Report what wsx sends but never answer its Close.
        let mut ws = tungstenite::WebSocket::from_raw_socket(
            Box::new(tcp.try_clone().unwrap()) as Box<dyn support::Io>,
            tungstenite::protocol::Role::Server,
            None,
        );
        let _ = record(&mut ws, seen);
        let mut buf = [0; 64];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    let cmd = connect(&peer.url(), &["-w", "-1", "--close-timeout", "30"]);
    let (child, _stdout, line) = first_line(cmd, Stdio::piped());
    let pid = child.id();
    assert_eq!(line, "ready\n", "the session is running");
    support::interrupt(pid);
    assert_eq!(
        peer.next(),
        normal_close(),
        "the first Ctrl-C closes gracefully"
    );
    support::interrupt(pid);
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert_eq!(out.stderr.trim_end(), "wsx: interrupted");
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let peer = Peer::ws(|ws, seen| {
        for i in 0..100_000 {
            if ws.send(Message::text(format!("flood {i}"))).is_err() {
                break;
            }
        }
        record_until_end(ws, seen);
    });
    let (child, stdout, _line) = first_line(connect(&peer.url(), &["-w", "-1"]), Stdio::null());
    drop(stdout); // like `| head -1`
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
}

/// A peer that sends 1 KiB text messages as fast as wsx takes them, until the connection
/// breaks (`total: None`) or `total` have gone (then it closes normally); counts what it sent.
#[cfg(unix)] // its tests need a pipe's fill level or a Unix socket
fn flooding_peer(total: Option<usize>) -> (Peer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let peer = Peer::ws(move |ws, seen| {
        for i in 0..total.unwrap_or(usize::MAX) {
            let message = format!("{i:08}{}", "x".repeat(1016));
            if ws.send(Message::text(message)).is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
        close_with(ws, 1000, "");
        record_until_end(ws, seen);
    });
    (peer, sent)
}

#[cfg(target_os = "linux")]
#[test]
fn a_stopped_reader_holds_the_peer_back_and_ctrl_c_still_acts() {
    let (peer, sent) = flooding_peer(None);
    let cmd = connect(&peer.url(), &["-w", "-1", "--close-timeout", "1"]);
    let (child, stdout, _first) = first_line(cmd, Stdio::piped());
    // Nobody reads stdout from here on.
    support::wait_until_filling(stdout.get_ref());
    support::interrupt(child.id());
    // Within the close timeout, though stdout never drains; what it would not take is lost,
    // and the status says the run was interrupted.
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert!(
        out.stderr.contains("bytes of output were not written"),
        "{}",
        out.stderr
    );
    // Backpressure, not memory: the peer could not send much more than the buffers hold.
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 32 * 1024, "the peer sent {sent} KiB");
    drop(stdout);
}

#[cfg(target_os = "linux")]
#[test]
fn output_held_back_by_a_slow_reader_arrives_whole_and_in_order() {
    let total = 8000;
    let (peer, _sent) = flooding_peer(Some(total));
    let cmd = connect(&peer.url(), &["-w", "-1"]);
    let (child, stdout, first) = first_line(cmd, Stdio::piped());
    support::wait_until_filling(stdout.get_ref());
    let rest = support::within(child.id(), "reading the rest", move || {
        let mut rest = String::new();
        let mut stdout = stdout;
        stdout.read_to_string(&mut rest).map(|_| rest)
    })
    .unwrap();
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = std::iter::once(first.trim_end())
        .chain(rest.lines())
        .collect();
    assert_eq!(lines.len(), total);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line[..8], format!("{i:08}"), "line {i} in order");
        assert_eq!(line.len(), 1024, "line {i} whole");
    }
}

#[cfg(unix)]
#[test]
fn output_to_a_socket_arrives_whole_and_in_order() {
    // A socket on stdout is written by a thread (only a pipe can be reopened non-blocking).
    let total = 4000;
    let (peer, _sent) = flooding_peer(Some(total));
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let child = connect(&peer.url(), &["-w", "-1"])
        .stdin(Stdio::null())
        .stdout(std::os::fd::OwnedFd::from(theirs))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        ours.read_to_string(&mut all).map(|_| all)
    });
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let all = reader.join().unwrap().unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), total);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line[..8], format!("{i:08}"), "line {i} in order");
    }
}

#[test]
fn echo_sends_every_message_back_as_it_came() {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let expected = big.clone();
    let peer = Peer::ws(move |ws, seen| {
        ws.send(Message::text("héllo")).unwrap();
        ws.send(Message::binary(vec![0u8, 255, 10, 13])).unwrap();
        ws.send(Message::binary(big)).unwrap();
        // One text message in three fragments, split inside a UTF-8 sequence.
        let parts: [(&[u8], OpCode, bool); 3] = [
            (b"frag", OpCode::Data(Data::Text), false),
            (b"ment\xc3", OpCode::Data(Data::Continue), false),
            (b"\xa9d", OpCode::Data(Data::Continue), true),
        ];
        for (data, opcode, fin) in parts {
            ws.write(Message::Frame(Frame::message(data.to_vec(), opcode, fin)))
                .unwrap();
        }
        ws.flush().unwrap();
        for _ in 0..4 {
            record(ws, seen);
        }
        close_with(ws, 1000, "");
        record_until_end(ws, seen);
    });
    let cmd = connect(
        &peer.url(),
        &["--echo", "-w", "-1", "--binary-output", "hex"],
    );
    let out = without_stdin(cmd);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let seen = peer.all();
    assert_eq!(seen[0], text("héllo"));
    assert_eq!(seen[1], Seen::Binary(vec![0, 255, 10, 13]));
    assert_eq!(seen[2], Seen::Binary(expected), "1 MiB, byte for byte");
    assert_eq!(seen[3], text("fragmentéd"));
    // Received messages are still shown.
    assert!(out.stdout_text().starts_with("héllo\n00 ff 0a 0d\n"));
    assert!(out.stdout_text().ends_with("fragmentéd\n"));
}

#[test]
fn until_exits_0_at_the_first_matching_message_after_printing_it() {
    // The issue's example: subscribe, wait for the snapshot, bounded by --max-time.
    let peer = Peer::ws(|ws, seen| {
        let subscribe = record(ws, seen);
        assert_eq!(subscribe, Some(Message::text(r#"{"op":"subscribe"}"#)));
        ws.send(Message::text(r#"{"type":"ack"}"#)).unwrap();
        ws.send(Message::text(r#"{"type":"snapshot","n":1}"#))
            .unwrap();
        // Sent before wsx's Close can arrive: not printed, as with --count.
        ws.send(Message::text(r#"{"type":"update"}"#)).unwrap();
        record_until_end(ws, seen);
    });
    let args = [
        "-x",
        r#"{"op":"subscribe"}"#,
        "--until",
        r#""type":"snapshot""#,
        "--max-time",
        "10",
    ];
    let out = without_stdin(connect(&peer.url(), &args));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout_text(),
        "{\"type\":\"ack\"}\n{\"type\":\"snapshot\",\"n\":1}\n"
    );
    assert_eq!(peer.all()[1], normal_close(), "a clean close");
}

#[test]
fn max_time_closes_cleanly_and_exits_7() {
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("hello")).unwrap();
        record_until_end(ws, seen);
    });
    let out = without_stdin(connect(&peer.url(), &["-w", "-1", "-m", "0.3"]));
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "hello\n");
    assert_eq!(
        out.stderr.trim_end(),
        "wsx: timed out after 0.3s (--max-time)"
    );
    assert_eq!(peer.all()[..1], [normal_close()], "a clean close");
}

#[test]
fn max_time_bounds_connecting_too() {
    // A server that accepts the connection and never answers the handshake.
    let peer = Peer::tcp(|mut tcp, _| {
        let mut buf = [0; 1024];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    let out = run(connect(&peer.url(), &["--max-time", "0.3"]), b"");
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("wsx: timed out after 0.3s (--max-time) connecting"),
        "{}",
        out.stderr
    );
}

#[test]
fn json_is_coloured_and_pretty_printed_in_human_format() {
    let json = r#"{"type":"snapshot","n":-1.5e3,"ok":true,"tags":["a\u001b"],"none":null}"#;
    let peer = || {
        Peer::ws(move |ws, seen| {
            ws.send(Message::text(json)).unwrap();
            ws.send(Message::text("[not json")).unwrap();
            record_until_end(ws, seen);
        })
    };
    // --count 2: both messages arrive before the close, whatever the timing.
    let human = ["--count", "2", "--format", "human", "--timestamps", "none"];
    // Colour forced on into a pipe: the exact bytes.
    let p = peer();
    let mut cmd = connect(&p.url(), &human);
    cmd.env("CLICOLOR_FORCE", "1");
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = out.stdout_text().lines().nth(1).unwrap().to_string();
    // Keys blue, strings green, numbers yellow, literals magenta.
    let (k, s, n, l, r) = ("\x1b[34m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[0m");
    let expected = format!(
        "\x1b[1;32m<\x1b[0m {{{k}\"type\"{r}:{s}\"snapshot\"{r},{k}\"n\"{r}:{n}-1.5e3{r},{k}\"ok\"{r}:{l}true{r},{k}\"tags\"{r}:[{s}\"a\\u001b\"{r}],{k}\"none\"{r}:{l}null{r}}}"
    );
    assert_eq!(line, expected);
    assert!(
        out.stdout_text().contains("[not json\n"),
        "{}",
        out.stdout_text()
    );

    // --pretty, no colour: continuation lines under the payload column.
    let p = peer();
    let args = [&human[..], &["--pretty"]].concat();
    let out = run(connect(&p.url(), &args), b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let expected = "< {\n    \"type\": \"snapshot\",\n    \"n\": -1.5e3,\n    \"ok\": true,\n    \"tags\": [\n      \"a\\u001b\"\n    ],\n    \"none\": null\n  }\n< [not json\n";
    assert!(
        out.stdout_text().contains(expected),
        "{}",
        out.stdout_text()
    );

    // raw output is the payload as it came.
    let p = peer();
    let out = run(connect(&p.url(), &["--count", "2", "--pretty"]), b"");
    assert_eq!(out.stdout_text(), format!("{json}\n[not json\n"));
}

#[test]
fn file_sends_a_file_as_one_message_in_a_pipe_with_slash() {
    let dir = tempfile::tempdir().unwrap();
    let words = dir.path().join("text.txt");
    std::fs::write(&words, "two\nlines\n").unwrap();
    let bytes = dir.path().join("bytes.bin");
    std::fs::write(&bytes, [0u8, 0xff, 0x10]).unwrap();
    let peer = Peer::echo();
    let input = format!(
        "/file {}\n/file {}\n/file -b {}\n/file {}/missing\nafter\n",
        words.display(),
        bytes.display(),
        words.display(),
        dir.path().display()
    );
    let args = ["-w", "0", "--slash", "--binary-output", "hex"];
    let out = run(connect(&peer.url(), &args), input.as_bytes());
    assert_eq!(
        peer.all()[..4],
        [
            text("two\nlines\n"),
            Seen::Binary(vec![0, 0xff, 0x10]),
            Seen::Binary(b"two\nlines\n".to_vec()),
            text("after"),
        ]
    );
    // A file that cannot be read is not sent, is reported, and makes the run a failure.
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("missing: "), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 input line was not sent"),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_file_that_is_slow_to_read_does_not_stall_the_connection() {
    // /file of a FIFO that nobody writes yet: reading it blocks until a writer comes. wsx
    // keeps serving the connection meanwhile (a ping is answered), then sends the file's
    // contents and the lines after it, in order.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (pong_tx, pong) = std::sync::mpsc::channel();
    let peer = Peer::ws(move |ws, seen| {
        assert_eq!(record(ws, seen), Some(Message::Text("before".into())));
        ws.send(Message::Ping(b"alive?".to_vec().into())).unwrap();
        loop {
            match record(ws, seen) {
                Some(Message::Pong(p)) => {
                    let _ = pong_tx.send(p.to_vec());
                    break;
                }
                Some(_) => {}
                None => return,
            }
        }
        record_until_end(ws, seen);
    });
    let input = format!("before\n/file {}\nafter\n", fifo.display());
    let mut child = connect(&peer.url(), &["-w", "0", "--slash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsx");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let pong = pong.recv_timeout(support::PATIENCE);
    if pong.is_err() {
        support::kill(child.id());
    }
    assert_eq!(pong.expect("the pong, while the file is read"), b"alive?");
    // Now the file arrives.
    std::fs::write(&fifo, "from the fifo").unwrap();
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let seen = peer.all();
    let texts: Vec<&Seen> = seen.iter().filter(|s| matches!(s, Seen::Text(_))).collect();
    assert_eq!(
        texts,
        [&text("before"), &text("from the fifo"), &text("after")]
    );
}

#[test]
fn a_stderr_that_nobody_reads_does_not_stall_the_connection() {
    // 20,000 lines that cannot be sent: each gets a notice on stderr, far more than a pipe
    // holds. Nobody reads stderr until the peer has the line after them.
    let (got_tx, got) = std::sync::mpsc::channel();
    let peer = Peer::ws(move |ws, seen| loop {
        match record(ws, seen) {
            Some(Message::Text(t)) if t.as_str() == "last" => {
                let _ = got_tx.send(());
            }
            Some(_) => {}
            None => return,
        }
    });
    let mut input = b"first\n".to_vec();
    for _ in 0..20_000 {
        input.extend_from_slice(b"\xff\n");
    }
    input.extend_from_slice(b"last\n");
    let mut child = connect(&peer.url(), &["-w", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsx");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let arrived = got.recv_timeout(support::PATIENCE);
    if arrived.is_err() {
        support::kill(child.id());
    }
    arrived.expect("the last line, with stderr unread");
    let _ = writer.join();
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .ends_with("wsx: 20000 input lines were not sent\n"),
        "{}",
        &out.stderr[out.stderr.len().saturating_sub(300)..]
    );
    assert!(out.stderr.contains("stdin line 2: not valid UTF-8"));
}

#[test]
fn stdin_from_a_regular_file_is_read_to_the_end() {
    // A regular file cannot be polled: wsx reads it on a thread instead.
    let peer = Peer::echo();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.txt");
    let input: String = (0..5000).map(|i| format!("file line {i}\n")).collect();
    std::fs::write(&path, &input).unwrap();
    let mut cmd = connect(&peer.url(), &["-w", "0"]);
    cmd.stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = support::finish(cmd.spawn().unwrap(), b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), input);
    assert_eq!(peer.all().len(), 5002, "5000 lines, the close, the end");
}

#[test]
fn stdin_from_dev_null_sends_only_the_execute_messages() {
    let peer = Peer::echo();
    let out = without_stdin(connect(&peer.url(), &["-w", "0", "-x", "only"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "only\n");
    assert_eq!(peer.all()[..2], [text("only"), normal_close()]);
}

#[cfg(target_os = "linux")] // measures the pipe with FIONREAD
#[test]
fn a_slow_reader_gets_every_line_and_wsx_stops_reading_stdin_meanwhile() {
    // The peer does not read until told, so wsx's socket fills up. wsx must then stop reading
    // stdin (backpressure): the pipe into it fills, where reading on into memory would keep
    // it empty. Then every line arrives, in order.
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let peer = Peer::ws(move |ws, seen| {
        let _ = go.recv_timeout(support::PATIENCE);
        record_until_end(ws, seen);
    });
    let line = "y".repeat(1000);
    let input: String = (0..20_000).map(|i| format!("{i} {line}\n")).collect();
    let mut cmd = connect(&peer.url(), &["-w", "0"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A second handle on the pipe, to measure it; dropped before the writer finishes, so that
    // wsx still sees the end of its input.
    let probe = std::os::fd::AsFd::as_fd(&stdin)
        .try_clone_to_owned()
        .unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    support::wait_until_full(&probe);
    drop(probe);
    go_tx.send(()).unwrap();
    let out = support::finish(child, b"");
    writer.join().unwrap().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let seen = peer.all();
    assert_eq!(seen.len(), 20_002, "20000 lines, the close, the end");
    assert_eq!(seen[19_999], text(&format!("19999 {line}")));
}

/// Bytes that lines would mangle: both line endings, a lone `\r`, invalid UTF-8, a NUL.
fn awkward_bytes(len: usize) -> Vec<u8> {
    let pattern = b"line\r\nnext\nlone\r\xff\xfe\x00";
    pattern.iter().copied().cycle().take(len).collect()
}

#[test]
fn stream_sends_stdin_as_bytes_and_writes_payloads_exactly() {
    // --stream: each read of stdin is one binary frame, nothing split or stripped; what the
    // peer sends is written to stdout with nothing added, text and binary alike.
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("text\r")).unwrap();
        ws.send(Message::binary(vec![0, 1, b'\n'])).unwrap();
        record_until_end(ws, seen);
    });
    let input = awkward_bytes(100_000);
    let out = run(connect(&peer.url(), &["-w", "0", "--stream"]), &input);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, b"text\r\x00\x01\n");
    let mut sent = Vec::new();
    for seen in peer.all() {
        match seen {
            Seen::Binary(bytes) => sent.extend(bytes),
            Seen::Close(code, _) => assert_eq!(code, 1000),
            Seen::Gone(_) => {}
            other => panic!("--stream sent {other:?}"),
        }
    }
    assert!(sent == input, "the bytes sent differ from stdin");
}

#[test]
fn stream_round_trips_a_mebibyte_through_an_echo_server() {
    let peer = Peer::echo();
    let input = awkward_bytes(1 << 20);
    let out = run(connect(&peer.url(), &["--stream"]), &input);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout == input, "stdout differs from what was echoed");
}

#[test]
fn stream_refuses_flags_about_lines_and_formats() {
    for flag in [
        &["--format", "human"][..],
        &["--binary"],
        &["--slash"],
        &["--echo"],
    ] {
        let mut args = vec!["--stream"];
        args.extend_from_slice(flag);
        let out = run(connect("ws://127.0.0.1:9/", &args), b"");
        assert_eq!(out.code, Some(2), "{flag:?}: {}", out.stderr);
        assert!(out.stderr.contains("--stream"), "{}", out.stderr);
    }
}

/// With stdout on `/dev/null` nothing is rendered (a 16 KiB message was a copy for nothing),
/// but the session is the same: every line sent, every message recorded, a clean exit.
#[cfg(unix)]
#[test]
fn stdout_on_dev_null_renders_nothing_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let peer = Peer::echo();
    let mut cmd = wsx();
    // The linger is what lets the echoes in before the close.
    cmd.args(["connect", &peer.url(), "-w", "1", "--record"])
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = support::finish(cmd.spawn().unwrap(), b"one\ntwo\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(peer.next(), Seen::Text("one".into()));
    assert_eq!(peer.next(), Seen::Text("two".into()));
    let text = std::fs::read_to_string(&file).unwrap();
    for line in ["one", "two"] {
        let echo = format!(r#""dir":"in","type":"text","data":"{line}""#);
        assert!(text.contains(&echo), "{text}");
    }
}
