//! `wsx listen --forward`: the inspecting relay, between in-process tungstenite clients and
//! upstreams (raw TCP ones for refusals, stalls and resets).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use tungstenite::handshake::server::{Request, Response};
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use crate::support::{self, next_text, record, run, Peer, Seen, Server, PATIENCE};

/// `wsx listen 127.0.0.1:0 --forward URL ARGS` in `format`, ready.
fn relay(upstream: &str, format: &str, args: &[&str]) -> Server {
    let base = [
        "listen",
        "127.0.0.1:0",
        "--format",
        format,
        "--timestamps",
        "none",
        "--forward",
        upstream,
    ];
    Server::start_with(&base, args)
}

/// A client of the relay at `path`, with extra request headers; its handshake response.
fn client(
    relay: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<
    (
        WebSocket<TcpStream>,
        tungstenite::handshake::client::Response,
    ),
    tungstenite::Error,
> {
    use tungstenite::client::IntoClientRequest;
    let tcp = TcpStream::connect(("127.0.0.1", relay.port)).expect("connecting");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let url = format!("ws://127.0.0.1:{}{path}", relay.port);
    let mut request = url.into_client_request().expect("a request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tungstenite::client(request, tcp) {
        Ok(done) => Ok(done),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("interrupted handshake"),
    }
}

/// An upstream that reports the request it got (path and headers), picks `subprotocol`, and
/// then runs `f`.
#[allow(clippy::result_large_err)] // tungstenite's callback returns its error response by value
fn upstream<F>(subprotocol: Option<&'static str>, f: F) -> (Peer, mpsc::Receiver<Request>)
where
    F: FnOnce(&mut support::Ws, &mpsc::Sender<Seen>) + Send + 'static,
{
    let (req_tx, req_rx) = mpsc::channel();
    let peer = Peer::tcp(move |tcp, seen| {
        let callback = |req: &Request, mut resp: Response| {
            let _ = req_tx.send(req.clone());
            if let Some(p) = subprotocol {
                resp.headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static(p));
            }
            Ok(resp)
        };
        let stream: Box<dyn support::Io> = Box::new(tcp);
        let mut ws = tungstenite::accept_hdr(stream, callback).expect("upstream handshake");
        f(&mut ws, seen);
    });
    (peer, req_rx)
}

#[test]
fn messages_go_both_ways_unchanged_and_each_is_shown() {
    let (up, requests) = upstream(Some("chat.v2"), |ws, seen| {
        ws.send(Message::text("welcome")).unwrap();
        loop {
            match record(ws, seen) {
                Some(msg @ (Message::Text(_) | Message::Binary(_))) => ws.send(msg).unwrap(),
                Some(_) => {}
                None => return,
            }
        }
    });
    let mut relay = relay(&format!("{}api", up.url()), "jsonl", &[]);
    let (mut ws, response) = client(
        &relay,
        "/feed/7?room=blue",
        &[
            ("Authorization", "Bearer t0ken"),
            ("Sec-WebSocket-Protocol", "chat.v1, chat.v2"),
            ("X-Custom", "yes"),
        ],
    )
    .expect("the relay's handshake");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v2",
        "the upstream's choice reaches the client"
    );
    let request = requests
        .recv_timeout(PATIENCE)
        .expect("the upstream's request");
    assert_eq!(request.uri().path(), "/api/feed/7");
    assert_eq!(request.uri().query(), Some("room=blue"));
    let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("authorization"), Some("Bearer t0ken"));
    assert_eq!(header("x-custom"), Some("yes"));
    assert_eq!(header("sec-websocket-protocol"), Some("chat.v1, chat.v2"));
    assert_eq!(
        header("sec-websocket-extensions"),
        None,
        "a client that offers no compression gets an upstream leg without it"
    );

    assert_eq!(next_text(&mut ws), "welcome");
    ws.send(Message::text("héllo")).unwrap();
    assert_eq!(next_text(&mut ws), "héllo");
    let bytes = vec![0u8, 0xff, b'\n', 7];
    ws.send(Message::binary(bytes.clone())).unwrap();
    match ws.read().unwrap() {
        Message::Binary(b) => assert_eq!(b.to_vec(), bytes, "binary stays binary"),
        other => panic!("expected binary, got {other:?}"),
    }
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "done  here".into(),
    }))
    .unwrap();
    let seen = up.all();
    assert!(
        seen.contains(&Seen::Close(4001, "done  here".into())),
        "the client's close reaches the upstream as it was: {seen:?}"
    );

    let open = relay.expect_stdout(r#""type":"open""#);
    assert!(open.contains(r#""client":1"#), "{open}");
    assert!(
        open.contains(&format!(r#""upstream":"{}api/feed/7?room=blue""#, up.url())),
        "{open}"
    );
    assert!(open.contains(r#""subprotocol":"chat.v2""#), "{open}");
    let welcome = relay.expect_stdout("welcome");
    assert!(welcome.contains(r#""dir":"out""#), "{welcome}");
    let hello = relay.expect_stdout(r#""dir":"in""#);
    assert!(
        hello.contains("héllo") && hello.contains(r#""type":"text""#),
        "{hello}"
    );
    relay.expect_stdout(r#""type":"binary""#);
}

#[test]
fn the_upstreams_close_reaches_the_client_with_its_code_and_reason() {
    let (up, _requests) = upstream(None, |ws, seen| {
        support::close_with(ws, 4002, "bye now");
        support::record_until_end(ws, seen);
    });
    let mut relay = relay(&up.url(), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    match ws.read() {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4002);
            assert_eq!(frame.reason.as_str(), "bye now");
        }
        other => panic!("expected the upstream's Close, got {other:?}"),
    }
    drop(up);
    relay.expect_stdout(r#"#1 > [close 4002 "bye now"]"#);
}

#[test]
fn an_upstream_lost_without_a_close_closes_its_client_with_1011() {
    let peer = Peer::tcp(|tcp, _seen| {
        let stream: Box<dyn support::Io> = Box::new(tcp.try_clone().unwrap());
        let mut ws = tungstenite::accept(stream).expect("upstream handshake");
        ws.send(Message::text("about to vanish")).unwrap();
        drop(ws);
        drop(tcp); // no Close frame
    });
    let mut relay = relay(&peer.url(), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    assert_eq!(next_text(&mut ws), "about to vanish");
    match ws.read() {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1011);
            assert!(frame.reason.starts_with("upstream: "), "{}", frame.reason);
        }
        other => panic!("expected Close 1011, got {other:?}"),
    }
    relay.expect_stderr("#1 upstream: ");
    drop(peer);
}

#[test]
fn refusals_are_passed_on_and_unreachable_upstreams_are_502() {
    let refusing = Peer::tcp(|mut tcp, _seen| {
        support::read_head(&mut tcp);
        let body = "who are you?\n";
        let answer = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"api\"\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(answer.as_bytes()).unwrap();
    });
    let mut relay = relay(&refusing.url(), "human", &[]);
    match client(&relay, "/", &[]) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            assert_eq!(
                response.headers().get("www-authenticate").unwrap(),
                "Bearer realm=\"api\""
            );
            assert_eq!(response.body().as_deref(), Some(&b"who are you?\n"[..]));
        }
        other => panic!("expected the upstream's 401, got {other:?}"),
    }
    relay.expect_stderr("refused: HTTP/1.1 401");
    drop(refusing);

    // A redirect is passed on with its Location, not followed.
    let redirecting = Peer::tcp(|mut tcp, _seen| {
        support::read_head(&mut tcp);
        let answer =
            "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere.test/\r\nContent-Length: 0\r\n\r\n";
        tcp.write_all(answer.as_bytes()).unwrap();
    });
    let redirect = self::relay(&redirecting.url(), "human", &[]);
    match client(&redirect, "/", &[]) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 302);
            assert_eq!(
                response.headers().get("location").unwrap(),
                "ws://elsewhere.test/"
            );
        }
        other => panic!("expected the upstream's 302, got {other:?}"),
    }
    drop(redirecting);

    let closed = support::closed_port();
    let mut gone = self::relay(&format!("ws://127.0.0.1:{closed}/"), "human", &[]);
    match client(&gone, "/", &[]) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 502),
        other => panic!("expected 502, got {other:?}"),
    }
    gone.expect_stderr("(502)");
}

#[test]
fn an_upstream_that_does_not_answer_in_time_is_504() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts (the kernel does) and never answers.
    let mut relay = relay(
        &format!("ws://127.0.0.1:{port}/"),
        "human",
        &["--forward-timeout", "0.3"],
    );
    match client(&relay, "/", &[]) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 504),
        other => panic!("expected 504, got {other:?}"),
    }
    relay.expect_stderr("(504)");
    drop(listener);
}

