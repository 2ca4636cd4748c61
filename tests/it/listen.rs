//! `wsx listen`: many clients, broadcast, echo, chat, --exec, the handshake policy, TLS, bad
//! clients that must not hurt good ones, and shutdown. Driven by in-process tungstenite
//! clients and raw TCP sockets on 127.0.0.1.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{next_close, next_text, Server, PATIENCE};
use tungstenite::Message;

fn text(ws: &mut tungstenite::WebSocket<TcpStream>, s: &str) {
    ws.send(Message::text(s)).expect("sending");
}

#[test]
fn binds_loopback_port_0_and_announces_the_real_port() {
    let server = Server::start(&[]);
    assert!(server.url.starts_with("ws://127.0.0.1:"), "{}", server.url);
    assert_ne!(server.port, 0);
}

#[test]
fn operator_lines_go_to_every_client() {
    let mut server = Server::start(&[]);
    let mut a = server.client();
    server.expect_stdout("#1 connected from 127.0.0.1:");
    let mut b = server.client();
    server.expect_stdout("#2 connected from 127.0.0.1:");
    server.type_line("hello all");
    assert_eq!(next_text(&mut a), "hello all");
    assert_eq!(next_text(&mut b), "hello all");
    text(&mut b, "from two");
    server.expect_stdout("#2 < from two");
}

