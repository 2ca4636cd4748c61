//! `wsx connect` against real endpoints' demands: request headers, authentication,
//! subprotocols, and the handshake shown with -v, against in-process peers on 127.0.0.1.

mod support;

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
            cmd.args(["connect", &url]);
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
            cmd.args(["connect", &peer.url(), "-s", "chat"]);
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