#[test]
fn a_client_that_offers_compression_has_it_offered_upstream() {
    use std::io::Read;
    let (up, requests) = upstream(None, support::record_until_end);
    let relay = relay(&up.url(), "human", &[]);
    let mut tcp = TcpStream::connect(("127.0.0.1", relay.port)).expect("connecting");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        tcp,
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    .expect("writing the request");
    let request = requests
        .recv_timeout(PATIENCE)
        .expect("the upstream's request");
    let offer = request.headers().get("sec-websocket-extensions");
    assert!(
        offer.is_some_and(|v| v.to_str().unwrap().contains("permessage-deflate")),
        "{offer:?}"
    );
    let mut answer = [0u8; 12];
    tcp.read_exact(&mut answer).expect("the relay's answer");
    assert_eq!(&answer, b"HTTP/1.1 101");
    drop(tcp);
    drop(up);
}

#[test]
fn a_refused_client_does_not_use_up_a_number() {
    // The first client is refused by the relay's own gate (a path it does not serve); the
    // second, relayed, is #1.
    let (up, _requests) = upstream(None, support::record_until_end);
    let mut relay = relay(&up.url(), "human", &["--path", "/ok"]);
    assert!(client(&relay, "/nope", &[]).is_err());
    let (mut ws, _) = client(&relay, "/ok", &[]).expect("handshake");
    relay.expect_stdout("#1 connected from");
    ws.close(None).unwrap();
    let _ = ws.read();
    drop(up);
}

