//! `wsx connect` against real endpoints' demands: request headers, authentication,
//! subprotocols, and the handshake shown with -v, against in-process peers on 127.0.0.1.

use crate::support;

use std::sync::mpsc;

use support::{record_until_end, run, wsx, Peer};
use tungstenite::handshake::server::{Request, Response};

/// A peer that records the handshake request's headers (lower-case names) and answers with
/// `subprotocol` if given, then waits for the connection to end.
// The callback's error type is tungstenite's (an HTTP response), large by its design.
#[allow(clippy::result_large_err)]
fn recording_peer(
    subprotocol: Option<&'static str>,
) -> (Peer, mpsc::Receiver<Vec<(String, String)>>) {
    let (tx, rx) = mpsc::channel();
    let peer = Peer::tcp(move |tcp, seen| {
        let callback = |req: &Request, mut resp: Response| {
            let headers = req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        v.to_str().unwrap_or("?").to_string(),
                    )
                })
                .collect();
            let _ = tx.send(headers);
            if let Some(p) = subprotocol {
                resp.headers_mut()
                    .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
            }
            Ok(resp)
        };
        let mut ws = tungstenite::accept_hdr(Box::new(tcp) as Box<dyn support::Io>, callback)
            .expect("handshake");
        record_until_end(&mut ws, seen);
    });
    (peer, rx)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn headers_origin_auth_and_subprotocols_are_sent() {
    let (peer, headers) = recording_peer(Some("v2"));
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "-w",
        "0",
        "-H",
        "X-Token: abc",
        "-H",
        "X-Two: 2",
        "-o",
        "http://app.example",
    ])
    .args([
        "--auth",
        "alice:s3cret",
        "-s",
        "v1",
        "-s",
        "v2",
        "--format",
        "jsonl",
        "--timestamps",
        "none",
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let headers = headers.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(header(&headers, "x-token"), Some("abc"));
    assert_eq!(header(&headers, "x-two"), Some("2"));
    assert_eq!(header(&headers, "origin"), Some("http://app.example"));
    assert_eq!(
        header(&headers, "authorization"),
        Some("Basic YWxpY2U6czNjcmV0")
    );
    assert_eq!(header(&headers, "sec-websocket-protocol"), Some("v1, v2"));
    assert!(
        out.stdout_text()
            .starts_with("{\"dir\":\"out\",\"type\":\"open\",\"subprotocol\":\"v2\""),
        "{}",
        out.stdout_text()
    );
}

#[test]
fn credentials_in_the_url_become_basic_auth() {
    let (peer, headers) = recording_peer(None);
    let url = peer.url().replace("ws://", "ws://bob:p%40ss@");
    let out = run(
        {
            let mut cmd = wsx();
            cmd.args(["connect", &url, "-w", "0"]);
            cmd
        },
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let headers = headers.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(
        header(&headers, "authorization"),
        Some("Basic Ym9iOnBAc3M="),
        "bob:p@ss"
    );
}

#[test]
fn the_chosen_subprotocol_is_shown() {
    let (peer, _headers) = recording_peer(Some("chat"));
    let out = run(
        {
            let mut cmd = wsx();
            cmd.args([
                "connect",
                &peer.url(),
                "-w",
                "0",
                "-s",
                "chat",
                "--format",
                "human",
                "--timestamps",
                "none",
            ]);
            cmd
        },
        b"",
    );
    assert!(
        out.stdout_text()
            .starts_with(&format!("connected to {} (subprotocol chat)\n", peer.url())),
        "{}",
        out.stdout_text()
    );
}

#[test]
fn a_subprotocol_we_did_not_offer_is_an_error() {
    let (peer, _headers) = recording_peer(Some("other"));
    let out = run(
        {
            let mut cmd = wsx();
            cmd.args(["connect", &peer.url(), "-w", "0", "-s", "chat"]);
            cmd
        },
        b"",
    );
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr.contains("subprotocol") || out.stderr.contains("SubProtocol"),
        "{}",
        out.stderr
    );
    drop(peer);
}

#[test]
fn malformed_headers_are_usage_errors() {
    for bad in ["no colon", "Bad Name: x"] {
        let out = run(
            {
                let mut cmd = wsx();
                cmd.args(["connect", "ws://127.0.0.1:9/", "-H", bad]);
                cmd
            },
            b"",
        );
        assert_eq!(out.code, Some(2), "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("-H") || out.stderr.contains("--header"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn verbose_shows_the_handshake_with_authorization_redacted() {
    let (peer, _headers) = recording_peer(None);
    let out = run(
        {
            let mut cmd = wsx();
            cmd.args([
                "connect",
                &peer.url(),
                "-w",
                "0",
                "-v",
                "--auth",
                "alice:s3cret",
                "-H",
                "X-Token: abc",
            ]);
            cmd
        },
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("> GET ws://127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("> x-token: abc"), "{}", out.stderr);
    assert!(
        out.stderr.contains("> authorization: [redacted]"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("YWxpY2U6czNjcmV0"), "{}", out.stderr);
    assert!(
        out.stderr.contains("< HTTP/1.1 101 Switching Protocols"),
        "{}",
        out.stderr
    );
}

/// A TLS echo peer for one connection that completes its handshake, or just the TLS attempt
/// when the client gives up.
fn tls_peer(pki: &support::TestPki) -> Peer {
    let wrap = pki.wrap();
    Peer::tcp(move |tcp, seen| {
        let stream = wrap(tcp);
        if let Ok(mut ws) = tungstenite::accept(stream) {
            while let Some(msg) = support::record(&mut ws, seen) {
                if msg.is_text() {
                    let _ = ws.send(msg);
                }
            }
        }
    })
}

fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

fn wss(peer: &Peer, host: &str) -> String {
    format!("wss://{host}:{}/", peer.addr.port())
}

/// Connects to a TLS echo peer made from `pki`, trusting its CA with `--ca`, and sends a line.
fn connect_trusting(pki: &support::TestPki) -> support::Run {
    let dir = tempfile::tempdir().unwrap();
    let ca = write(&dir, "ca.pem", &pki.ca_pem);
    let peer = tls_peer(pki);
    connect_with(&wss(&peer, "localhost"), &["--ca", &ca])
}

fn connect_with(url: &str, args: &[&str]) -> support::Run {
    let mut cmd = wsx();
    cmd.args(["connect", url, "-w", "0"]).args(args);
    run(cmd, b"secure\n")
}

#[test]
fn ca_trusts_a_private_authority() {
    let out = connect_trusting(&support::TestPki::new());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
}

#[test]
fn an_unknown_issuer_is_explained() {
    let pki = support::TestPki::new();
    let peer = tls_peer(&pki);
    let out = connect_with(&wss(&peer, "localhost"), &[]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("not signed by a trusted authority"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--ca FILE") && out.stderr.contains("-k"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_certificate_for_another_name_is_explained() {
    let out = connect_trusting(&support::TestPki::with(&["other.example"], false, false));
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the server's certificate is not valid for localhost"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_expired_certificate_is_explained() {
    let out = connect_trusting(&support::TestPki::with(&["localhost"], true, false));
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("the server's certificate has expired"),
        "{}",
        out.stderr
    );
}

#[test]
fn insecure_skips_verification_with_a_warning() {
    let pki = support::TestPki::with(&["other.example"], true, false);
    let peer = tls_peer(&pki);
    let out = connect_with(&wss(&peer, "localhost"), &["-k"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
    assert!(out.stderr.contains("warning: --insecure"), "{}", out.stderr);
}

#[test]
fn the_tls_setup_and_its_warning_come_once_per_run() {
    // A wss:// server that redirects once to itself, then echoes: two TLS connections.
    let pki = support::TestPki::with(&["other.example"], true, false);
    let (first, second) = (pki.wrap(), pki.wrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = first(tcp);
        support::read_head(&mut tls);
        let answer = format!(
            "HTTP/1.1 302 Found\r\nLocation: wss://localhost:{port}/again\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = tls.write_all(answer.as_bytes());
        let _ = tls.flush();
        let (tcp, _) = listener.accept().unwrap();
        if let Ok(mut ws) = tungstenite::accept(second(tcp)) {
            while let Ok(msg) = ws.read() {
                if msg.is_text() && ws.send(msg).is_err() {
                    return;
                }
            }
        }
    });
    let out = connect_with(&format!("wss://localhost:{port}/"), &["-k", "-L"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
    assert_eq!(
        out.stderr.matches("warning: --insecure").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn client_certificates() {
    let pki = support::TestPki::with(&["localhost"], false, true);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(&dir, "ca.pem", &pki.ca_pem);
    let cert = write(&dir, "client.pem", &pki.client_cert_pem);
    let key = write(&dir, "client.key", &pki.client_key_pem);
    let peer = tls_peer(&pki);
    let out = connect_with(
        &wss(&peer, "localhost"),
        &["--ca", &ca, "--cert", &cert, "--key", &key],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
    drop(peer);
    // Without one, the server refuses the handshake.
    let peer = tls_peer(&pki);
    let out = connect_with(&wss(&peer, "localhost"), &["--ca", &ca]);
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.code == Some(3) || out.code == Some(5),
        "{:?}: {}",
        out.code,
        out.stderr
    );
}

#[test]
fn a_missing_ca_file_is_a_clear_error() {
    let out = connect_with("wss://localhost:9/", &["--ca", "/nonexistent/ca.pem"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("wsx: reading certificates from /nonexistent/ca.pem"),
        "{}",
        out.stderr
    );
}

#[test]
fn ping_interval_keeps_a_healthy_connection_alive() {
    let peer = Peer::ws(|ws, seen| {
        let mut pings = 0;
        while pings < 3 {
            match support::record(ws, seen) {
                Some(tungstenite::Message::Ping(_)) => pings += 1,
                Some(_) => {}
                None => return,
            }
        }
        support::close_with(ws, 1000, "");
        record_until_end(ws, seen);
    });
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "--ping-interval",
        "0.05",
        "--ping-timeout",
        "2",
        "-w",
        "-1",
    ])
    .args(["-P", "--format", "human", "--timestamps", "none"]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let stdout = out.stdout_text();
    assert!(
        stdout.contains("> [ping] wsx-1\n< [pong] wsx-1\n"),
        "{stdout}"
    );
    let pings = peer
        .all()
        .iter()
        .filter(|s| matches!(s, support::Seen::Ping(_)))
        .count();
    assert!(pings >= 3, "{pings} pings");
}

#[test]
fn ping_timeout_ends_a_dead_connection_with_5() {
    // Completes the handshake, then reads and answers nothing, pongs included.
    let peer = Peer::tcp(|tcp, _| {
        let ws = tungstenite::accept(tcp).expect("handshake");
        let mut tcp = ws.into_inner();
        let mut buf = [0u8; 256];
        while matches!(std::io::Read::read(&mut tcp, &mut buf), Ok(n) if n > 0) {}
    });
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "--ping-interval",
        "0.1",
        "--ping-timeout",
        "0.3",
        "-w",
        "-1",
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "wsx: no pong within 0.3s (--ping-timeout): the connection is dead"
    );
}

#[test]
fn ping_timeout_needs_an_interval() {
    let mut cmd = wsx();
    cmd.args(["connect", "ws://127.0.0.1:9/", "--ping-timeout", "1"]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

/// A server for a sequence of connections: `Some(location)` answers 302 to it, `None`
/// upgrades and echoes. Returns its port; `plan` gets that port to build absolute locations.
fn redirector(plan: impl FnOnce(u16) -> Vec<Option<String>>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let plan = plan(port);
    std::thread::spawn(move || {
        for step in plan {
            let Ok((mut tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(support::PATIENCE)).unwrap();
            match step {
                Some(location) => {
                    support::read_head(&mut tcp);
                    let answer = format!(
                        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                    );
                    let _ = std::io::Write::write_all(&mut tcp, answer.as_bytes());
                }
                None => {
                    let Ok(mut ws) = tungstenite::accept(tcp) else {
                        return;
                    };
                    while let Ok(msg) = ws.read() {
                        if msg.is_text() && ws.send(msg).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    port
}

fn connect_to(port: u16, args: &[&str]) -> support::Run {
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &format!("ws://127.0.0.1:{port}/start"),
        "-w",
        "0",
    ])
    .args(args);
    run(cmd, b"followed\n")
}

#[test]
fn location_follows_a_relative_redirect() {
    let port = redirector(|_| vec![Some("/real".into()), None]);
    let out = connect_to(port, &["-L"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "followed\n");
}

#[test]
fn without_location_a_redirect_is_a_rejection_with_a_hint() {
    let port = redirector(|_| vec![Some("/real".into())]);
    let out = connect_to(port, &[]);
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("HTTP/1.1 302 Found (use -L to follow it to /real)"),
        "{}",
        out.stderr
    );
}

#[test]
fn credentials_are_not_sent_to_another_host() {
    let (peer, headers) = recording_peer(None);
    let other = peer.url();
    let port = redirector(move |_| vec![Some(other.replace("127.0.0.1", "localhost"))]);
    let out = connect_to(port, &["-L", "--auth", "alice:s3cret", "-H", "X-Keep: yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let headers = headers.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(header(&headers, "x-keep"), Some("yes"));
    assert_eq!(header(&headers, "authorization"), None);
}

#[test]
fn cookies_are_recomputed_for_each_url_and_never_sent_to_another_host() {
    // A cookie file with one cookie for each host: the redirect to localhost gets only the
    // one for localhost; the inline -b and -H Cookie, given for 127.0.0.1, stay behind.
    let dir = tempfile::tempdir().unwrap();
    let jar = write(
        &dir,
        "cookies.txt",
        "127.0.0.1\tFALSE\t/\tFALSE\t0\tfirst\thost\nlocalhost\tFALSE\t/\tFALSE\t0\tsecond\thost\n",
    );
    let (peer, headers) = recording_peer(None);
    let other = peer.url();
    let port = redirector(move |_| vec![Some(other.replace("127.0.0.1", "localhost"))]);
    let out = connect_to(
        port,
        &[
            "-L",
            "-b",
            "sid=secret",
            "-b",
            &jar,
            "-H",
            "Cookie: also=secret",
            "-v",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let headers = headers.recv_timeout(support::PATIENCE).unwrap();
    let cookies: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["second=host"], "{}", out.stderr);
    // The first request, to 127.0.0.1, had all three, in one header.
    assert!(
        out.stderr
            .contains("> cookie: also=secret; sid=secret; first=host\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn cookies_and_credentials_follow_a_redirect_on_the_same_host_and_port() {
    let (peer, headers) = recording_peer(None);
    let port = peer.addr.port();
    let listener_port = redirector(move |_| vec![Some(format!("ws://127.0.0.1:{port}/next"))]);
    let out = connect_to(listener_port, &["-L", "-b", "sid=secret", "-u", "a:b"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let headers = headers.recv_timeout(support::PATIENCE).unwrap();
    // Another port is another origin: nothing goes along.
    assert_eq!(header(&headers, "cookie"), None);
    assert_eq!(header(&headers, "authorization"), None);

    let port = redirector(|_| vec![Some("/real".into()), None]);
    let out = connect_to(port, &["-L", "-b", "sid=kept", "-v"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("> cookie: sid=kept").count(),
        2,
        "the same host and port get it again: {}",
        out.stderr
    );
}

#[test]
fn a_redirect_loop_stops_with_an_error() {
    let port = redirector(|_| vec![Some("/a".into()), Some("/b".into()), Some("/a".into())]);
    let out = connect_to(port, &["-L"]);
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("redirect loop"), "{}", out.stderr);
}

#[test]
fn max_redirects_bounds_the_chain() {
    let port = redirector(|_| vec![Some("/1".into()), Some("/2".into()), Some("/3".into())]);
    let out = connect_to(port, &["-L", "--max-redirects", "2"]);
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("too many redirects (--max-redirects 2)"),
        "{}",
        out.stderr
    );
}

/// A small HTTP CONNECT proxy for tests: records each request line and Proxy-Authorization,
/// answers 407 when `required` credentials are missing, else opens the tunnel and pipes bytes.
fn connect_proxy(
    required: Option<&'static str>,
) -> (u16, mpsc::Receiver<(String, Option<String>)>) {
    connect_proxy_on(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        required,
    )
}

/// [`connect_proxy`] on a given listener.
fn connect_proxy_on(
    listener: std::net::TcpListener,
    required: Option<&'static str>,
) -> (u16, mpsc::Receiver<(String, Option<String>)>) {
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut client) = tcp else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                client.set_read_timeout(Some(support::PATIENCE)).unwrap();
                let head = support::read_head(&mut client);
                let line = head.lines().next().unwrap_or_default().to_string();
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Proxy-Authorization: "))
                    .map(str::to_string);
                let _ = tx.send((line.clone(), auth.clone()));
                if let Some(expected) = required {
                    if auth.as_deref() != Some(expected) {
                        let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
                        return;
                    }
                }
                let target = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let Ok(upstream) = std::net::TcpStream::connect(&target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                relay(client, upstream);
            });
        }
    });
    (port, rx)
}

#[test]
fn proxy_tunnels_with_connect() {
    let peer = Peer::echo();
    let (proxy, seen) = connect_proxy(None);
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "-w",
        "0",
        "--proxy",
        &format!("http://127.0.0.1:{proxy}"),
    ]);
    let out = run(cmd, b"via proxy\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "via proxy\n");
    let (line, auth) = seen.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(
        line,
        format!("CONNECT 127.0.0.1:{} HTTP/1.1", peer.addr.port())
    );
    assert_eq!(auth, None);
}

/// `wsx connect PEER --proxy PROXY` with `input` on stdin.
fn via_proxy(peer: &Peer, proxy: &str, input: &[u8]) -> support::Run {
    let mut cmd = wsx();
    cmd.args(["connect", &peer.url(), "-w", "0", "--proxy", proxy]);
    run(cmd, input)
}

#[test]
fn proxy_authentication() {
    let peer = Peer::echo();
    // "u:p" in base64
    let (proxy, seen) = connect_proxy(Some("Basic dTpw"));
    let out = via_proxy(
        &peer,
        &format!("http://u:p@127.0.0.1:{proxy}"),
        b"authorised\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "authorised\n");
    assert_eq!(
        seen.recv_timeout(support::PATIENCE).unwrap().1.as_deref(),
        Some("Basic dTpw")
    );

    let out = via_proxy(&peer, &format!("http://127.0.0.1:{proxy}"), b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("407 Proxy Authentication Required"),
        "{}",
        out.stderr
    );
    drop(peer); // the second attempt never reached it
}

#[test]
fn proxy_credentials_are_percent_decoded() {
    let peer = Peer::echo();
    // "us@er:p:ss" in base64
    let (proxy, seen) = connect_proxy(Some("Basic dXNAZXI6cDpzcw=="));
    let proxy = format!("http://us%40er:p%3Ass@127.0.0.1:{proxy}");
    let out = via_proxy(&peer, &proxy, b"decoded\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "decoded\n");
    assert_eq!(
        seen.recv_timeout(support::PATIENCE).unwrap().1.as_deref(),
        Some("Basic dXNAZXI6cDpzcw==")
    );
}

#[test]
fn connect_to_an_ipv6_literal_puts_it_in_brackets() {
    // Only the request line matters: the proxy's tunnel to [::1] finds nothing (502, exit 3).
    let (proxy, seen) = connect_proxy(None);
    let port = support::closed_port();
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &format!("ws://[::1]:{port}/"),
        "-w",
        "0",
        "--proxy",
        &format!("http://127.0.0.1:{proxy}"),
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let (line, _) = seen.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(line, format!("CONNECT [::1]:{port} HTTP/1.1"));
}

#[test]
fn a_proxy_url_without_a_port_or_with_80_is_dialled_on_80() {
    // Port 80 is the scheme's default, which `Url` does not report as a port of its own.
    let listener = match std::net::TcpListener::bind("127.0.0.1:80") {
        Ok(listener) => listener,
        // Not allowed here (not root): nothing listens on 80 either, so wsx's refusal must
        // name the port it dialled.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let target = format!("ws://127.0.0.1:{}/", support::closed_port());
            let mut cmd = wsx();
            cmd.args(["connect", &target, "--proxy", "http://127.0.0.1"]);
            let out = run(cmd, b"");
            assert_eq!(out.code, Some(3), "{}", out.stderr);
            assert!(
                out.stderr
                    .contains("could not connect to http://127.0.0.1/ (port 80)"),
                "{}",
                out.stderr
            );
            return;
        }
        Err(e) => panic!("this test needs 127.0.0.1:80 free: {e}"),
    };
    let (_, seen) = connect_proxy_on(listener, None);
    for proxy in ["http://127.0.0.1:80", "http://127.0.0.1"] {
        let peer = Peer::echo();
        let mut cmd = wsx();
        cmd.args(["connect", &peer.url(), "-w", "0", "--proxy", proxy]);
        let out = run(cmd, b"on 80\n");
        assert_eq!(out.code, Some(0), "{proxy}: {}", out.stderr);
        assert_eq!(out.stdout_text(), "on 80\n");
        let (line, _) = seen.recv_timeout(support::PATIENCE).unwrap();
        assert!(line.starts_with("CONNECT 127.0.0.1:"), "{line}");
    }
}

#[test]
fn an_unreachable_proxy_is_exit_3_named_with_its_port_without_credentials() {
    let port = support::closed_port();
    let mut cmd = wsx();
    cmd.args([
        "connect",
        "ws://example.invalid/",
        "-w",
        "0",
        "--proxy",
        &format!("http://u:secret@127.0.0.1:{port}"),
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("could not connect to http://127.0.0.1:{port}/")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret"), "{}", out.stderr);
}

#[test]
fn proxy_from_the_environment_and_no_proxy() {
    let peer = Peer::echo();
    let (proxy, seen) = connect_proxy(None);
    let mut cmd = wsx();
    cmd.args(["connect", &peer.url(), "-w", "0"])
        .env("http_proxy", format!("127.0.0.1:{proxy}"));
    let out = run(cmd, b"env\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(seen
        .recv_timeout(support::PATIENCE)
        .unwrap()
        .0
        .starts_with("CONNECT "));

    let peer = Peer::echo();
    let mut cmd = wsx();
    cmd.args(["connect", &peer.url(), "-w", "0"])
        .env("http_proxy", format!("127.0.0.1:{proxy}"))
        .env("no_proxy", "127.0.0.1");
    let out = run(cmd, b"direct\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "direct\n");
    assert!(seen.try_recv().is_err(), "no_proxy: the proxy saw nothing");
}

#[test]
fn wss_through_a_proxy() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = write(&dir, "ca.pem", &pki.ca_pem);
    let peer = tls_peer(&pki);
    let (proxy, seen) = connect_proxy(None);
    let out = connect_with(
        &wss(&peer, "localhost"),
        &["--ca", &ca, "--proxy", &format!("http://127.0.0.1:{proxy}")],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
    assert_eq!(
        seen.recv_timeout(support::PATIENCE).unwrap().0,
        format!("CONNECT localhost:{} HTTP/1.1", peer.addr.port())
    );
}

/// What one connection of a [`serial_server`] does.
type Handler = Box<dyn FnOnce(&mut support::Ws) + Send>;

/// `wsx connect ws://127.0.0.1:PORT/ --reconnect -w -1`.
fn reconnecting(port: u16) -> std::process::Command {
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &format!("ws://127.0.0.1:{port}/"),
        "--reconnect",
        "-w",
        "-1",
    ]);
    cmd
}

/// Serves one WebSocket connection after another, each with the next handler.
fn serial_server(handlers: Vec<Handler>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for handler in handlers {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(support::PATIENCE)).unwrap();
            let Ok(mut ws) = tungstenite::accept(Box::new(tcp) as Box<dyn support::Io>) else {
                return;
            };
            handler(&mut ws);
        }
    });
    port
}

#[test]
fn reconnect_after_a_drop_sends_the_execute_messages_again() {
    let (tx, logins) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    let port = serial_server(vec![
        Box::new(move |ws| {
            let login = ws.read().unwrap();
            tx.send(format!("first: {login}")).unwrap();
            // Dropped without a Close frame.
        }),
        Box::new(move |ws| {
            let login = ws.read().unwrap();
            tx2.send(format!("second: {login}")).unwrap();
            ws.send(tungstenite::Message::text("welcome back")).unwrap();
            let typed = ws.read().unwrap();
            ws.send(typed).unwrap();
            support::close_with(ws, 1000, "");
            while ws.read().is_ok() {}
        }),
    ]);
    let mut cmd = reconnecting(port);
    cmd.args(["-x", "login"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    assert_eq!(
        logins.recv_timeout(support::PATIENCE).unwrap(),
        "first: login"
    );
    assert_eq!(
        logins.recv_timeout(support::PATIENCE).unwrap(),
        "second: login"
    );
    let (mut stdout, line) = support::read_line_within(child.id(), stdout);
    assert_eq!(line, "welcome back\n");
    let out = support::finish(child, b"typed while back\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // wsx has exited: its stdout is at its end.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "typed while back\n");
    assert!(
        out.stderr
            .contains("without a Close frame (1006); reconnecting in 0.5s"),
        "{}",
        out.stderr
    );
}

#[test]
fn input_while_away_waits_for_the_new_connection() {
    let (tx, seen) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    let port = serial_server(vec![
        Box::new(move |ws| {
            tx.send(ws.read().unwrap().to_string()).unwrap(); // "one", then dropped
        }),
        Box::new(move |ws| {
            tx2.send(ws.read().unwrap().to_string()).unwrap(); // typed while away
            support::close_with(ws, 1000, "");
            while ws.read().is_ok() {}
        }),
    ]);
    let mut cmd = reconnecting(port);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::io::Write::write_all(&mut stdin, b"one\n").unwrap();
    assert_eq!(seen.recv_timeout(support::PATIENCE).unwrap(), "one");
    let (_stderr, notice) = support::read_line_within(child.id(), stderr);
    assert!(notice.contains("reconnecting in"), "{notice}");
    // wsx knows the connection is gone: this line must wait for the next one.
    std::io::Write::write_all(&mut stdin, b"two\n").unwrap();
    assert_eq!(seen.recv_timeout(support::PATIENCE).unwrap(), "two");
    child.stdin = Some(stdin);
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[cfg(unix)] // signals
#[test]
fn ctrl_c_ends_a_reconnecting_client_at_once() {
    // The first connection drops; the second attempt's handshake is never answered (the
    // default handshake timeout is 30 s, longer than the test's patience).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (attempt_tx, attempts) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let ws = tungstenite::accept(tcp).unwrap();
        drop(ws); // without a Close frame
        let (silent, _) = listener.accept().unwrap();
        attempt_tx.send(()).unwrap();
        std::thread::sleep(support::PATIENCE * 2); // the behaviour under test: a server that never answers
        drop(silent);
    });
    let mut cmd = reconnecting(port);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    attempts
        .recv_timeout(support::PATIENCE)
        .expect("the second attempt");
    support::interrupt(child.id());
    let out = support::finish(child, b"");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(
        out.stderr.ends_with("wsx: connection lost: the server closed the TCP connection without a Close frame (1006)\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_clean_close_is_not_reconnected() {
    let port = serial_server(vec![Box::new(|ws| {
        support::close_with(ws, 1000, "");
        while ws.read().is_ok() {}
    })]);
    let out = run(reconnecting(port), b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("reconnecting"), "{}", out.stderr);
}

#[test]
fn connect_timeout_bounds_a_handshake_that_never_comes() {
    let peer = Peer::tcp(|mut tcp, _| {
        // Accept, read the request, answer nothing until wsx gives up.
        let mut buf = [0u8; 1024];
        while matches!(std::io::Read::read(&mut tcp, &mut buf), Ok(n) if n > 0) {}
    });
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "-w",
        "0",
        "--connect-timeout",
        "0.3",
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        format!("wsx: no handshake response from {} within 0.3s", peer.url())
    );
}

/// A server that reads the request and then sends a 101 one byte every 300 ms: each read
/// wsx makes gets something, so only a deadline for the whole dial stops it.
fn trickling_server() -> Peer {
    Peer::tcp(|mut tcp, _| {
        use std::io::Write;
        support::read_head(&mut tcp);
        let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for byte in answer.bytes() {
            if tcp.write_all(&[byte]).is_err() {
                return; // wsx gave up
            }
            std::thread::sleep(std::time::Duration::from_millis(300)); // the behaviour under test
        }
    })
}

#[test]
fn connect_timeout_is_a_deadline_for_the_whole_dial() {
    let peer = trickling_server();
    let started = std::time::Instant::now();
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "-w",
        "0",
        "--connect-timeout",
        "0.5",
    ]);
    let out = run(cmd, b"");
    // Bounded by the deadline (0.5 s) plus start-up, not by the 30 s the answer takes.
    let took = started.elapsed();
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    assert_eq!(
        out.stderr.trim_end(),
        format!("wsx: no handshake response from {} within 0.5s", peer.url())
    );
}

#[test]
fn max_time_is_a_deadline_for_the_whole_dial() {
    let peer = trickling_server();
    let started = std::time::Instant::now();
    let mut cmd = wsx();
    cmd.args([
        "connect",
        &peer.url(),
        "-w",
        "0",
        "--connect-timeout",
        "20",
        "-m",
        "0.5",
    ]);
    let out = run(cmd, b"");
    let took = started.elapsed();
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    assert!(
        out.stderr
            .starts_with("wsx: timed out after 0.5s (--max-time) connecting: "),
        "{}",
        out.stderr
    );
}

#[test]
fn tls_sends_sni_and_offers_http_1_1_by_alpn() {
    let pki = support::TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = write(&dir, "ca.pem", &pki.ca_pem);
    let mut config = (*pki.server).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = std::sync::Arc::new(config);
    let (tx, rx) = mpsc::channel();
    let peer = Peer::tcp(move |tcp, seen| {
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        let mut tcp = tcp;
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                return;
            }
        }
        let _ = tx.send((
            conn.server_name().map(str::to_string),
            conn.alpn_protocol().map(<[u8]>::to_vec),
        ));
        let stream = rustls::StreamOwned::new(conn, tcp);
        if let Ok(mut ws) = tungstenite::accept(Box::new(stream) as Box<dyn support::Io>) {
            record_until_end(&mut ws, seen);
        }
    });
    let out = connect_with(&wss(&peer, "localhost"), &["--ca", &ca]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (sni, alpn) = rx.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

/// Splits a command line as a POSIX shell would for what browsers' "Copy as cURL" produces:
/// single quotes, and a backslash at the end of a line.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            '\\' if !quoted && chars.peek() == Some(&'\n') => {
                chars.next();
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Runs a browser's "Copy as cURL" command line with `curl` replaced by `wsx connect`, against
/// a recording peer; returns wsx's run and the request headers the peer saw.
fn pasted(command: &str, extra: &[&str]) -> (support::Run, Vec<(String, String)>) {
    let (peer, headers) = recording_peer(None);
    let command = command.replace("PORT", &peer.addr.port().to_string());
    let words = shell_words(&command);
    assert_eq!(words[0], "curl");
    let mut cmd = wsx();
    cmd.arg("connect")
        .args(&words[1..])
        .args(extra)
        .args(["-w", "0"]);
    let out = run(cmd, b"");
    let seen = headers.recv_timeout(support::PATIENCE).unwrap();
    (out, seen)
}

/// What every pasted command must give the server: its own headers, the browser's, and one
/// fresh handshake.
fn assert_browser_request(headers: &[(String, String)], pasted_key: &str) {
    let count = |name: &str| headers.iter().filter(|(n, _)| n == name).count();
    assert_eq!(header(headers, "origin"), Some("http://localhost:5173"));
    assert_eq!(
        header(headers, "cookie"),
        Some("session=abc123; theme=dark")
    );
    assert!(header(headers, "user-agent")
        .unwrap()
        .starts_with("Mozilla/5.0"));
    assert!(header(headers, "accept-language").is_some());
    assert!(header(headers, "pragma").is_some());
    for name in [
        "sec-websocket-key",
        "sec-websocket-version",
        "upgrade",
        "connection",
        "host",
    ] {
        assert_eq!(count(name), 1, "one {name}: {headers:?}");
    }
    assert_ne!(
        header(headers, "sec-websocket-key"),
        Some(pasted_key),
        "a fresh key"
    );
    // The pasted offer is left out; wsx makes its own, for what it speaks.
    assert_eq!(
        count("sec-websocket-extensions"),
        1,
        "one extension offer: {headers:?}"
    );
    assert_eq!(
        header(headers, "sec-websocket-extensions"),
        Some("permessage-deflate; client_max_window_bits")
    );
}

#[test]
fn chromium_copy_as_curl_just_works() {
    // Chromium's DevTools, Network panel, a WebSocket request, "Copy as cURL (bash)".
    let command = r#"curl 'ws://127.0.0.1:PORT/chat?room=1' \
  -H 'Upgrade: websocket' \
  -H 'Origin: http://localhost:5173' \
  -H 'Cache-Control: no-cache' \
  -H 'Accept-Language: en-US,en;q=0.9' \
  -H 'Pragma: no-cache' \
  -H 'Connection: Upgrade' \
  -H 'Sec-WebSocket-Key: yT2rD9xvd7GhnN0hO1FBdg==' \
  -H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' \
  -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits' \
  -b 'session=abc123; theme=dark' \
  --compressed"#;
    let (out, headers) = pasted(command, &["-v"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_browser_request(&headers, "yT2rD9xvd7GhnN0hO1FBdg==");
    for name in [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
    ] {
        let note = format!("wsx: -H {name}: left out, the WebSocket handshake sets it");
        assert!(out.stderr.contains(&note), "{note}: {}", out.stderr);
    }
}

#[test]
fn firefox_copy_as_curl_just_works() {
    // Firefox's Network panel, a WebSocket request, "Copy as cURL (POSIX)".
    let command = "curl 'ws://127.0.0.1:PORT/chat?room=1' -H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' -H 'Accept: */*' -H 'Accept-Language: en-US,en;q=0.5' -H 'Accept-Encoding: gzip, deflate, br, zstd' -H 'Sec-WebSocket-Version: 13' -H 'Origin: http://localhost:5173' -H 'Sec-WebSocket-Extensions: permessage-deflate' -H 'Sec-WebSocket-Key: 8Bv3pWmQb0sQq2X5c4Yd1A==' -H 'Connection: keep-alive, Upgrade' -H 'Cookie: session=abc123; theme=dark' -H 'Sec-Fetch-Dest: empty' -H 'Sec-Fetch-Mode: websocket' -H 'Sec-Fetch-Site: same-origin' -H 'Pragma: no-cache' -H 'Cache-Control: no-cache' -H 'Upgrade: websocket'";
    let (out, headers) = pasted(command, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "", "the notes are for -v");
    assert_browser_request(&headers, "8Bv3pWmQb0sQq2X5c4Yd1A==");
    assert_eq!(header(&headers, "sec-fetch-mode"), Some("websocket"));
}

#[test]
fn curl_user_agent_user_and_cookie_file() {
    let dir = tempfile::tempdir().unwrap();
    let jar = write(
        &dir,
        "cookies.txt",
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tfrom_jar\tyes\nother.test\tFALSE\t/\tFALSE\t0\tnot\tsent\n",
    );
    let (peer, headers) = recording_peer(None);
    let mut cmd = wsx();
    cmd.args(["connect", &peer.url(), "-w", "0"]).args([
        "-A",
        "wsx-test/1",
        "-u",
        "ann:pw",
        "-b",
        &jar,
        "-b",
        "inline=1",
    ]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let headers = headers.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(header(&headers, "user-agent"), Some("wsx-test/1"));
    assert_eq!(header(&headers, "authorization"), Some("Basic YW5uOnB3"));
    assert_eq!(header(&headers, "cookie"), Some("from_jar=yes; inline=1"));

    let mut cmd = wsx();
    cmd.args(["connect", "ws://127.0.0.1:9/", "-b", "/no/such/jar"]);
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(2), "a usage error: {}", out.stderr);
    assert!(
        out.stderr.contains("cannot read cookie file /no/such/jar"),
        "{}",
        out.stderr
    );
}

/// A SOCKS5 proxy for one connection (RFC 1928, with RFC 1929 authentication when
/// `required` is set). It reports the address it was asked for (`domain:port` or `ip:port`),
/// answers with `reply` (0 is success), and then relays bytes both ways.
fn socks5_proxy(
    required: Option<(&'static str, &'static str)>,
    reply: u8,
) -> (u16, mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        client.set_read_timeout(Some(support::PATIENCE)).unwrap();
        let mut head = [0u8; 2];
        client.read_exact(&mut head).unwrap();
        let mut methods = vec![0u8; usize::from(head[1])];
        client.read_exact(&mut methods).unwrap();
        if let Some((user, pass)) = required {
            if !methods.contains(&2) {
                client.write_all(&[5, 0xff]).unwrap();
                return;
            }
            client.write_all(&[5, 2]).unwrap();
            let mut version_len = [0u8; 2];
            client.read_exact(&mut version_len).unwrap();
            let mut given_user = vec![0u8; usize::from(version_len[1])];
            client.read_exact(&mut given_user).unwrap();
            let mut len = [0u8; 1];
            client.read_exact(&mut len).unwrap();
            let mut given_pass = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut given_pass).unwrap();
            let ok = given_user == user.as_bytes() && given_pass == pass.as_bytes();
            client.write_all(&[1, if ok { 0 } else { 1 }]).unwrap();
            if !ok {
                let _ = tx.send("refused credentials".to_string());
                return;
            }
        } else {
            client.write_all(&[5, 0]).unwrap();
        }
        let mut request = [0u8; 4];
        client.read_exact(&mut request).unwrap();
        let host = match request[3] {
            1 => {
                let mut ip = [0u8; 4];
                client.read_exact(&mut ip).unwrap();
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let mut len = [0u8; 1];
                client.read_exact(&mut len).unwrap();
                let mut name = vec![0u8; usize::from(len[0])];
                client.read_exact(&mut name).unwrap();
                String::from_utf8(name).unwrap()
            }
            other => panic!("address type {other}"),
        };
        let mut port = [0u8; 2];
        client.read_exact(&mut port).unwrap();
        let port = u16::from_be_bytes(port);
        let _ = tx.send(format!("{host}:{port}"));
        if reply != 0 {
            client
                .write_all(&[5, reply, 0, 1, 0, 0, 0, 0, 0, 0])
                .unwrap();
            return;
        }
        let target = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
        relay(client, target);
    });
    (port, rx)
}

/// A proxy's tunnel: copies bytes both ways until each side ends, passing each end on.
fn relay(client: std::net::TcpStream, upstream: std::net::TcpStream) {
    client.set_read_timeout(None).unwrap();
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (mut c1, mut u1) = (client, upstream);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut c1, &mut u1);
    let _ = u1.shutdown(std::net::Shutdown::Write);
}

#[test]
fn socks5h_lets_the_proxy_resolve_the_name() {
    let peer = Peer::echo();
    let (proxy, asked) = socks5_proxy(None, 0);
    let url = format!("ws://localhost:{}/", peer.addr.port());
    let out = connect_with(&url, &["--proxy", &format!("socks5h://127.0.0.1:{proxy}")]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "secure\n");
    let asked = asked.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(
        asked,
        format!("localhost:{}", peer.addr.port()),
        "the name, unresolved"
    );
}

#[test]
fn socks5_resolves_here_and_logs_in() {
    let peer = Peer::echo();
    let (proxy, asked) = socks5_proxy(Some(("ann", "p:ss")), 0);
    let url = format!("ws://localhost:{}/", peer.addr.port());
    let proxy = format!("socks5://ann:p%3Ass@127.0.0.1:{proxy}");
    let out = connect_with(&url, &["--proxy", &proxy]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let asked = asked.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(
        asked,
        format!("127.0.0.1:{}", peer.addr.port()),
        "an address"
    );
}

#[test]
fn socks5_failures_are_in_words_and_exit_3() {
    let (proxy, _asked) = socks5_proxy(None, 5);
    let out = connect_with(
        "ws://127.0.0.1:9/",
        &["--proxy", &format!("socks5h://127.0.0.1:{proxy}")],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the SOCKS5 proxy could not connect to 127.0.0.1:9: connection refused"),
        "{}",
        out.stderr
    );

    let (proxy, _asked) = socks5_proxy(Some(("ann", "right")), 0);
    let out = connect_with(
        "ws://127.0.0.1:9/",
        &["--proxy", &format!("socks5://ann:wrong@127.0.0.1:{proxy}")],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the user name and password"),
        "{}",
        out.stderr
    );

    let (proxy, _asked) = socks5_proxy(Some(("ann", "right")), 0);
    let out = connect_with(
        "ws://127.0.0.1:9/",
        &["--proxy", &format!("socks5://127.0.0.1:{proxy}")],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("requires authentication"),
        "{}",
        out.stderr
    );
}

#[test]
fn socks5_from_all_proxy_as_curl_reads_it() {
    let peer = Peer::echo();
    let (proxy, asked) = socks5_proxy(None, 0);
    let mut cmd = wsx();
    cmd.args(["connect", &peer.url(), "-w", "0"])
        .env("all_proxy", format!("socks5h://127.0.0.1:{proxy}"));
    let out = run(cmd, b"via socks\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "via socks\n");
    assert!(asked.recv_timeout(support::PATIENCE).is_ok());
}

#[cfg(unix)]
#[test]
#[allow(clippy::result_large_err)] // tungstenite's callback returns its error response by value
fn unix_socket_connects_there_with_the_urls_host_and_path() {
    // Like Docker's attach endpoint: the socket is the server, the URL names the request.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(support::PATIENCE)).unwrap();
        let mut ws = tungstenite::accept_hdr(stream, |req: &Request, resp: Response| {
            let host = req
                .headers()
                .get("host")
                .map(|h| h.to_str().unwrap().to_string());
            let _ = tx.send((req.uri().to_string(), host));
            Ok(resp)
        })
        .unwrap();
        while let Ok(msg) = ws.read() {
            if msg.is_text() {
                ws.send(msg).unwrap();
            }
        }
    });
    let mut cmd = wsx();
    cmd.args([
        "connect",
        "ws://localhost/containers/abc/attach/ws?stream=1",
        "--unix-socket",
    ])
    .arg(&path)
    .args(["-w", "0"]);
    let out = run(cmd, b"over a unix socket\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "over a unix socket\n");
    let (uri, host) = rx.recv_timeout(support::PATIENCE).unwrap();
    assert_eq!(uri, "/containers/abc/attach/ws?stream=1");
    assert_eq!(host.as_deref(), Some("localhost"));
    server.join().unwrap();

    let mut cmd = wsx();
    cmd.args(["connect", "ws://localhost/", "--unix-socket"])
        .arg(dir.path().join("nothing.sock"));
    let out = run(cmd, b"");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("nothing.sock"), "{}", out.stderr);
}
