//! permessage-deflate (RFC 7692) between wsx and itself, and against raw peers that send what
//! a compliant or a broken implementation sends: compressed frames pipelined with the
//! handshake, an answer that was never offered, a frame that inflates past the limit, data
//! that is not deflate at all.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::Sender;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use support::{Peer, Seen, Server, PATIENCE};

const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A message compressed as RFC 7692 says: sync-flushed, without the final 00 00 ff ff.
fn deflate(z: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    z.compress_vec(data, &mut out, FlushCompress::Sync)
        .expect("compressing");
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(z: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 16);
    z.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .expect("inflating");
    out
}

/// One frame: `first` is the first byte (FIN, RSV1, opcode); masked when a key is given.
fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=65535 => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one frame: its first byte and its (unmasked) payload.
fn read_frame(tcp: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).expect("a frame header");
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        tcp.read_exact(&mut b).expect("length");
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        tcp.read_exact(&mut b).expect("length");
        len = u64::from_be_bytes(b);
    }
    let mut key = [0u8; 4];
    let masked = head[1] & 0x80 != 0;
    if masked {
        tcp.read_exact(&mut key).expect("mask");
    }
    let mut payload = vec![0u8; len as usize];
    tcp.read_exact(&mut payload).expect("payload");
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    (head[0], payload)
}

/// Reads an HTTP head (through the empty line) and returns it with what followed it.
fn read_head(tcp: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).expect("reading a head");
        assert!(n > 0, "closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A server that answers the handshake with `extensions`, then writes `after` in the same
/// write as the 101, then hands the socket to `f`.
fn raw_server<F>(extensions: &'static str, after: Vec<u8>, f: F) -> Peer
where
    F: FnOnce(&mut TcpStream, &Sender<Seen>) + Send + 'static,
{
    Peer::tcp(move |mut tcp, seen| {
        let (head, _) = read_head(&mut tcp);
        let key = header(&head, "sec-websocket-key").expect("a key");
        let offer = header(&head, "sec-websocket-extensions").unwrap_or("");
        seen.send(Seen::Text(offer.to_string())).expect("reporting");
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
        );
        if !extensions.is_empty() {
            answer.push_str(&format!("Sec-WebSocket-Extensions: {extensions}\r\n"));
        }
        answer.push_str("\r\n");
        let mut bytes = answer.into_bytes();
        bytes.extend_from_slice(&after);
        tcp.write_all(&bytes).expect("answering");
        f(&mut tcp, seen);
    })
}

/// Reads frames until a Close, reports its code and answers it.
fn close_back(tcp: &mut TcpStream, seen: &Sender<Seen>) {
    loop {
        let (first, payload) = read_frame(tcp);
        if first & 0x0f == 0x8 {
            let code = payload
                .get(..2)
                .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
            let _ = seen.send(Seen::Close(code, String::new()));
            let _ = tcp.write_all(&frame(0x88, &payload, None));
            return;
        }
    }
}

fn connect(url: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = support::wsx();
    cmd.args(["connect", url]).args(args);
    cmd
}

/// `wsx connect URL` in human format without timestamps, plus `args`.
fn connect_human(url: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = connect(url, &["--format", "human", "--timestamps", "none"]);
    cmd.args(args);
    cmd
}

#[test]
fn connect_and_listen_agree_and_show_it() {
    let mut server = Server::start(&["--echo"]);
    let out = support::run(
        connect_human(&server.url, &["-v", "--count", "2"]),
        b"hello hello hello hello\n{\"a\": \"json json json json\"}\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let stdout = out.stdout_text();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "connected to {} (permessage-deflate; client_max_window_bits=12)",
            server.url
        )
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("> hello hello hello hello (23 B, ")
                && l.ends_with(" B compressed)")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("< hello hello hello hello (23 B, ")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("< {\"a\": \"json json json json\"} (28 B, ")),
        "{stdout}"
    );
    assert!(out
        .stderr
        .contains("< sec-websocket-extensions: permessage-deflate"));
    server.expect_stdout("#1 connected from 127.0.0.1:");
    let line = server.expect_stdout("#1 < hello hello");
    assert_eq!(line, "#1 < hello hello hello hello", "no sizes without -v");
}

#[test]
fn jsonl_open_names_the_extension() {
    let server = Server::start(&["--echo"]);
    let out = support::run(
        connect(
            &server.url,
            &["--format", "jsonl", "--timestamps", "none", "--count", "1"],
        ),
        b"hi\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let first = out
        .stdout_text()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        first.contains("\"extensions\":\"permessage-deflate; client_max_window_bits=12\""),
        "{first}"
    );
}

#[test]
fn no_compression_on_either_side_leaves_it_out() {
    // The client does not offer it.
    let mut server = Server::start(&["--echo", "-v"]);
    let out = support::run(
        connect_human(&server.url, &["--no-compression", "--count", "1"]),
        b"plain\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out
        .stdout_text()
        .starts_with(&format!("connected to {}\n", server.url)));
    server.expect_stderr("Sec-WebSocket-Key");
    assert!(!server
        .stderr_so_far()
        .to_ascii_lowercase()
        .contains("sec-websocket-extensions"));

    // The server declines the offer.
    let server = Server::start(&["--echo", "--no-compression"]);
    let out = support::run(
        connect_human(&server.url, &["--count", "1", "-v"]),
        b"plain\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with(&format!("connected to {}\n", server.url)),
        "{stdout}"
    );
    assert!(stdout.contains("< plain\n"), "{stdout}");
}