/// An upstream for many clients: a connection to `/flood` gets binary messages until a write
/// stalls for a second (then reports how much it sent); any other is echoed.
#[allow(clippy::result_large_err)] // tungstenite's callback returns its error response by value
fn flooding_upstream() -> (u16, mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stalled_tx, stalled) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let stalled_tx = stalled_tx.clone();
            std::thread::spawn(move || {
                let mut flood = false;
                let callback = |req: &Request, resp: Response| {
                    flood = req.uri().path() == "/flood";
                    Ok(resp)
                };
                let Ok(mut ws) = tungstenite::accept_hdr(tcp, callback) else {
                    return;
                };
                if !flood {
                    while let Ok(msg) = ws.read() {
                        if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
                            return;
                        }
                    }
                    return;
                }
                let _ = ws.get_mut().set_write_timeout(Some(Duration::from_secs(1)));
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0usize;
                while sent < 512 << 20 && ws.send(Message::binary(chunk.clone())).is_ok() {
                    sent += chunk.len();
                }
                let _ = stalled_tx.send(sent);
            });
        }
    });
    (port, stalled)
}

#[test]
fn a_client_that_stops_reading_holds_back_only_its_own_upstream() {
    // The flooding upstream writes far more than any buffer holds to a client that never
    // reads: its writes stall (the relay stops reading it) instead of wsx buffering without
    // bound. Meanwhile another client's pair goes on as before.
    let (port, stalled) = flooding_upstream();
    let relay = relay(&format!("ws://127.0.0.1:{port}/"), "human", &[]);
    let mut relay = relay;
    let (mut slow, _) = client(&relay, "/flood", &[]).expect("handshake");
    let sent = stalled
        .recv_timeout(PATIENCE)
        .expect("the upstream stalled");
    assert!(
        sent < 64 << 20,
        "the relay took {sent} bytes for a client that reads nothing"
    );
    let (mut other, _) = client(&relay, "/echo", &[]).expect("handshake");
    for i in 0..100 {
        other.send(Message::text(format!("m{i}"))).unwrap();
        assert_eq!(next_text(&mut other), format!("m{i}"));
    }
    // The slow client was held back, not dropped: once it reads, every whole message the
    // upstream sent arrives, then the Close for the upstream that went away meanwhile.
    let mut received = 0;
    let code = loop {
        let msg = slow.read().unwrap_or_else(|e| {
            panic!(
                "{e} after {received} bytes; wsx said:\n{}",
                relay.stderr_so_far()
            )
        });
        match msg {
            Message::Binary(b) => received += b.len(),
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    };
    assert_eq!(received, sent, "what the upstream sent, all of it");
    assert_eq!(code, Some(1011));
    let stderr = relay.stderr_so_far();
    assert!(!stderr.contains("not reading"), "{stderr}");
}

#[test]
fn forward_refuses_modes_that_answer_for_themselves() {
    for flag in [
        &["--echo"][..],
        &["--chat"],
        &["--exec", "cat"],
        &["-s", "chat"],
    ] {
        let out = run(
            {
                let mut cmd = support::wsx();
                cmd.args(["listen", "127.0.0.1:0", "--forward", "ws://127.0.0.1:9/"]);
                cmd.args(flag);
                cmd
            },
            b"",
        );
        assert_eq!(out.code, Some(2), "{flag:?}: {}", out.stderr);
        assert!(out.stderr.contains("--forward"), "{}", out.stderr);
    }
    let out = run(
        {
            let mut cmd = support::wsx();
            cmd.args(["listen", "127.0.0.1:0", "--forward", "ftp://x/"]);
            cmd
        },
        b"",
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
}

#[test]
fn a_typed_line_goes_to_every_client_as_if_from_the_upstream() {
    let (up, _requests) = upstream(None, support::record_until_end);
    let mut relay = relay(&up.url(), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    relay.expect_stdout("#1 connected from");
    relay.type_line("injected");
    assert_eq!(next_text(&mut ws), "injected");
    ws.close(None).unwrap();
    let seen = up.all();
    assert!(
        !seen.contains(&Seen::Text("injected".into())),
        "the operator's line is not sent upstream: {seen:?}"
    );
}

#[test]
fn a_wss_upstream_is_verified_against_forward_ca() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let up = Peer::ws_over(pki.wrap(), |ws, seen| {
        ws.send(Message::text("over tls")).unwrap();
        support::record_until_end(ws, seen);
    });
    let upstream = format!("wss://localhost:{}/", up.addr.port());
    let relay = relay(&upstream, "human", &["--forward-ca", ca.to_str().unwrap()]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    assert_eq!(next_text(&mut ws), "over tls");
    ws.close(None).unwrap();
    drop(up);

    // Without the authority, the upstream's certificate is refused: 502, and the reason.
    let untrusted = Peer::tcp(|tcp, _seen| {
        // Drives the TLS handshake, which the relay ends when it sees the certificate.
        let mut tls = support::TestPki::new().wrap()(tcp);
        let _ = std::io::Read::read(&mut tls, &mut [0u8; 1]);
    });
    let upstream = format!("wss://localhost:{}/", untrusted.addr.port());
    let mut strict = self::relay(&upstream, "human", &[]);
    match client(&strict, "/", &[]) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 502),
        other => panic!("expected 502, got {other:?}"),
    }
    strict.expect_stderr("not signed by a trusted authority");
    drop(untrusted);
}

#[test]
fn a_bad_forward_ca_is_an_error_before_anything_is_bound() {
    let out = run(
        {
            let mut cmd = support::wsx();
            cmd.args([
                "listen",
                "127.0.0.1:0",
                "--forward",
                "wss://localhost:9/",
                "--forward-ca",
                "/nonexistent/ca.pem",
            ]);
            cmd
        },
        b"",
    );
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    assert!(out.stderr.contains("ca.pem"), "{}", out.stderr);
}

// --- the bridge: --forward tcp:HOST:PORT ---------------------------------------------------

/// A TCP service for one connection, run by `f`.
fn tcp_service<F>(f: F) -> (u16, std::thread::JoinHandle<()>)
where
    F: FnOnce(TcpStream) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accepting the bridge");
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        f(tcp);
    });
    (port, handle)
}

