//! Entry points for the fuzz targets under `fuzz/` (cargo-fuzz, libFuzzer): one function per
//! parser of bytes that wsx did not write, each taking the fuzzer's bytes as they come. Every
//! function either returns or panics; a panic is a finding. Besides "never panics, never hangs",
//! some check a property: a `--static` path never resolves outside its folder, a relayed
//! request never changes the upstream's host, an agreed extension reads back as itself,
//! compressed messages come back whole, and wsx's inflater agrees with zlib's.
//!
//! Inputs that once crashed one of these are replayed by plain `cargo test` (`tests` below,
//! from `fuzz/regressions/`), so a finding stays fixed without a nightly toolchain.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tungstenite::protocol::Role;

use crate::client::cookies::{self, CookieArg};
use crate::command::{self, LineMode};
use crate::deflate::{self, Compressor, Inflater, Params};
use crate::server::gate::{self, Policy};

/// The peer's bytes as a socket: read in pieces of at most `piece` bytes, writes taken and
/// dropped.
struct Peer<'a> {
    data: &'a [u8],
    piece: usize,
}

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.piece).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Splits off the first byte (the target's own choices), the rest being the input proper.
fn choice(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, data),
    }
}

/// What an inflater hands tungstenite, read to the end or to its first error: the plain
/// frame bytes, and the close code of the failure if there was one.
fn drain(inflater: &mut Inflater, socket: &mut impl Read) -> (Vec<u8>, Option<u16>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Every read either makes output, consumes input, or ends: bounded by the input's size
    // times the largest expansion a message may have, which the inflater itself bounds.
    loop {
        match inflater.read(socket, &mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let code = deflate::Error::of(&e).map(|e| e.code);
                assert!(
                    code.is_some() || e.kind() != io::ErrorKind::WouldBlock,
                    "the inflater blocked on a socket that never blocks"
                );
                return (out, code.or(Some(0)));
            }
        }
    }
}

/// Appends an unmasked frame (a server's) whose first byte is `first` (FIN, RSV1, opcode).
fn push_frame(wire: &mut Vec<u8>, first: u8, payload: &[u8]) {
    wire.push(first);
    match payload.len() {
        n if n < 126 => wire.push(n as u8),
        n => match u16::try_from(n) {
            Ok(n) => {
                wire.push(126);
                wire.extend_from_slice(&n.to_be_bytes());
            }
            Err(_) => {
                wire.push(127);
                wire.extend_from_slice(&(n as u64).to_be_bytes());
            }
        },
    }
    wire.extend_from_slice(payload);
}

/// An unmasked frame on its own.
#[cfg(test)]
fn frame_unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    push_frame(&mut frame, first, payload);
    frame
}

/// A client's frame: `first` (FIN, RSV, opcode), masked with a fixed key.
#[cfg(test)]
pub(crate) fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0xa1, 0x07, 0x5c, 0xe2];
    let mut frame = frame_unmasked(first, payload);
    frame[1] |= 0x80;
    let at = frame.len() - payload.len();
    frame.splice(at..at, MASK);
    for (i, b) in frame[at + 4..].iter_mut().enumerate() {
        *b ^= MASK[i % 4];
    }
    frame
}