#[test]
fn echo_sends_each_frame_back_to_its_sender() {
    let mut server = Server::start(&["--echo"]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    let mut b = server.client();
    text(&mut a, "ping a");
    text(&mut b, "ping b");
    assert_eq!(next_text(&mut a), "ping a");
    assert_eq!(next_text(&mut b), "ping b");
    a.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(a.read().unwrap(), Message::binary(vec![1, 2, 3]));
    server.expect_stdout("#1 < [binary 3 B] 01 02 03");
}

#[test]
fn chat_relays_to_everyone_but_the_sender() {
    let mut server = Server::start(&["--chat"]);
    let mut a = server.client();
    let mut b = server.client();
    let mut c = server.client();
    server.expect_stdout("#3 connected");
    text(&mut a, "from a");
    assert_eq!(next_text(&mut b), "from a");
    assert_eq!(next_text(&mut c), "from a");
    text(&mut b, "from b");
    // a's next message is b's: it never got its own back.
    assert_eq!(next_text(&mut a), "from b");
    assert_eq!(next_text(&mut c), "from b");
}

#[test]
fn to_kick_and_clients_commands() {
    let mut server = Server::start(&["--slash"]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    let mut b = server.client();
    server.expect_stdout("#2 connected");
    server.type_line("/clients");
    server.expect_stderr("#1 127.0.0.1:");
    server.expect_stderr("#2 127.0.0.1:");
    server.type_line("/to 2 just you");
    assert_eq!(next_text(&mut b), "just you");
    server.type_line("/kick 1 4000 bye");
    assert_eq!(next_close(&mut a), 4000);
    server.expect_stdout("#1 disconnected");
    server.type_line("/to 9 nobody");
    server.expect_stderr("no client #9");
    server.type_line("everyone");
    assert_eq!(next_text(&mut b), "everyone");
}

#[test]
fn ping_goes_to_all_and_pongs_show_the_round_trip() {
    let mut server = Server::start(&["--slash"]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    server.type_line("/ping hey");
    // tungstenite answers the ping while we read; the next text proves it was processed.
    server.type_line("after");
    assert_eq!(next_text(&mut a), "after");
    let line = server.expect_stdout("#1 < [pong] hey (");
    assert!(line.ends_with(" ms)"), "{line}");
}

#[cfg(unix)]
#[test]
fn exec_runs_a_program_per_client() {
    let script = "echo hello $WSX_CLIENT_ID; while read line; do echo \"got $line\"; done";
    let mut server = Server::start(&["--exec", script]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    let mut b = server.client();
    assert_eq!(next_text(&mut a), "hello 1");
    assert_eq!(next_text(&mut b), "hello 2");
    text(&mut a, "one");
    text(&mut b, "two");
    assert_eq!(next_text(&mut a), "got one");
    assert_eq!(next_text(&mut b), "got two");
    server.expect_stdout("#1 > got one");
}

#[cfg(target_os = "linux")] // reads /proc
#[test]
fn exec_program_exit_closes_the_client_and_stderr_is_tagged() {
    let mut server = Server::start(&["--exec", "echo oops >&2; read line; echo \"last: $line\""]);
    let mut a = server.client();
    server.expect_stderr("#1 oops");
    assert_eq!(
        server.children().len(),
        1,
        "the program, waiting for its line"
    );
    text(&mut a, "x");
    assert_eq!(next_text(&mut a), "last: x");
    assert_eq!(next_close(&mut a), 1000);
    server.expect_stdout("#1 disconnected: its program ended");
    support::eventually("the program is reaped", || server.children().is_empty());
}

#[cfg(target_os = "linux")] // reads /proc
#[test]
fn exec_client_leaving_ends_the_program_without_zombies() {
    let mut server = Server::start(&["--exec", "sleep 600"]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    assert_eq!(server.children().len(), 1, "one program for one client");
    a.close(None).unwrap();
    server.expect_stdout("#1 disconnected");
    support::eventually("the program is killed and reaped", || {
        server.children().is_empty()
    });
}

/// Whether process `pid` runs (exists and is not a zombie).
#[cfg(target_os = "linux")]
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[cfg(target_os = "linux")] // reads /proc
#[test]
fn exec_client_leaving_ends_what_the_program_started_too() {
    // The program starts a background job and waits: the job must not outlive the client.
    let mut server = Server::start(&["--exec", "sleep 600 & echo $!; wait"]);
    let mut a = server.client();
    let job = next_text(&mut a);
    assert!(alive(&job), "the background job {job} runs");
    a.close(None).unwrap();
    server.expect_stdout("#1 disconnected");
    support::eventually("the job outlived its client", || !alive(&job));
}

#[cfg(target_os = "linux")] // reads /proc
#[test]
fn exec_a_program_that_ignores_sigterm_is_killed_after_the_grace() {
    let mut server = Server::start(&["--exec", "trap '' TERM; sleep 600 & echo $!; wait"]);
    let mut a = server.client();
    let job = next_text(&mut a);
    assert_eq!(server.children().len(), 1, "the program runs");
    a.close(None).unwrap();
    server.expect_stdout("#1 disconnected");
    support::eventually("the job ignoring SIGTERM was killed", || !alive(&job));
    support::eventually("the program is reaped", || server.children().is_empty());
}

#[cfg(windows)]
#[test]
fn exec_runs_the_program_with_cmd() {
    // `cmd /C` gets the command line as typed; the program's exit closes the client.
    let mut server = Server::start(&["--exec", "echo hello %WSX_CLIENT_ID%& echo bye"]);
    let mut a = server.client();
    assert_eq!(next_text(&mut a), "hello 1");
    assert_eq!(next_text(&mut a), "bye");
    assert_eq!(next_close(&mut a), 1000);
    server.expect_stdout("#1 disconnected: its program ended");
}

#[test]
fn subprotocol_negotiation_picks_the_servers_first_choice_the_client_wants() {
    let mut server = Server::start(&["-s", "v2", "-s", "v1"]);
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(server.url.as_str()).unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "v1, v2".parse().unwrap());
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let (_ws, response) = tungstenite::client(request, tcp).unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2");
    server.expect_stdout("#1 connected from 127.0.0.1:");
}

/// Sends a raw HTTP request and returns the status line of the answer.
fn raw_request(port: u16, request: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    // Read the response head only: after a 101 the connection stays open.
    support::read_head(&mut tcp)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn upgrade(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[test]
fn plain_http_gets_426_and_the_server_keeps_serving() {
    let mut server = Server::start(&["--echo"]);
    assert_eq!(
        raw_request(server.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        "HTTP/1.1 426 Upgrade Required"
    );
    server.expect_stderr("not a WebSocket request (GET /) (426)");
    let mut a = server.client();
    text(&mut a, "still here");
    assert_eq!(next_text(&mut a), "still here");
}

#[test]
fn origin_allow_list() {
    let server = Server::start(&["--origin", "http://localhost:3000"]);
    assert_eq!(
        raw_request(server.port, &upgrade("Origin: http://evil.example\r\n")),
        "HTTP/1.1 403 Forbidden"
    );
    let ok = raw_request(server.port, &upgrade("Origin: http://localhost:3000\r\n"));
    assert_eq!(ok, "HTTP/1.1 101 Switching Protocols");
    assert_eq!(
        raw_request(server.port, &upgrade("")),
        "HTTP/1.1 101 Switching Protocols"
    );
}

#[test]
fn basic_auth_is_required() {
    let server = Server::start(&["--auth", "alice:s3cret"]);
    assert_eq!(
        raw_request(server.port, &upgrade("")),
        "HTTP/1.1 401 Unauthorized"
    );
    // "alice:s3cret" in base64.
    let ok = raw_request(
        server.port,
        &upgrade("Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
    );
    assert_eq!(ok, "HTTP/1.1 101 Switching Protocols");
}

#[test]
fn max_clients_turns_the_next_one_away_with_503() {
    let mut server = Server::start(&["--max-clients", "1"]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    assert_eq!(
        raw_request(server.port, &upgrade("")),
        "HTTP/1.1 503 Service Unavailable"
    );
    a.close(None).unwrap();
    server.expect_stdout("#1 disconnected");
    let _b = server.client(); // the place is free again
    server.expect_stdout("#2 connected");
}

/// A client that completed the handshake by hand, for sending broken frames.
fn raw_client(port: u16) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.write_all(upgrade("").as_bytes()).unwrap();
    let head = support::read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A masked client frame: `first` is FIN/opcode, then the payload with a zero mask.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads the Close frame the server sends back and returns its code.
fn close_code(tcp: &mut TcpStream) -> u16 {
    let mut header = [0u8; 2];
    tcp.read_exact(&mut header)
        .expect("a frame from the server");
    assert_eq!(header[0] & 0x0f, 8, "a Close frame");
    let mut body = vec![0u8; usize::from(header[1] & 0x7f)];
    tcp.read_exact(&mut body).unwrap();
    u16::from_be_bytes([body[0], body[1]])
}

#[test]
fn bad_clients_get_the_rfc_close_code_and_good_ones_are_unaffected() {
    let mut server = Server::start(&["--echo", "--max-message-size", "1000"]);
    let mut good = server.client();
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("an unmasked frame", vec![0x81, 0x02, b'h', b'i'], 1002),
        ("invalid UTF-8", masked(0x81, b"\xff\xfe"), 1007),
        ("an oversized ping", masked(0x89, &[0u8; 126]), 1002),
        ("a reserved opcode", masked(0x83, b"x"), 1002),
        ("a message over the limit", masked(0x82, &[7u8; 2000]), 1009),
    ];
    for (what, frame, code) in cases {
        let mut bad = raw_client(server.port);
        bad.write_all(&frame).unwrap();
        assert_eq!(close_code(&mut bad), code, "{what}");
        text(&mut good, what);
        assert_eq!(next_text(&mut good), what, "the good client after {what}");
    }
    server.expect_stderr("closed with 1002");
    server.expect_stderr("closed with 1007");
    server.expect_stderr("closed with 1009");
}

#[test]
fn half_sent_handshakes_and_resets_do_not_stall_others() {
    let mut server = Server::start(&["--echo", "--handshake-timeout", "1"]);
    // Half a request, then silence: its own thread waits for it, nobody else does.
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n").unwrap();
    let mut good = server.client();
    text(&mut good, "not stalled");
    assert_eq!(next_text(&mut good), "not stalled");
    // A reset in the middle of a frame.
    let reset = raw_client(server.port);
    let mut half = masked(0x81, b"abcdef");
    half.truncate(5);
    (&reset).write_all(&half).unwrap();
    socket_linger_zero(&reset);
    drop(reset);
    text(&mut good, "still fine");
    assert_eq!(next_text(&mut good), "still fine");
    server.expect_stderr("no complete handshake within 1s");
}

/// Most requests are whole when their connection is accepted and are answered at once; one
/// that is not goes on on a handshake thread from the bytes already read.
#[test]
fn a_request_that_comes_in_pieces_is_answered_whole_with_the_frame_after_it() {
    let server = Server::start(&["--echo"]);
    let request = upgrade("");
    let (first, rest) = request.split_at(20);
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    slow.write_all(first.as_bytes()).unwrap();
    // Another client's echo: by then the server has accepted the slow one and read its start.
    let mut good = server.client();
    text(&mut good, "first");
    assert_eq!(next_text(&mut good), "first");
    // The rest of the request, and a frame in the same write.
    let mut bytes = rest.as_bytes().to_vec();
    bytes.extend(masked(0x81, b"after the request"));
    slow.write_all(&bytes).unwrap();
    let head = support::read_head(&mut slow);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut echo = [0u8; 2 + 17];
    slow.read_exact(&mut echo).unwrap();
    assert_eq!(&echo[..2], [0x81, 17]);
    assert_eq!(&echo[2..], b"after the request");
}

/// Makes closing the socket send a TCP RST instead of a FIN.
fn socket_linger_zero(tcp: &TcpStream) {
    socket2::SockRef::from(tcp)
        .set_linger(Some(std::time::Duration::ZERO))
        .expect("setting SO_LINGER");
}

#[cfg(unix)]
#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    let mut server = Server::start(&[]);
    let mut a = server.client();
    let mut b = server.client();
    server.expect_stdout("#2 connected");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.pid.to_string()])
        .status();
    assert_eq!(next_close(&mut a), 1001);
    assert_eq!(next_close(&mut b), 1001);
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn quit_command_shuts_down() {
    let mut server = Server::start(&["--slash"]);
    let mut a = server.client();
    server.expect_stdout("#1 connected");
    server.type_line("/quit");
    assert_eq!(next_close(&mut a), 1001);
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn stdin_eof_only_ends_operator_input() {
    let mut server = Server::start(&["--echo"]);
    server.close_stdin();
    let mut a = server.client();
    text(&mut a, "after eof");
    assert_eq!(next_text(&mut a), "after eof");
}

#[test]
fn once_exits_after_the_first_client_leaves() {
    let mut server = Server::start(&["--once", "--echo"]);
    let mut a = server.client();
    text(&mut a, "hi");
    assert_eq!(next_text(&mut a), "hi");
    a.close(None).unwrap();
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn a_client_that_does_not_read_is_closed_with_1008_and_others_keep_going() {
    let mut server = Server::start(&[]);
    // Ids follow the order in which handshakes finish: wait for #1 before the next one.
    let mut slow = server.client();
    server.expect_stdout("#1 connected");
    let mut fast = server.client();
    server.expect_stdout("#2 connected");
    let line = "z".repeat(4000);
    let (read_tx, read) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for n in 1..=5000 {
            assert_eq!(next_text(&mut fast).len(), 4000);
            if n % 100 == 0 {
                read_tx.send(n).unwrap();
            }
        }
    });
    // 20 MB in steps of 100 lines, each step read by the fast client before the next: it is
    // never far behind, while the silent one falls past the 8 MiB bound.
    for step in 1..=50 {
        for _ in 0..100 {
            server.type_line(&line);
        }
        assert_eq!(
            read.recv_timeout(PATIENCE)
                .expect("the fast client keeps up"),
            step * 100
        );
    }
    reader.join().unwrap();
    server.expect_stderr("#1 is not reading");
    assert_eq!(next_close(&mut slow), 1008, "whole frames, then the Close");
}

#[test]
fn one_large_message_is_not_taken_for_a_slow_client() {
    // 12 MiB, above the 8 MiB backlog bound, echoed to a client that reads it.
    let mut server = Server::start(&["--echo"]);
    let mut a = server.client();
    let big = "L".repeat(12 << 20);
    a.send(Message::text(big.clone())).unwrap();
    assert_eq!(next_text(&mut a).len(), big.len());
    a.send(Message::text(big.clone())).unwrap();
    assert_eq!(next_text(&mut a).len(), big.len());
    text(&mut a, "still here");
    assert_eq!(next_text(&mut a), "still here");
    a.close(None).unwrap();
    server.expect_stdout("#1 disconnected");
    assert!(!server.stderr_so_far().contains("not reading"));
}

#[test]
fn the_backlog_bound_is_an_option() {
    let mut server = Server::start(&["--max-backlog", "100000"]);
    let mut slow = server.client();
    server.expect_stdout("#1 connected");
    let line = "q".repeat(50_000);
    // 20 MB: the kernel's buffers take some first; then 100 kB wait in wsx, and the next
    // line finds the client too far behind.
    for _ in 0..400 {
        server.type_line(&line);
    }
    server.expect_stderr("(--max-backlog 100000); closed with 1008");
    assert_eq!(next_close(&mut slow), 1008);
}

#[cfg(unix)]
#[test]
fn out_of_file_descriptors_is_one_notice_and_accepting_resumes() {
    use std::os::unix::process::CommandExt;
    let mut cmd = support::wsx();
    cmd.args(["listen", "127.0.0.1:0", "--echo", "--timestamps", "none"]);
    // SAFETY: setrlimit is async-signal-safe; the child runs nothing else before exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = rustix::process::Rlimit {
                current: Some(32),
                maximum: Some(32),
            };
            rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)
                .map_err(std::io::Error::from)
        });
    }
    let mut server = Server::start_command(cmd);
    // Clients that connect and say nothing hold a descriptor each: more than are left.
    let silent: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    server.expect_stderr("wsx: out of file descriptors (the limit is 32: ulimit -n)");
    // They leave: descriptors free, and a new client is served without anyone's help.
    drop(silent);
    let mut a = server.client();
    text(&mut a, "back");
    assert_eq!(next_text(&mut a), "back");
    let notices = server
        .stderr_so_far()
        .matches("out of file descriptors")
        .count();
    assert_eq!(notices, 1, "one notice, no retry storm");
}

#[cfg(target_os = "linux")]
#[test]
fn a_stdout_nobody_reads_leaves_the_server_responsive_to_sigterm() {
    use std::process::Stdio;
    let mut child = support::wsx()
        .args(["listen", "127.0.0.1:0", "--close-timeout", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (mut stderr, ready) = support::read_line_within(child.id(), stderr);
    let url = ready
        .trim_end()
        .trim_start_matches("listening on ")
        .to_string();
    let (mut client, _) = tungstenite::connect(&url).unwrap();
    // Every message is shown on stdout, which nobody reads: the client is held back.
    let flood = std::thread::spawn(move || {
        let line = "f".repeat(1024);
        while client.send(Message::text(line.clone())).is_ok() {}
    });
    support::wait_until_filling(&stdout);
    support::terminate(child.id());
    let mut rest = String::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = stderr.read_to_string(&mut rest);
        let _ = tx.send(rest);
    });
    let status = support::wait_for_exit(&mut child);
    assert_eq!(status, Some(130), "interrupted, with output lost");
    let rest = rx.recv_timeout(PATIENCE).unwrap();
    assert!(rest.contains("bytes of output were not written"), "{rest}");
    flood.join().unwrap();
    drop(stdout);
}

#[test]
fn half_open_handshakes_are_bounded_and_a_good_client_is_still_served() {
    // Far more silent connections than the bound, with a handshake timeout longer than the
    // test's patience: only dropping the oldest lets the good client in.
    let mut server = Server::start(&[
        "--echo",
        "--max-handshakes",
        "4",
        "--handshake-timeout",
        "600",
    ]);
    let silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let mut good = server.client();
    text(&mut good, "served");
    assert_eq!(next_text(&mut good), "served");
    server.expect_stderr("wsx: 4 handshakes in progress (--max-handshakes)");
    let notices = server.stderr_so_far().matches("--max-handshakes").count();
    assert_eq!(notices, 1, "one notice for the episode");
    #[cfg(target_os = "linux")]
    {
        // The dropped handshakes' threads end at once: what stays is bounded.
        let threads = || {
            std::fs::read_to_string(format!("/proc/{}/status", server.pid))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Threads:"))
                        .and_then(|n| n.trim().parse::<usize>().ok())
                })
                .unwrap_or(0)
        };
        support::eventually("at most 4 handshake threads", || threads() <= 4 + 8);
    }
    drop(silent);
}