#[test]
fn the_bridge_carries_bytes_both_ways_and_answers_binary() {
    let (port, service) = tcp_service(|mut tcp| {
        tcp.write_all(b"banner\r\n").unwrap();
        let mut got = [0u8; 9];
        std::io::Read::read_exact(&mut tcp, &mut got).unwrap();
        tcp.write_all(&got).unwrap(); // what the client sent, back as it came
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut tcp, &mut rest);
    });
    let mut relay = relay(&format!("tcp:127.0.0.1:{port}"), "jsonl", &[]);
    let (mut ws, response) = client(&relay, "/", &[("Sec-WebSocket-Protocol", "binary")])
        .expect("the bridge's handshake");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "binary",
        "websockify's subprotocol"
    );
    let banner = ws.read().unwrap();
    assert_eq!(banner, Message::binary(b"banner\r\n".to_vec()));
    ws.send(Message::text("text ")).unwrap(); // text goes as its UTF-8 bytes
    ws.send(Message::binary(vec![0, 0xff, 1, 2])).unwrap();
    let mut echoed = Vec::new();
    while echoed.len() < 9 {
        match ws.read().unwrap() {
            Message::Binary(b) => echoed.extend_from_slice(&b),
            other => panic!("expected binary, got {other:?}"),
        }
    }
    assert_eq!(echoed, b"text \x00\xff\x01\x02");
    ws.close(None).unwrap();
    service.join().unwrap();
    relay.expect_stdout(&format!(r#""upstream":"tcp:127.0.0.1:{port}""#));
    relay.expect_stdout(r#""type":"binary""#);
    relay.expect_stderr("9 B from the client, 17 B to it");
}

#[test]
fn the_services_end_of_stream_is_a_close_1000_after_what_it_sent() {
    let (port, service) = tcp_service(|mut tcp| {
        tcp.write_all(&vec![b'z'; 300_000]).unwrap();
        // Dropping it: end of stream.
    });
    let mut relay = relay(&format!("tcp:127.0.0.1:{port}"), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    let mut received = 0;
    let code = loop {
        match ws.read().unwrap() {
            Message::Binary(b) => received += b.len(),
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        received, 300_000,
        "everything the service sent, before the Close"
    );
    assert_eq!(code, Some(1000));
    service.join().unwrap();
    // Human format shows the connection and the counts, not the bytes.
    let line = relay.expect_stdout("connected from");
    assert!(
        line.contains(&format!("relayed to tcp:127.0.0.1:{port}")),
        "{line}"
    );
    relay.expect_stderr("0 B from the client, 300000 B to it");
}

// Wine closes a socket with SO_LINGER 0 with a FIN, not a reset: checked where sockets are
// the kernel's.
#[cfg(unix)]
#[test]
fn a_reset_of_the_service_is_1011() {
    let (port, service) = tcp_service(|mut tcp| {
        // Once the bridge is up (the client's byte has come through), a reset: linger 0,
        // then close. (A reset before that is a refused connection: 502.)
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut tcp, &mut byte).unwrap();
        socket2::SockRef::from(&tcp)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(tcp);
    });
    let mut relay = relay(&format!("tcp:127.0.0.1:{port}"), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    ws.send(Message::binary(vec![1])).unwrap();
    match ws.read() {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1011);
            assert!(frame.reason.starts_with("upstream: "), "{}", frame.reason);
        }
        other => panic!("expected Close 1011, got {other:?}"),
    }
    service.join().unwrap();
    relay.expect_stderr("#1 upstream: ");
}

#[test]
fn an_unreachable_service_is_502() {
    let closed = support::closed_port();
    let mut gone = self::relay(&format!("tcp:127.0.0.1:{closed}"), "human", &[]);
    match client(&gone, "/", &[]) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 502),
        other => panic!("expected 502, got {other:?}"),
    }
    gone.expect_stderr("(502)");
}