/// The `(opcode, fin, payload)` of each plain frame the inflater handed on (it writes them,
/// so they are well formed; a client's mask is kept as zeros).
fn frames(mut bytes: &[u8]) -> Vec<(u8, bool, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0f);
        let masked = bytes[1] & 0x80 != 0;
        let (len, mut at) = match bytes[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&bytes[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(n)).expect("a frame that fits"),
                    10,
                )
            }
            n => (usize::from(n), 2),
        };
        if masked {
            at += 4;
        }
        frames.push((opcode, fin, bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    assert!(bytes.is_empty(), "the inflater handed on a partial frame");
    frames
}

/// The inflater and frame reader (`deflate/inflate.rs`) on any bytes from the network: the
/// first byte picks the peer's window and the message size limit, the rest is the socket,
/// read in pieces of one to 64 bytes.
pub fn inflate(data: &[u8]) {
    let (first, rest) = choice(data);
    let (bits, limit) = (9 + first % 7, 1 << (8 + (first >> 3) % 16));
    let (piece, rest) = choice(rest);
    let mut socket = Peer {
        data: rest,
        piece: usize::from(piece % 64) + 1,
    };
    let mut inflater = Inflater::new(Vec::new(), limit, bits);
    // Malformed frames pass through byte for byte (tungstenite rejects them), so the output
    // is not parsed here: what counts is that the reader ends, in bounded memory.
    let _ = drain(&mut inflater, &mut socket);
    while inflater.next_size().is_some() {}
}

/// The peer's bytes as a non-blocking socket they arrive at over time: reads stop at what
/// has come (`WouldBlock`), and end at the end once the peer has shut its side; writes are
/// taken and dropped. (Unix only, as [`server_frames`], its one user.)
#[cfg(unix)]
struct Arriving<'a> {
    data: &'a [u8],
    at: usize,
    come: usize,
    shut: bool,
}

#[cfg(unix)]
impl Read for Arriving<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.come && !self.shut {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.come - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(unix)]
impl Write for Arriving<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Differential: a server's frame reading (whole simple frames past tungstenite, the rest
/// through it, `stream/frames.rs`) against tungstenite alone, on any bytes a client sends,
/// arriving in pieces. After each piece, both must have given the same messages, every one
/// that the bytes so far complete (a message held back until more bytes come would stall a
/// client), and end the same way. The first byte picks the size of the pieces and the
/// message size limit. The server's connection is a real socket pair.
#[cfg(unix)]
pub fn server_frames(data: &[u8]) {
    use crate::engine::{Conn, Incoming};
    use crate::stream::{Socket, Stream, Wire};
    use tungstenite::protocol::WebSocketConfig;
    use tungstenite::WebSocket;

    let (first, input) = choice(data);
    let piece = [1, 2, 3, 7, 64, 511, 4096, 1 << 16][usize::from(first & 7)];
    let max = [64 << 20, 0, 125, 1000][usize::from((first >> 3) & 3)];
    let config = WebSocketConfig::default()
        .read_buffer_size(crate::stream::SERVER_READ_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));

    // tungstenite alone.
    let arriving = Arriving {
        data: input,
        at: 0,
        come: 0,
        shut: false,
    };
    let mut reference = WebSocket::from_raw_socket(arriving, Role::Server, Some(config));
    let mut expected = Vec::new();
    // A server's connection.
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    ours.set_nonblocking(true).expect("non-blocking");
    let (wire, _) = Wire::server(Stream::Plain(Socket::nonblocking(ours)), Vec::new());
    let ws = WebSocket::from_raw_socket(wire, Role::Server, Some(config));
    let mut conn = Conn::new(ws).expect("a connection");
    conn.send_directly();
    let mut got = Vec::new();

    let mut pieces = input.chunks(piece);
    let mut ended = false;
    while !ended {
        // The next piece comes, or the end.
        let shut = match pieces.next() {
            Some(bytes) => {
                theirs.write_all(bytes).expect("sending a piece");
                reference.get_mut().come += bytes.len();
                false
            }
            None => {
                theirs.shutdown(std::net::Shutdown::Write).expect("the end");
                reference.get_mut().shut = true;
                true
            }
        };
        loop {
            match reference.read() {
                Ok(msg) => expected.push(format!("{msg:?}")),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::ConnectionClosed) => {
                    expected.push("closed".into());
                    break;
                }
                Err(e) => {
                    expected.push(format!("failed: {e}"));
                    break;
                }
            }
        }
        // Until it would block twice in a row: the first may be the socket's shortcut (a
        // short read emptied the kernel's queue), where the poller would report it again.
        let mut idle = 0;
        while idle < 2 {
            match conn.read() {
                Incoming::Message(msg, _) => {
                    got.push(format!("{msg:?}"));
                    idle = 0;
                }
                Incoming::Closed => {
                    got.push("closed".into());
                    ended = true;
                    break;
                }
                Incoming::Failed(e) => {
                    got.push(format!("failed: {e}"));
                    ended = true;
                    break;
                }
                Incoming::Idle => {
                    idle += 1;
                    // The replies (pongs, a Close) go out as a server's would, never read.
                    let _ = conn.flush();
                }
            }
        }
        assert_eq!(
            got, expected,
            "the server's reading differs from tungstenite's"
        );
        assert!(!shut || ended, "a read at the end never ended");
    }
}

