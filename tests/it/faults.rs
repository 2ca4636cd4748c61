//! A faulty network between wsx and its peer (`support::faults`): 1-byte segments, delays, a
//! stall, a reset, a half-close and a dropped connection, inside the handshake or inside a
//! frame, in either direction, for `wsx connect`, `wsx connect --reconnect` and `wsx listen`
//! with several clients. Each ends with the documented exit status, nothing that arrived
//! before the fault missing from stdout, nothing sent twice, and no wait beyond the configured
//! timeouts; a server's other clients are not disturbed.

#![cfg(target_os = "linux")] // resets are the kernel's

use crate::connect::{connect, without_stdin};
use crate::support;

use std::io::Write as _;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use support::faults::{At, Fault, Faulty, Toward};
use support::{record_until_end, run, Peer, Seen, Server, PATIENCE};
use tungstenite::Message;

/// The frame of "first" from a server: 2 bytes of header and 5 of payload.
const FIRST_FRAME: usize = 7;

/// A server that sends "first", then a 20,000-byte message, then records what comes.
fn first_then_large() -> Peer {
    Peer::ws(|ws, seen| {
        // The fault may already have cut the connection: sending can fail.
        let _ = ws.send(Message::text("first"));
        let _ = ws.send(Message::text("y".repeat(20_000)));
        record_until_end(ws, seen);
    })
}

#[test]
fn one_byte_segments_and_a_slow_network_lose_nothing_either_way() {
    // wsx at both ends (a tungstenite peer takes a handshake that comes a byte at a time for
    // an attack and refuses it): each reads the other's handshake and frames as they trickle.
    let server = Server::start(&["--echo"]);
    let addr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let long = "x".repeat(300);
    let input = format!("one\ntwo\n{long}\n");
    for fault in [
        Fault::Trickle(Duration::from_millis(1)),
        Fault::Delay(Duration::from_millis(10)),
    ] {
        for toward in [Toward::Client, Toward::Server, Toward::Both] {
            let proxy = Faulty::start(addr, toward, fault);
            let out = run(connect(&proxy.url(), &["-w", "0"]), input.as_bytes());
            assert_eq!(out.code, Some(0), "{fault:?} {toward:?}: {}", out.stderr);
            // The echo of each line, once and in order: each went once.
            assert_eq!(out.stdout_text(), input, "{fault:?} {toward:?}");
        }
    }
}

#[test]
fn a_reset_or_a_half_close_mid_frame_is_a_lost_connection_after_what_came_whole() {
    let at = At::Frames(FIRST_FRAME + 100);
    for (fault, said) in [(Fault::Reset(at), "reset"), (Fault::HalfClose(at), "1006")] {
        let peer = first_then_large();
        let proxy = Faulty::start(peer.addr, Toward::Client, fault);
        let out = without_stdin(connect(&proxy.url(), &["-w", "10"]));
        assert_eq!(out.code, Some(5), "{fault:?}: {}", out.stderr);
        assert_eq!(out.stdout_text(), "first\n", "{fault:?}");
        assert!(out.stderr.contains(said), "{fault:?}: {}", out.stderr);
    }
}

#[test]
fn a_stall_in_the_handshake_ends_at_the_connect_timeout() {
    let peer = Peer::echo();
    // 20 bytes of the 101: its status line, no more.
    let proxy = Faulty::start(peer.addr, Toward::Client, Fault::Stall(At::Handshake(20)));
    let out = without_stdin(connect(&proxy.url(), &["--connect-timeout", "1"]));
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("no handshake response") && out.stderr.contains("within 1s"),
        "{}",
        out.stderr
    );
    drop(proxy); // lets the peer's connection end
}

#[test]
fn a_stall_in_the_middle_of_a_frame_ends_at_the_close_timeout_without_spinning() {
    let peer = first_then_large();
    let proxy = Faulty::start(
        peer.addr,
        Toward::Client,
        Fault::Stall(At::Frames(FIRST_FRAME + 100)),
    );
    // stdin ends at once: wsx closes, and the server's answer never comes through. While it
    // waits the 3 s for it, wsx sleeps: a loop that spun would use most of them.
    let (code, stdout, stderr, cpu) = support::faults::run_counting_cpu(connect(
        &proxy.url(),
        &["-w", "0", "--close-timeout", "3"],
    ));
    assert_eq!(code, Some(5), "{stderr}");
    assert_eq!(stdout, "first\n");
    assert!(
        stderr.contains("no answer to our Close within 3s"),
        "{stderr}"
    );
    assert!(
        cpu < Duration::from_millis(300),
        "wsx used {cpu:?} of CPU while it waited 3 s"
    );
    drop(proxy);
}