#[test]
fn a_client_that_stops_reading_holds_back_its_service() {
    let (stalled_tx, stalled) = mpsc::channel();
    let (port, service) = tcp_service(move |mut tcp| {
        tcp.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 512 << 20 {
            match tcp.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        stalled_tx.send(sent).unwrap();
    });
    let mut relay = relay(&format!("tcp:127.0.0.1:{port}"), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    let sent = stalled.recv_timeout(PATIENCE).expect("the service stalled");
    assert!(
        sent < 64 << 20,
        "the bridge took {sent} bytes for a client that reads nothing"
    );
    let mut received = 0;
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => received += b.len(),
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(e) => panic!("{e} after {received}: {}", relay.stderr_so_far()),
        }
    }
    assert_eq!(received, sent, "nothing the service sent is lost");
    service.join().unwrap();
}

#[test]
fn bad_forward_targets_are_usage_errors() {
    for target in ["tcp:nohost", "tcp::80", "tcp:h:99999", "unix:", "ftp://x/"] {
        let out = run(
            {
                let mut cmd = support::wsx();
                cmd.args(["listen", "127.0.0.1:0", "--forward", target]);
                cmd
            },
            b"",
        );
        assert_eq!(out.code, Some(2), "{target}: {}", out.stderr);
        assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    }
}