#[cfg(unix)] // under Wine, a server whose stderr reader is gone never answers: to be looked into
#[test]
fn a_closed_stderr_does_not_bring_the_server_down() {
    let mut child = support::wsx()
        .args(["listen", "127.0.0.1:0", "--echo"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (stderr, line) = support::read_line_within(child.id(), stderr);
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    drop(stderr); // nobody reads wsx's diagnostics any more: writing them fails
                  // A client breaking the protocol makes wsx report it on stderr.
    let mut bad = raw_client(port);
    bad.write_all(&[0x81, 0x02, b'h', b'i']).unwrap(); // unmasked
    let mut buf = [0u8; 64];
    let _ = bad.read(&mut buf); // its Close 1002
    let url = format!("ws://127.0.0.1:{port}/");
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let (mut good, _) = tungstenite::client(url.as_str(), tcp).unwrap();
    text(&mut good, "still serving");
    assert_eq!(next_text(&mut good), "still serving");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn binds_what_it_is_told() {
    let server = Server::start_with(&["listen", "0.0.0.0:0"], &[]);
    let mut a = server.client();
    a.close(None).unwrap();
    // IPv6 where the machine has it.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let mut cmd = support::wsx();
        cmd.args(["listen", "[::]:0"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (_stderr, line) = support::read_line_within(child.id(), stderr);
        assert!(line.starts_with("listening on ws://[::]:"), "{line}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn jsonl_events_carry_the_client_id() {
    let mut server = Server::start_with(
        &[
            "listen",
            "127.0.0.1:0",
            "--format",
            "jsonl",
            "--timestamps",
            "none",
        ],
        &["--echo"],
    );
    let mut a = server.client();
    let open = server.expect_stdout("\"type\":\"open\"");
    assert!(open.starts_with("{\"client\":1,\"dir\":\"in\",\"type\":\"open\",\"subprotocol\":null,\"extensions\":null,\"peer\":\"127.0.0.1:"), "{open}");
    text(&mut a, "hi");
    assert_eq!(
        server.expect_stdout("\"hi\""),
        "{\"client\":1,\"dir\":\"in\",\"type\":\"text\",\"data\":\"hi\"}"
    );
    a.close(Some(tungstenite::protocol::CloseFrame {
        code: 4001.into(),
        reason: "done".into(),
    }))
    .unwrap();
    assert_eq!(
        server.expect_stdout("\"close\""),
        "{\"client\":1,\"dir\":\"in\",\"type\":\"close\",\"code\":4001,\"reason\":\"done\"}"
    );
}

#[test]
fn raw_output_is_just_the_payloads() {
    let mut server = Server::start_with(&["listen", "127.0.0.1:0"], &[]);
    let mut a = server.client();
    text(&mut a, "payload one");
    text(&mut a, "payload two");
    assert_eq!(server.expect_stdout("payload"), "payload one");
    assert_eq!(server.expect_stdout("payload"), "payload two");
}

#[test]
fn wss_with_a_certificate_from_files() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    let server = Server::start(&[
        "--echo",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    // wsx connect, trusting the test CA, against wsx listen.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let mut cmd = support::wsx();
    cmd.args(["connect", &server.url.replace("127.0.0.1", "localhost")])
        .env("SSL_CERT_FILE", &ca);
    let out = support::run(cmd, b"over tls\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "over tls\n");
}

#[test]
fn sslkeylogfile_gets_the_secrets_of_a_real_handshake_on_both_sides() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (server_log, client_log) = (
        dir.path().join("server.keys"),
        dir.path().join("client.keys"),
    );
    let mut cmd = support::wsx();
    cmd.args(["listen", "127.0.0.1:0", "--echo", "--timestamps", "none"]);
    cmd.args([
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    cmd.env("SSLKEYLOGFILE", &server_log);
    let server = Server::start_command(cmd);
    let mut cmd = support::wsx();
    cmd.args(["connect", &server.url.replace("127.0.0.1", "localhost")])
        .env("SSL_CERT_FILE", &ca)
        .env("SSLKEYLOGFILE", &client_log);
    let out = support::run(cmd, b"secret\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secret\n");
    // NSS key log lines: LABEL CLIENT_RANDOM SECRET, the same on both sides.
    let lines = |path: &std::path::Path| -> Vec<String> {
        let text = std::fs::read_to_string(path).expect("the key log was written");
        text.lines().map(str::to_string).collect()
    };
    let (client, server_side) = (lines(&client_log), lines(&server_log));
    let traffic = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 "))
            .cloned()
            .unwrap_or_else(|| panic!("no traffic secret in {lines:?}"))
    };
    let line = traffic(&client);
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "{line}");
    assert_eq!(fields[1].len(), 64, "a 32-byte client random: {line}");
    assert!(fields[2].bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    assert_eq!(line, traffic(&server_side));
    // Without the variable, nothing is logged.
    let mut cmd = support::wsx();
    cmd.args(["connect", &server.url.replace("127.0.0.1", "localhost")])
        .env("SSL_CERT_FILE", &ca)
        .env_remove("SSLKEYLOGFILE");
    let before = lines(&server_log).len();
    let out = support::run(cmd, b"quiet\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(lines(&client_log).len(), client.len());
    // (The server still logs: its variable is set.)
    assert!(lines(&server_log).len() > before);
    // A log that cannot be opened (a folder) is a warning, and the run goes on.
    let mut cmd = support::wsx();
    cmd.args(["connect", &server.url.replace("127.0.0.1", "localhost")])
        .env("SSL_CERT_FILE", &ca)
        .env("SSLKEYLOGFILE", dir.path());
    let out = support::run(cmd, b"still\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "still\n");
    assert!(
        out.stderr.contains("wsx: warning: SSLKEYLOGFILE ")
            && out.stderr.contains("TLS secrets are not logged"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_bad_certificate_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let mut cmd = support::wsx();
    cmd.args([
        "listen",
        "0",
        "--tls-cert",
        junk.to_str().unwrap(),
        "--tls-key",
        junk.to_str().unwrap(),
    ]);
    let out = support::run(cmd, b"");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.starts_with("wsx: ") && out.stderr.contains("junk.pem"),
        "{}",
        out.stderr
    );
}

#[test]
fn connect_and_listen_chat_between_shells() {
    let mut server = Server::start(&["--chat", "--slash"]);
    let mut other = server.client();
    server.expect_stdout("#1 connected");
    let mut cmd = support::wsx();
    cmd.args(["connect", &server.url, "-w", "-1"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    server.expect_stdout("#2 connected");
    text(&mut other, "hello from #1");
    let out = std::thread::spawn(move || support::finish(child, b"hello from wsx connect\n"));
    assert_eq!(next_text(&mut other), "hello from wsx connect");
    other.close(None).unwrap();
    server.type_line("/quit");
    let out = out.join().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "hello from #1\n");
}

#[cfg(unix)]
#[test]
fn shutdown_waits_for_answers_at_most_the_close_timeout() {
    let mut server = Server::start(&["--close-timeout", "0.3"]);
    // A client that never answers the Close.
    let mut mute = raw_client(server.port);
    server.expect_stdout("#1 connected");
    let asked = std::time::Instant::now();
    support::interrupt(server.pid);
    // It is asked to close (1001, going away)...
    let mut frame = [0u8; 4];
    mute.read_exact(&mut frame).unwrap();
    assert_eq!(frame, [0x88, 0x02, 0x03, 0xe9]);
    // ...and, silent, is dropped when the close timeout passes: the server exits cleanly,
    // having waited that long, and not the 2 s default (nor for ever).
    assert_eq!(server.wait(), Some(0));
    let waited = asked.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(300)
            && waited < std::time::Duration::from_millis(1900),
        "waited {waited:?} for an answer that never came"
    );
    assert_eq!(mute.read(&mut frame).unwrap(), 0, "dropped");
}

#[test]
fn verbose_prints_each_request_with_credentials_redacted() {
    let mut server = Server::start(&["-v"]);
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(server.url.as_str()).unwrap();
    request
        .headers_mut()
        .insert("Authorization", "Basic c2VjcmV0".parse().unwrap());
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let _ws = tungstenite::client(request, tcp).unwrap();
    server.expect_stderr("> GET / HTTP/1.1");
    let line = server.expect_stderr("> authorization:");
    assert!(line.ends_with("[redacted]"), "{line}");
}

// wsx listen as a mock backend: --static, CGI variables, -H, --path, mutual TLS.

/// Sends a raw HTTP request to the server and returns the whole answer.
fn http(port: u16, request: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn static_serves_the_page_on_the_websocket_port() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<h1>chat</h1>").unwrap();
    std::fs::create_dir(site.path().join("js")).unwrap();
    std::fs::write(site.path().join("js").join("app.js"), "let x = 1;").unwrap();
    let secret = site.path().parent().unwrap().join("wsx-static-secret.txt");
    std::fs::write(&secret, "outside").unwrap();
    let server = Server::start(&["--echo", "--static", site.path().to_str().unwrap()]);
    let get = |path: &str| {
        http(
            server.port,
            &format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n"),
        )
    };

    let page = get("/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("Content-Type: text/html; charset=utf-8\r\n"),
        "{page}"
    );
    assert!(page.ends_with("\r\n\r\n<h1>chat</h1>"), "{page}");
    let script = get("/js/app.js?v=2");
    assert!(script.contains("Content-Type: text/javascript"), "{script}");
    assert!(script.contains("Content-Length: 10\r\n"), "{script}");
    assert!(get("/missing.css").starts_with("HTTP/1.1 404 Not Found\r\n"));
    for escape in [
        "/../wsx-static-secret.txt",
        "/%2e%2e/wsx-static-secret.txt",
        "/js/../../wsx-static-secret.txt",
    ] {
        let answer = get(escape);
        assert!(answer.starts_with("HTTP/1.1 404"), "{escape}: {answer}");
        assert!(!answer.contains("outside"), "{escape}");
    }
    let head = http(server.port, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Length: 13\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    let post = http(
        server.port,
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    // The WebSocket endpoint is the same port.
    let mut ws = server.client();
    text(&mut ws, "still a websocket server");
    assert_eq!(next_text(&mut ws), "still a websocket server");
    let _ = std::fs::remove_file(secret);
}

#[test]
fn without_static_a_plain_request_still_gets_426() {
    let server = Server::start(&[]);
    let answer = http(server.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{answer}"
    );
}

#[test]
fn headers_join_every_101_and_path_limits_the_endpoints() {
    let server = Server::start(&[
        "--echo",
        "-H",
        "X-Mock: yes",
        "--path",
        "/ws",
        "--path",
        "/chat",
    ]);
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let url = server.url.trim_end_matches('/').to_string();
    let (_, response) = tungstenite::client(format!("{url}/ws?room=1"), tcp).unwrap();
    assert_eq!(response.headers().get("x-mock").unwrap(), "yes");
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    match tungstenite::client(format!("{url}/other"), tcp) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 404);
        }
        other => panic!("expected 404, got {:?}", other.map(|(_, r)| r.status())),
    }
}

#[cfg(unix)] // sh syntax
#[test]
fn exec_programs_get_the_request_as_cgi_variables() {
    let script = r#"echo "$REMOTE_ADDR|$PATH_INFO|$QUERY_STRING|$SERVER_PORT|$HTTP_X_TOKEN|${HTTP_AUTHORIZATION:-none}|$WSX_CLIENT_ID""#;
    for (extra, auth) in [(&[][..], "none"), (&["--pass-auth"][..], "Basic YTpi")] {
        let args = [&["--exec", script][..], extra].concat();
        let server = Server::start(&args);
        let url = server.url.trim_end_matches('/').to_string();
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{url}/room/7?user=ann"
        ))
        .unwrap();
        request
            .headers_mut()
            .insert("X-Token", "t-1".parse().unwrap());
        request
            .headers_mut()
            .insert("Authorization", "Basic YTpi".parse().unwrap());
        let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        let (mut ws, _) = tungstenite::client(request, tcp).unwrap();
        let port = server.port;
        assert_eq!(
            next_text(&mut ws),
            format!("127.0.0.1|/room/7|user=ann|{port}|t-1|{auth}|1")
        );
    }
}

#[test]
fn mutual_tls_requires_a_client_certificate_and_shows_its_subject() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (cert, key, ca) = (
        file("cert.pem", &pki.server_cert_pem),
        file("key.pem", &pki.server_key_pem),
        file("ca.pem", &pki.ca_pem),
    );
    let (client_cert, client_key) = (
        file("client.pem", &pki.client_cert_pem),
        file("client-key.pem", &pki.client_key_pem),
    );
    // The program sees the subject (and HTTPS), then echoes.
    let program = if cfg!(windows) {
        "echo %TLS_CLIENT_SUBJECT%^|%HTTPS% & more"
    } else {
        r#"echo "$TLS_CLIENT_SUBJECT|$HTTPS"; cat"#
    };
    let mut server = Server::start(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-ca",
        &ca,
        "--exec",
        program,
    ]);
    let url = server.url.replace("127.0.0.1", "localhost");
    let mut cmd = support::wsx();
    cmd.args([
        "connect",
        &url,
        "--ca",
        &ca,
        "--cert",
        &client_cert,
        "--key",
        &client_key,
        "--count",
        "2",
    ]);
    let out = support::run(cmd, b"with a certificate\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = server.expect_stdout("#1 connected");
    assert!(line.contains("(certificate CN="), "{line}");
    let subject = line
        .split("(certificate ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    let lines: Vec<String> = out
        .stdout_text()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    assert_eq!(lines[0], format!("{subject}|on"), "{lines:?}");

    // Without one, the TLS handshake fails, in one line on each side.
    let mut cmd = support::wsx();
    cmd.args(["connect", &url, "--ca", &ca, "-w", "0"]);
    let out = support::run(cmd, b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let why = server.expect_stderr("TLS handshake failed");
    assert_eq!(why.lines().count(), 1);
}

#[cfg(unix)]
#[test]
fn listens_on_a_unix_socket_and_removes_it_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wsx.sock");
    let addr = format!("unix:{}", path.display());
    // A socket file left by a server that is gone is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut cmd = support::wsx();
    cmd.args([
        "listen",
        &addr,
        "--echo",
        "--format",
        "human",
        "--timestamps",
        "none",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (stderr, ready) = support::read_line_within(child.id(), stderr);
    assert_eq!(
        ready.trim_end(),
        format!("listening on ws+unix:{}", path.display())
    );

    // A second server on the same path is refused while the first one lives.
    let mut second = support::wsx();
    second.args(["listen", &addr]);
    let out = support::run(second, b"");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("another server listens on"),
        "{}",
        out.stderr
    );

    let mut client = support::wsx();
    client
        .args(["connect", "ws://localhost/chat", "--unix-socket"])
        .arg(&path)
        .args(["-w", "0"]);
    let out = support::run(client, b"through a unix socket\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "through a unix socket\n");
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (_stdout, line) = support::read_line_within(child.id(), stdout);
    assert_eq!(
        line.trim_end(),
        "#1 connected from a local process (unix socket) (permessage-deflate; client_max_window_bits=12)"
    );

    support::interrupt(child.id());
    assert_eq!(support::wait_for_exit(&mut child), Some(0));
    assert!(!path.exists(), "the socket file is removed at exit");
    drop(stderr);
}

// On Windows a send that times out may have sent part of its bytes, and the socket's state is
// then undefined: the test writes until a send times out, and then goes on writing.
#[cfg(unix)]
#[test]
fn an_echo_client_that_writes_without_reading_is_held_back_not_closed() {
    // A client writes 60 KiB messages and reads nothing: wsx stops reading it once its echoes
    // back up (TCP then holds the client's writes back), instead of reading on, queueing more
    // than --max-backlog and closing it as too slow. Then it reads, and gets every echo.
    const MESSAGE: usize = 60 * 1024;
    let mut server = Server::start(&["--echo", "--max-backlog", "65536"]);
    let mut tcp = server.client().into_inner();
    // FIN + binary, masked (a zero key), with a 16-bit length.
    let mut frame = vec![0x82, 0x80 | 126];
    frame.extend_from_slice(&(MESSAGE as u16).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend(std::iter::repeat_n(7u8, MESSAGE));
    // Write until a write stalls for a second: the kernel's buffers are full both ways.
    tcp.set_write_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    let (mut sent, mut at) = (0usize, 0usize);
    loop {
        match tcp.write(&frame[at..]) {
            Ok(n) => {
                at += n;
                if at == frame.len() {
                    (sent, at) = (sent + 1, 0);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("wsx cut the client off after {sent} messages: {e}"),
        }
        assert!(sent < 5000, "300 MiB written and never held back");
    }
    // Finish the message under way while reading every echo.
    let mut out = tcp.try_clone().unwrap();
    let rest = frame[at..].to_vec();
    let writer = std::thread::spawn(move || {
        out.set_write_timeout(None)?;
        out.write_all(&rest)
    });
    let expected = sent + usize::from(at > 0);
    let mut payload = vec![0u8; MESSAGE];
    for n in 0..expected {
        let mut head = [0u8; 4];
        tcp.read_exact(&mut head).unwrap();
        assert_eq!(
            head[..2],
            [0x82, 126],
            "echo {n} of {expected}: not a Close"
        );
        tcp.read_exact(&mut payload).unwrap();
    }
    writer.join().unwrap().unwrap();
    assert!(!server.stderr_so_far().contains("is not reading"));
}