/// Differential: one compressed message, inflated by wsx's inflater and by zlib (flate2)
/// directly. Both refuse it, or both give the same bytes; past the size limit wsx closes with
/// 1009 and zlib's output is longer than the limit.
pub fn inflate_differential(data: &[u8]) {
    const LIMIT: usize = 1 << 20;
    let (first, payload) = choice(data);
    let bits = 9 + first % 7;
    // What zlib makes of it, as RFC 7692 says a receiver inflates: the payload and the tail.
    let mut z = flate2::Decompress::new_with_window_bits(false, bits);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut expected = Vec::with_capacity(4096);
    // What the streams before the current one read and made.
    let (mut offset, mut written) = (0u64, 0u64);
    let zlib = loop {
        if expected.len() > LIMIT {
            break Err(1009);
        }
        expected.reserve(4096);
        let (before_in, before_out) = (offset + z.total_in(), written + z.total_out());
        let consumed = usize::try_from(before_in).expect("a size that fits");
        match z.decompress_vec(
            &input[consumed..],
            &mut expected,
            flate2::FlushDecompress::Sync,
        ) {
            // The sender ended its deflate stream (BFINAL): what follows starts a new one, as
            // wsx and Chromium read it (zlib alone would drop it).
            Ok(flate2::Status::StreamEnd) if offset + z.total_in() == input.len() as u64 => {
                break Ok(())
            }
            Ok(flate2::Status::StreamEnd) => {
                let (read, made) = (z.total_in(), z.total_out());
                z.reset(false);
                offset += read;
                written += made;
                continue;
            }
            // All of it read and room left over: that is all there is.
            Ok(_)
                if offset + z.total_in() == input.len() as u64
                    && expected.len() < expected.capacity() =>
            {
                break Ok(())
            }
            Ok(_)
                if (offset + z.total_in(), written + z.total_out()) == (before_in, before_out) =>
            {
                break Ok(())
            }
            Ok(_) => {}
            Err(_) => break Err(1007),
        }
    };
    // The same message as one binary frame with RSV1, from a server (unmasked).
    let mut frame = Vec::new();
    push_frame(&mut frame, 0x80 | 0x40 | 0x02, payload);
    let mut socket = Peer {
        data: &frame,
        piece: 4096,
    };
    let mut inflater = Inflater::new(Vec::new(), LIMIT, bits);
    let (out, failed) = drain(&mut inflater, &mut socket);
    let got: Vec<u8> = frames(&out).into_iter().flat_map(|(_, _, p)| p).collect();
    match (zlib, failed) {
        (Ok(()), None) if expected.len() > LIMIT => {
            panic!("wsx inflated {} bytes past its limit", got.len())
        }
        (Ok(()), None) => assert_eq!(got, expected, "wsx and zlib inflate differently"),
        (Ok(()), Some(code)) if expected.len() > LIMIT => assert_eq!(code, 1009),
        (Ok(()), Some(code)) => {
            panic!(
                "wsx refused ({code}) what zlib inflates to {} bytes",
                expected.len()
            )
        }
        (Err(1009), Some(code)) => assert_eq!(code, 1009, "past the limit"),
        (Err(_), Some(_)) => {}
        (Err(why), None) => panic!("wsx inflated what zlib refuses ({why}): {got:?}"),
    }
}