#[cfg(unix)]
#[test]
fn the_bridge_reaches_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("service.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let service = std::thread::spawn(move || {
        let (mut unix, _) = listener.accept().unwrap();
        unix.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = [0u8; 4];
        std::io::Read::read_exact(&mut unix, &mut got).unwrap();
        unix.write_all(&got).unwrap();
    });
    let relay = relay(&format!("unix:{}", path.display()), "human", &[]);
    let (mut ws, _) = client(&relay, "/", &[]).expect("handshake");
    ws.send(Message::binary(b"ping".to_vec())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(b"ping".to_vec()));
    service.join().unwrap();
}

// --- the tunnel: wsx connect URL --tcp-listen PORT -----------------------------------------

/// `wsx connect URL --tcp-listen 127.0.0.1:0 ARGS`, ready.
fn tunnel(url: &str, args: &[&str]) -> Server {
    let mut cmd = support::wsx();
    cmd.args(["connect", url, "--tcp-listen", "127.0.0.1:0"])
        .args(["--format", "human", "--timestamps", "none"])
        .args(args);
    Server::start_command(cmd)
}

/// Reads from `tcp` until `len` bytes have come (or the stream ends).
fn read_bytes(tcp: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match std::io::Read::read(tcp, &mut got[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => panic!("reading the tunnel: {e} after {filled} bytes"),
        }
    }
    got.truncate(filled);
    got
}