#[test]
fn frames_sent_with_the_101_are_inflated() {
    let mut z = Compress::new(Compression::default(), false);
    let mut after = frame(0xc1, &deflate(&mut z, b"greetings, greetings"), None);
    // The second refers back to the first (context takeover).
    after.extend(frame(0xc1, &deflate(&mut z, b"greetings, greetings"), None));
    after.extend(frame(0x81, b"uncompressed", None));
    let peer = raw_server("permessage-deflate", after, close_back);
    let out = support::run(connect(&peer.url(), &["--count", "3"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout_text(),
        "greetings, greetings\ngreetings, greetings\nuncompressed\n"
    );
    assert_eq!(peer.next(), Seen::Text(OFFER.into()));
    assert_eq!(peer.next(), Seen::Close(1000, String::new()));
}

#[test]
fn the_client_compresses_within_the_window_the_server_sets() {
    let peer = raw_server(
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=9",
        Vec::new(),
        |tcp, seen| {
            let mut z = Decompress::new_with_window_bits(false, 9);
            for _ in 0..2 {
                let (first, payload) = read_frame(tcp);
                assert_eq!(first, 0xc1, "FIN, RSV1, text");
                let text = inflate(&mut z, &payload);
                seen.send(Seen::Text(String::from_utf8(text).expect("UTF-8")))
                    .expect("reporting");
                // No context takeover: each message inflates on its own.
                z.reset(false);
            }
            close_back(tcp, seen);
        },
    );
    let line = "abcdefgh".repeat(200);
    let out = support::run(
        connect(&peer.url(), &["-w", "0"]),
        format!("{line}\n{line}\n").as_bytes(),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(peer.next(), Seen::Text(OFFER.into()));
    assert_eq!(peer.next(), Seen::Text(line.clone()));
    assert_eq!(peer.next(), Seen::Text(line));
}

#[test]
fn an_answer_that_was_not_offered_fails_the_handshake() {
    for answer in [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    ] {
        let peer = raw_server(answer, Vec::new(), |_, _| {});
        let out = support::run(connect(&peer.url(), &["-w", "0"]), b"");
        assert_eq!(out.code, Some(4), "{answer}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("wsx: handshake with "),
            "{}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    // Nothing was offered at all.
    let peer = raw_server("permessage-deflate", Vec::new(), |_, _| {});
    let out = support::run(connect(&peer.url(), &["-w", "0", "--no-compression"]), b"");
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("none was offered"), "{}", out.stderr);
    assert_eq!(peer.next(), Seen::Text(String::new()));
}

#[test]
fn a_frame_that_inflates_past_the_limit_closes_with_1009() {
    let mut z = Compress::new(Compression::default(), false);
    let bomb = deflate(&mut z, &vec![b'a'; 8 << 20]);
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let peer = raw_server("permessage-deflate", frame(0xc1, &bomb, None), close_back);
    let out = support::run(
        connect(&peer.url(), &["--max-message-size", "1000000", "-w", "-1"]),
        b"",
    );
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains(
            "message too big: it inflates past the limit of 1000000 bytes; closed with 1009"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(peer.next(), Seen::Text(OFFER.into()));
    assert_eq!(peer.next(), Seen::Close(1009, String::new()));
}

/// A raw client: the handshake offering `offer`, with `after` in the same write. Returns the
/// connection (what followed the answer's head first) and the head.
fn raw_client(port: u16, offer: &str, after: &[u8]) -> (impl Read, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut bytes = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(after);
    tcp.write_all(&bytes).expect("requesting");
    let (head, rest) = read_head(&mut tcp);
    (std::io::Cursor::new(rest).chain(tcp), head)
}

#[test]
fn listen_grants_what_the_offer_asks_and_inflates_pipelined_frames() {
    let mut server = Server::start(&["--echo"]);
    let mut z = Compress::new(Compression::default(), false);
    let key = Some([1, 2, 3, 4]);
    let text = b"echo me, echo me, echo me".repeat(4);
    let mut after = frame(0xc1, &deflate(&mut z, &text), key);
    after.extend(frame(0xc1, &deflate(&mut z, &text), key));
    let (mut tcp, head) = raw_client(
        server.port,
        "x-unknown, permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
        &after,
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        header(&head, "sec-websocket-extensions"),
        Some(
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=12"
        )
    );
    let mut d = Decompress::new_with_window_bits(false, 10);
    let (first, one) = read_frame(&mut tcp);
    assert_eq!(first, 0xc1);
    assert_eq!(inflate(&mut d, &one), text);
    let (_, two) = read_frame(&mut tcp);
    // The server took no context over: the same message compresses the same way again.
    assert_eq!(one, two);
    server.expect_stdout(
        "(permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12)",
    );
}

#[test]
fn invalid_compressed_data_closes_that_client_with_1007() {
    let mut server = Server::start(&["--echo"]);
    let mut good = server.client();
    // Ids go in the order handshakes complete: the good client is #1 once it shows.
    server.expect_stdout("#1 connected");
    let (mut tcp, _) = raw_client(
        server.port,
        OFFER,
        &frame(0xc1, &[0xff; 8], Some([9, 9, 9, 9])),
    );
    let (first, payload) = read_frame(&mut tcp);
    assert_eq!(first, 0x88, "a Close");
    assert_eq!(&payload[..2], &1007u16.to_be_bytes());
    let notice = server.expect_stderr("closed with 1007");
    assert!(
        notice.starts_with("wsx: #2 invalid compressed data"),
        "{notice}"
    );
    // Others are not affected.
    good.send(tungstenite::Message::text("still here"))
        .expect("sending");
    server.expect_stdout("< still here");
}