/// Round trip: messages through wsx's compressor and back through its inflater come out
/// whole, whatever the agreed parameters (the first byte) and the messages (the rest, split
/// at 0xff bytes).
pub fn compress_roundtrip(data: &[u8]) {
    let (first, rest) = choice(data);
    let params = Params {
        server_no_context_takeover: first & 1 != 0,
        client_no_context_takeover: first & 2 != 0,
        server_max_window_bits: Some(9 + (first >> 2) % 7),
        client_max_window_bits: Some(9 + (first >> 5) % 7),
    };
    let role = Role::Client;
    let Some(mut compressor) = Compressor::new(&params, role) else {
        return;
    };
    let messages: Vec<&[u8]> = rest.split(|&b| b == 0xff).collect();
    let mut wire = Vec::new();
    for message in &messages {
        let (rsv1, payload) = match compressor.compress(message) {
            Some(compressed) => (0x40, compressed.to_vec()),
            None => (0, message.to_vec()),
        };
        push_frame(&mut wire, 0x80 | rsv1 | 0x02, &payload);
    }
    // The server inflates what the client sent, with the client's window.
    let bits = params.receiving(Role::Server);
    let mut inflater = Inflater::new(Vec::new(), usize::MAX, bits);
    let mut socket = Peer {
        data: &wire,
        piece: 1500,
    };
    let (out, failed) = drain(&mut inflater, &mut socket);
    assert_eq!(failed, None, "wsx cannot inflate what it compressed");
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    for (_, fin, payload) in frames(&out) {
        current.extend_from_slice(&payload);
        if fin {
            got.push(std::mem::take(&mut current));
        }
    }
    let sent: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
    assert_eq!(
        got, sent,
        "messages changed on their way through compression"
    );
}

/// Extension negotiation (`deflate/mod.rs`): offers as a server reads them, answers as a
/// client reads them (one header value per line). What a server agrees to answer reads back,
/// as a client, as the same parameters.
pub fn extensions(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.lines().collect();
    if let Some(params) = deflate::accept(&values) {
        let answer = params.to_string();
        assert_eq!(
            deflate::agreed(&[answer.as_str()]),
            Ok(Some(params)),
            "the server's answer {answer:?} does not read back"
        );
    }
    let _ = deflate::agreed(&values);
}

/// The server's request head and its policy (`server/gate.rs`, which `server/handshake.rs`
/// reads requests with): parse, decide under a policy the first byte picks, and answer.
pub fn request_head(data: &[u8]) {
    let (first, head) = choice(data);
    let Ok(Some((parsed, used))) = gate::parse_head(head) else {
        return;
    };
    assert!(used <= head.len(), "the head ends past the bytes read");
    let policy = Policy {
        subprotocols: if first & 1 != 0 {
            vec!["chat".into(), "json".into()]
        } else {
            Vec::new()
        },
        origins: if first & 2 != 0 {
            vec!["https://example.com".into()]
        } else {
            Vec::new()
        },
        credentials: (first & 4 != 0).then(|| "user:pass".into()),
        max_clients: (first & 8 != 0).then_some(1),
        paths: if first & 16 != 0 {
            vec!["/ws".into()]
        } else {
            Vec::new()
        },
        headers: Vec::new(),
        compression: first & 32 == 0,
    };
    let _ = parsed.describe();
    let _ = parsed.is_upgrade();
    let decision = gate::decide(&parsed, &policy, u64::from(first >> 6));
    let _ = gate::accept_headers(&decision);
    let answer = gate::response(&decision);
    assert!(
        answer.starts_with(b"HTTP/1.1 "),
        "an answer that is not HTTP"
    );
}

/// A proxy's reply (`client/proxy.rs`: HTTP CONNECT, and SOCKS5 in `client/socks.rs`), read
/// byte by byte as the proxy sends it; the first byte picks the kind of proxy and whether we
/// have credentials.
pub fn proxy_reply(data: &[u8]) {
    let (first, reply) = choice(data);
    let proxy = match first % 5 {
        0 => "http://proxy:3128",
        1 => "http://user:pass@proxy:3128",
        2 => "socks5h://proxy",
        3 => "socks5h://user:pa%3Ass@proxy",
        _ => "socks5://proxy",
    };
    let proxy = url::Url::parse(proxy).expect("a proxy URL");
    let mut socket = Peer {
        data: reply,
        piece: 1 + usize::from(first >> 4),
    };
    // socks5:// resolves the target here: an address, so nothing is looked up.
    let _ = crate::client::proxy::tunnel(&mut socket, &proxy, "192.0.2.1", 443, None);
}