#[test]
fn the_tunnel_carries_bytes_with_connects_options_and_one_websocket_per_connection() {
    let (port, _stalled) = flooding_upstream(); // echoes every path but /flood
    let mut tunnel = tunnel(
        &format!("ws://127.0.0.1:{port}/echo"),
        &["-H", "X-Token: t"],
    );
    assert!(tunnel.url.starts_with("tcp://127.0.0.1:"), "{}", tunnel.url);
    let mut first = TcpStream::connect(("127.0.0.1", tunnel.port)).unwrap();
    let mut second = TcpStream::connect(("127.0.0.1", tunnel.port)).unwrap();
    for tcp in [&first, &second] {
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    }
    let data: Vec<u8> = (0..=255u8).cycle().take(500_000).collect();
    first.write_all(&data).unwrap();
    second.write_all(b"second\n").unwrap();
    assert_eq!(read_bytes(&mut second, 7), b"second\n");
    assert!(
        read_bytes(&mut first, data.len()) == data,
        "the echo differs"
    );
    // Each dial finishes when it does: the two connections show in either order.
    let mut shown = [
        tunnel.expect_stdout("connected from"),
        tunnel.expect_stdout("connected from"),
    ];
    shown.sort();
    assert!(
        shown[0].starts_with("#1 ") && shown[1].starts_with("#2 "),
        "{shown:?}"
    );
    drop(first);
    tunnel.expect_stderr("#1 127.0.0.1:");
}

#[test]
fn the_tunnel_sends_connects_headers() {
    let (up, requests) = upstream(None, support::record_until_end);
    let tunnel = tunnel(&up.url(), &["-H", "X-Token: secret", "--auth", "u:p"]);
    let tcp = TcpStream::connect(("127.0.0.1", tunnel.port)).unwrap();
    let request = requests.recv_timeout(PATIENCE).expect("the tunnel dialled");
    assert_eq!(request.headers().get("x-token").unwrap(), "secret");
    assert!(request.headers().get("authorization").is_some());
    drop(tcp);
    let seen = up.all();
    assert!(
        seen.contains(&Seen::Close(1000, String::new())),
        "the end of the TCP stream is a Close 1000: {seen:?}"
    );
}

#[test]
fn the_servers_close_ends_the_tcp_connection_after_what_it_sent() {
    let (up, _requests) = upstream(None, |ws, seen| {
        ws.send(Message::binary(vec![b'q'; 100_000])).unwrap();
        ws.send(Message::text("tail")).unwrap();
        support::close_with(ws, 1000, "");
        support::record_until_end(ws, seen);
    });
    let tunnel = tunnel(&up.url(), &[]);
    let mut tcp = TcpStream::connect(("127.0.0.1", tunnel.port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut tcp, &mut got).expect("the end of the stream");
    assert_eq!(got.len(), 100_004);
    assert!(got.ends_with(b"qtail"));
    drop(up);
}

#[test]
fn a_failed_dial_ends_only_that_connection() {
    let closed = support::closed_port();
    let mut tunnel = tunnel(&format!("ws://127.0.0.1:{closed}/"), &[]);
    let mut tcp = TcpStream::connect(("127.0.0.1", tunnel.port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tcp, &mut got);
    assert!(got.is_empty());
    tunnel.expect_stderr("could not connect");
    // Still serving.
    let again = TcpStream::connect(("127.0.0.1", tunnel.port));
    assert!(again.is_ok());
    tunnel.expect_stderr("#2 ");
}

#[cfg(unix)]
#[test]
fn sigterm_closes_every_tunnel_with_1001_and_exits_0() {
    let (up, _requests) = upstream(None, support::record_until_end);
    let mut tunnel = tunnel(&up.url(), &[]);
    let _tcp = TcpStream::connect(("127.0.0.1", tunnel.port)).unwrap();
    tunnel.expect_stdout("#1 connected from");
    support::terminate(tunnel.pid);
    assert_eq!(tunnel.wait(), Some(0));
    let seen = up.all();
    assert!(seen.contains(&Seen::Close(1001, String::new())), "{seen:?}");
}

#[test]
fn tcp_listen_refuses_what_makes_no_sense_for_a_tunnel() {
    for flag in [
        &["--stream"][..],
        &["--echo"],
        &["-x", "hi"],
        &["--reconnect"],
    ] {
        let out = run(
            {
                let mut cmd = support::wsx();
                cmd.args(["connect", "ws://127.0.0.1:9/", "--tcp-listen", "0"]);
                cmd.args(flag);
                cmd
            },
            b"",
        );
        assert_eq!(out.code, Some(2), "{flag:?}: {}", out.stderr);
    }
}