#[test]
fn a_connection_dropped_in_the_middle_of_a_sent_frame_is_lost_and_nothing_is_sent_twice() {
    let peer = Peer::ws(record_until_end);
    // wsx's frame of "a" is 7 bytes (2 of header, a 4-byte mask, 1 of payload); the next one
    // is cut after 3 bytes of its header.
    let proxy = Faulty::start(peer.addr, Toward::Server, Fault::Drop(At::Frames(7 + 3)));
    let long = "z".repeat(2000);
    let out = run(
        connect(&proxy.url(), &["-w", "10"]),
        format!("a\n{long}\n").as_bytes(),
    );
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    let seen = peer.all();
    assert_eq!(seen[0], Seen::Text("a".into()), "{seen:?}");
    assert!(matches!(seen[1], Seen::Gone(_)), "{seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn reconnect_through_dropped_connections_ends_up_connected() {
    let upstream = Server::start(&["--echo"]);
    let upstream_addr = format!("127.0.0.1:{}", upstream.port).parse().unwrap();
    // The first two connections are dropped as soon as the 101 is through.
    let proxy = Faulty::start_first(upstream_addr, Toward::Client, Fault::Drop(At::Frames(0)), 2);
    let mut child = connect(&proxy.url(), &["--reconnect", "-x", "hello", "-w", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsx");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
    // The -x message's echo comes back on the first connection that lasts.
    let (stdout, line) = support::read_line_within(child.id(), stdout);
    assert_eq!(line, "hello\n");
    assert_eq!(
        proxy.accepted(),
        3,
        "two dropped connections, then one that lasts"
    );
    stdin.write_all(b"after\n").expect("writing to wsx");
    let (mut stdout, line) = support::read_line_within(child.id(), stdout);
    assert_eq!(line, "after\n");
    drop(stdin);
    let code = support::wait_for_exit(&mut child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("the rest of stdout");
    assert_eq!(
        (code, rest.as_str()),
        (Some(0), ""),
        "nothing more, nothing twice"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr.matches("reconnecting in").count(), 2, "{stderr}");
}

/// A WebSocket client of `addr` (a server, or a proxy in front of it) for `url`'s path.
fn client_via(addr: std::net::SocketAddr, url: &str) -> support::Ws {
    let tcp = TcpStream::connect(addr).expect("connecting");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let (ws, _) =
        tungstenite::client(url, Box::new(tcp) as Box<dyn support::Io>).expect("client handshake");
    ws
}

#[test]
fn clients_cut_or_stalled_mid_frame_leave_a_servers_other_clients_served() {
    let server = Server::start(&["--echo"]);
    let addr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let mut steady = server.client();
    steady.send(Message::text("before")).unwrap();
    assert_eq!(support::next_text(&mut steady), "before");

    // Clients whose second message is cut 100 bytes in (the first frame, "b1", is
    // 2 + 4 + 2 bytes): a reset, a half-close, a dropped connection, and one that stalls
    // there and stays (the server must not wait for the rest of its frame).
    let at = At::Frames(8 + 100);
    let mut stalled = Vec::new();
    for fault in [
        Fault::Reset(at),
        Fault::HalfClose(at),
        Fault::Drop(at),
        Fault::Stall(at),
    ] {
        let proxy = Faulty::start(addr, Toward::Server, fault);
        let mut cut = client_via(proxy.addr, &server.url);
        cut.send(Message::text("b1")).unwrap();
        assert_eq!(support::next_text(&mut cut), "b1", "{fault:?}");
        let _ = cut.send(Message::binary(vec![7u8; 20_000]));
        if matches!(fault, Fault::Stall(_)) {
            stalled.push((proxy, cut));
        } else {
            assert!(
                !matches!(cut.read(), Ok(Message::Binary(_))),
                "{fault:?}: the cut message never comes back"
            );
        }
        steady.send(Message::text("meanwhile")).unwrap();
        assert_eq!(support::next_text(&mut steady), "meanwhile", "{fault:?}");
    }

    // A client whose handshake and frames come a byte at a time is served whole (what wsx
    // sends it is not trickled: the test's client, tungstenite, would take that for an attack).
    let slow = Faulty::start(
        addr,
        Toward::Server,
        Fault::Trickle(Duration::from_millis(1)),
    );
    let mut trickled = client_via(slow.addr, &server.url);
    trickled.send(Message::text("one byte at a time")).unwrap();
    assert_eq!(support::next_text(&mut trickled), "one byte at a time");

    steady.send(Message::text("after")).unwrap();
    assert_eq!(support::next_text(&mut steady), "after");
    drop(stalled);
}

#[test]
fn a_relay_whose_upstream_is_reset_mid_frame_closes_that_client_with_1011_only() {
    let upstream = Server::start(&["--echo"]);
    let upstream_addr = format!("127.0.0.1:{}", upstream.port).parse().unwrap();
    // The first client's upstream connection is reset 100 bytes into the second echo (the
    // echo of "a1" is 2 + 2 bytes); the second client's goes through untouched.
    let proxy = Faulty::start_first(
        upstream_addr,
        Toward::Client,
        Fault::Reset(At::Frames(4 + 100)),
        1,
    );
    let relay = Server::start(&["--forward", &proxy.url()]);
    let relay_addr = format!("127.0.0.1:{}", relay.port).parse().unwrap();
    let mut cut = client_via(relay_addr, &relay.url);
    cut.send(Message::text("a1")).unwrap();
    assert_eq!(support::next_text(&mut cut), "a1");
    let mut steady = client_via(relay_addr, &relay.url);
    steady.send(Message::text("b1")).unwrap();
    assert_eq!(support::next_text(&mut steady), "b1");

    cut.send(Message::text("y".repeat(20_000))).unwrap();
    match cut.read() {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1011);
            assert!(frame.reason.starts_with("upstream: "), "{}", frame.reason);
        }
        other => panic!("expected Close 1011, got {other:?}"),
    }
    steady.send(Message::text("b2")).unwrap();
    assert_eq!(support::next_text(&mut steady), "b2");
}