/// A Netscape cookie file (`-b FILE`, `client/cookies.rs`), and the Cookie header it gives
/// for a URL the first byte picks.
pub fn cookie_file(data: &[u8]) {
    let (first, text) = choice(data);
    let jar = cookies::parse_jar(&String::from_utf8_lossy(text));
    let url = match first % 3 {
        0 => "wss://example.com/chat",
        1 => "ws://sub.example.com:8080/",
        _ => "ws://[::1]/a/b?c",
    };
    let url = url::Url::parse(url).expect("a URL");
    if let Some(header) = cookies::header(&[CookieArg::Jar(jar)], &url, first & 0x80 != 0) {
        assert!(
            !header.contains(['\r', '\n']),
            "a cookie file put a line break into the request: {header:?}"
        );
    }
}

/// A line typed or piped, as a slash command or a message (`command.rs`), in the mode the
/// first byte picks.
pub fn slash_command(data: &[u8]) {
    let (first, line) = choice(data);
    let mode = LineMode {
        slash: first & 1 != 0,
        binary: first & 2 != 0,
        server: first & 4 != 0,
    };
    let _ = command::parse(line, mode);
}

/// The folder `--static` serves in [`static_path`]: two files, a subfolder with its
/// `index.html`, and a link that points outside (made once per process).
fn served() -> &'static (PathBuf, PathBuf) {
    static DIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("wsx-fuzz-static-{}", std::process::id()));
        let root = base.join("site");
        let sub = root.join("sub");
        std::fs::create_dir_all(&sub).expect("making the served folder");
        std::fs::write(root.join("index.html"), "home").expect("a file");
        std::fs::write(root.join("app.js"), "js").expect("a file");
        std::fs::write(sub.join("index.html"), "sub").expect("a file");
        std::fs::write(base.join("secret.txt"), "outside").expect("a file");
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink(base.join("secret.txt"), root.join("out.txt"));
        let real = root.canonicalize().expect("the served folder");
        (root, real)
    })
}

/// Property of `--static` (`server/files.rs`): whatever the request path, what is served is
/// a file inside the folder.
pub fn static_path(data: &[u8]) {
    let (root, real) = served();
    let path = String::from_utf8_lossy(data);
    if let Some(file) = crate::server::files::resolve(root, &path) {
        assert!(
            file.starts_with(real) && file.is_file(),
            "{path:?} resolved to {} outside {}",
            file.display(),
            real.display()
        );
    }
}

/// Property of the relay (`server/forward.rs`): a client's request target only ever adds a
/// path and a query to the upstream URL; the scheme, host and port stay the operator's.
pub fn forward_target(data: &[u8]) {
    let (first, target) = choice(data);
    let base = match first % 3 {
        0 => "ws://127.0.0.1:9001",
        1 => "wss://backend.example:8443/api/?key=1",
        _ => "ws://[::1]/",
    };
    let base = url::Url::parse(base).expect("a URL");
    let target = String::from_utf8_lossy(target);
    if let Ok(url) = crate::server::forward::target(&base, &target) {
        assert_eq!(
            (url.scheme(), url.host(), url.port()),
            (base.scheme(), base.host(), base.port()),
            "{target:?} moved the relay to {url}"
        );
        assert!(url.username().is_empty() && url.password().is_none());
    }
}

/// A `--replay` recording (`replay/`: HAR or jsonl): read, a conversation chosen for a few
/// request targets, and every message made into its frame.
pub fn replay_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(recording) = crate::replay::parse(&text) else {
        return;
    };
    for target in ["/", "/chat?room=1", "/chat"] {
        let conversation = recording.choose(target);
        for step in &conversation.steps {
            let _ = step.play.clone().into_frame();
        }
    }
}

/// A fuzz target: the fuzzer's bytes in, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target by name, for the regression tests and `fuzz/` alike.
pub const TARGETS: &[(&str, Target)] = &[
    ("inflate", inflate),
    ("inflate_differential", inflate_differential),
    ("compress_roundtrip", compress_roundtrip),
    ("extensions", extensions),
    ("request_head", request_head),
    ("proxy_reply", proxy_reply),
    ("cookie_file", cookie_file),
    ("slash_command", slash_command),
    ("static_path", static_path),
    ("forward_target", forward_target),
    ("replay_file", replay_file),
    #[cfg(unix)]
    ("server_frames", server_frames),
];

/// Runs every file under `dir/TARGET/` through that target.
///
/// # Panics
/// As the target does on one of them.
pub fn replay_corpus(dir: &Path) -> usize {
    let mut runs = 0;
    for (name, target) in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).expect("reading a corpus file");
            eprintln!("{name}: {}", file.display());
            target(&bytes);
            runs += 1;
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The server's own frame reading and tungstenite's agree on what clients send, well
    /// formed or not, however it is cut up, at every message size limit.
    #[cfg(unix)]
    #[test]
    fn a_servers_frame_reading_agrees_with_tungstenite() {
        use super::client_frame as masked;
        let close = masked(0x88, &[0x03, 0xe8, b'o', b'k']);
        let streams: Vec<Vec<u8>> = vec![
            [
                masked(0x81, b"hello"),
                masked(0x82, &[7; 300]),
                masked(0x81, &[b'x'; 70_000]),
                masked(0x82, &[]),
                close.clone(),
            ]
            .concat(),
            [
                masked(0x01, "caf\u{e9}".as_bytes().split_at(4).0),
                masked(0x89, b"ping"),
                masked(0x80, "caf\u{e9}".as_bytes().split_at(4).1),
                masked(0x81, b"after"),
                close.clone(),
                masked(0x81, b"after the close"),
            ]
            .concat(),
            // A frame tungstenite reads, then ones that could be read past it.
            [
                masked(0x89, b"p"),
                masked(0x81, b"a"),
                masked(0x81, b"b"),
                masked(0x82, b"c"),
            ]
            .concat(),
            // A new message where the rest of one in pieces should be.
            [
                masked(0x02, b"one"),
                masked(0x8a, b""),
                masked(0x82, b"two"),
            ]
            .concat(),
            [masked(0x81, b"ok"), masked(0x81, b"\xff\xfe")].concat(),
            [masked(0x81, b"ok"), super::frame_unmasked(0x81, b"bare")].concat(),
            masked(0xc1, b"reserved bit"),
            masked(0x80, b"continuation first"),
            masked(0x83, b"reserved opcode"),
            masked(0x89, &[1; 126]),
            masked(0x82, &[9; 1001]),
            masked(0x81, &[b'y'; 126])[..40].to_vec(),
            // Lengths in more bytes than they need, and one no socket could ever hold.
            [0x81, 0xfe, 0, 5, 0, 0, 0, 0]
                .iter()
                .chain(b"short")
                .copied()
                .collect(),
            vec![
                0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4,
            ],
            Vec::new(),
        ];
        for stream in &streams {
            for first in 0..32u8 {
                let mut input = vec![first];
                input.extend_from_slice(stream);
                super::server_frames(&input);
            }
        }
    }

    /// Every input that ever crashed a target (`fuzz/regressions/TARGET/`), and every seed
    /// (`fuzz/seeds/TARGET/`), on stable, in plain `cargo test`.
    #[test]
    fn regressions_and_seeds_pass_every_target() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let seeds = super::replay_corpus(&fuzz.join("seeds"));
        super::replay_corpus(&fuzz.join("regressions"));
        assert!(seeds >= super::TARGETS.len(), "every target has seeds");
    }
}
