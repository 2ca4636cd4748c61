//! One connection's start, on a short-lived thread of its own: TLS for `wss://`, then the
//! HTTP request, which becomes a WebSocket (the policy is in [`super::gate`]) or, with
//! `--static`, a plain HTTP answer. Blocking, bounded by `--handshake-timeout`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

use super::admission::{Admission, Place};
use super::files;
use super::forward::Upstream;
use super::gate::{self, Decision};
use super::listener::Peer;
use crate::stream::{Socket, Stream, Transport, Wire};
use crate::tls;

/// What every handshake thread needs.
pub(super) struct Shared {
    pub(super) policy: gate::Policy,
    pub(super) tls: Option<Arc<rustls::ServerConfig>>,
    pub(super) timeout: Duration,
    pub(super) config: WebSocketConfig,
    /// The places of the clients served, for `--max-clients`.
    pub(super) admission: Arc<Admission>,
    pub(super) quiet: bool,
    /// `-v`: print each request's head on stderr.
    pub(super) verbose: bool,
    /// Handshakes in progress, oldest first: a handle on each socket, to drop the oldest when
    /// `--max-handshakes` are pending and another connection arrives.
    pub(super) pending: Mutex<BTreeMap<u64, Transport>>,
    /// `--static`: plain HTTP requests are answered from this folder.
    pub(super) static_dir: Option<std::path::PathBuf>,
    /// `--exec`: each client's program gets the request as CGI-style variables.
    pub(super) cgi: bool,
    /// `--pass-auth`: those variables include the Authorization header.
    pub(super) pass_auth: bool,
    /// The port the server listens on (`SERVER_PORT`; none on a Unix socket).
    pub(super) server_port: Option<u16>,
    /// `--forward`: each client's upstream is dialled before its handshake is answered.
    pub(super) forward: Option<super::forward::Forward>,
}

/// Handshake threads run little code (TLS and an HTTP head): a small stack keeps thousands of
/// them cheap.
pub(super) const HANDSHAKE_STACK: usize = 256 * 1024;

/// How a connection's first request went.
pub(super) enum Handshake {
    /// It upgraded: a new client.
    Upgraded(Box<Accepted>),
    /// A plain HTTP request, answered from `--static` (status and path, for `-v`).
    Served(u16, String),
}

/// A client whose handshake succeeded.
pub(super) struct Accepted {
    pub(super) ws: WebSocket<Wire>,
    /// Its place among the clients served, given back when it goes.
    pub(super) place: Place,
    pub(super) peer: Peer,
    pub(super) subprotocol: Option<String>,
    /// The subject of the client's certificate, under mutual TLS.
    pub(super) subject: Option<String>,
    /// The CGI-style variables for its `--exec` program (empty without `--exec`).
    pub(super) env: Vec<(String, String)>,
    /// `--forward`: its upstream connection, open.
    pub(super) upstream: Option<Box<Upstream>>,
    /// The request's target (path and query).
    pub(super) path: String,
    /// The request and the answer, for `--record`.
    pub(super) exchange: crate::event::Exchange,
}

impl Shared {
    pub(super) fn lock_pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Transport>> {
        // A handshake thread never panics while holding it; if one did, the map is still
        // consistent (every change is a single insert or remove).
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handshake tried at once, on the engine's thread, for a connection just accepted (its
/// socket non-blocking): see [`at_once`].
pub(super) enum AtOnce {
    /// Done: the request had come whole and needed nothing that blocks.
    Done(Result<Handshake, String>),
    /// To go on on a thread of its own ([`handshake`]), from the bytes read so far.
    Later(Transport, Vec<u8>),
}

/// The common case without a thread: on plain TCP (or a Unix socket), without `--forward`,
/// a client's request has usually arrived whole by the time its connection is accepted.
/// One non-blocking read takes it; the answer (a few hundred bytes into an empty send
/// buffer) is written at once, and the client goes to the engine without the two hand-offs
/// between threads a handshake thread costs. Anything else (TLS, a request still on its
/// way, a `--static` file to send, an upstream to dial) goes on on a thread.
pub(super) fn at_once(mut tcp: Transport, peer: Peer, shared: &Shared) -> AtOnce {
    if shared.tls.is_some() || shared.forward.is_some() {
        return AtOnce::Later(tcp, Vec::new());
    }
    let mut chunk = [0u8; 2048];
    let n = match tcp.read(&mut chunk) {
        Ok(0) => return AtOnce::Done(Err(CLOSED.into())),
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            return AtOnce::Later(tcp, Vec::new())
        }
        Err(e) => return AtOnce::Done(Err(e.to_string())),
    };
    let buf = chunk[..n].to_vec();
    let (head, len) = match gate::parse_head(&buf) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return AtOnce::Later(tcp, buf),
        Err(e) => return AtOnce::Done(Err(e)),
    };
    if shared.static_dir.is_some() && !head.is_upgrade() {
        return AtOnce::Later(tcp, buf);
    }
    let stream = Stream::Plain(Socket::nonblocking(tcp));
    AtOnce::Done(upgrade(stream, buf, (head, len), peer, shared, None))
}

const CLOSED: &str = "closed the connection during the handshake";

/// Says what a failed read or write during a handshake means.
fn io_error(e: &std::io::Error, shared: &Shared) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
            "no complete handshake within {}s",
            shared.timeout.as_secs_f64()
        ),
        _ => e.to_string(),
    }
}

/// TLS (for wss://), then the HTTP upgrade, on a blocking socket with timeouts; `start` is
/// what [`at_once`] read of the request already.
pub(super) fn handshake(
    tcp: Transport,
    peer: Peer,
    shared: &Shared,
    start: Vec<u8>,
) -> Result<Handshake, String> {
    // One deadline for the whole of it: every read and write ends by then, however the
    // client spaces its bytes.
    let deadline = Instant::now() + shared.timeout;
    let io_error = |e: std::io::Error| io_error(&e, shared);
    let _ = tcp.set_nodelay();
    let mut sock = Socket::with_deadline(tcp, deadline);

    let mut subject = None;
    let mut stream = match &shared.tls {
        Some(config) => {
            let mut conn =
                rustls::ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
            while conn.is_handshaking() {
                conn.complete_io(&mut sock)
                    .map_err(|e| format!("TLS handshake failed: {}", io_error(e)))?;
            }
            subject = conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(tls::subject);
            Stream::TlsServer(Box::new(rustls::StreamOwned::new(conn, sock)))
        }
        None => Stream::Plain(sock),
    };

    let mut buf = start;
    buf.reserve(1024);
    let parsed = loop {
        match gate::parse_head(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) if buf.len() < gate::MAX_HEAD => {}
            Ok(None) => return Err(answer(&mut stream, gate::too_large())),
            Err(e) => return Err(e),
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).map_err(io_error)?;
        if n == 0 {
            return Err(CLOSED.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    upgrade(stream, buf, parsed, peer, shared, subject)
}

/// Answers a whole request: a file from `--static`, a refusal, or the upgrade (after dialling
/// the upstream, with `--forward`).
fn upgrade(
    mut stream: Stream,
    buf: Vec<u8>,
    (head, len): (gate::Head, usize),
    peer: Peer,
    shared: &Shared,
    subject: Option<String>,
) -> Result<Handshake, String> {
    let io_error = |e: std::io::Error| io_error(&e, shared);
    if shared.verbose {
        let text = head.describe().replace('\n', &format!("\n{peer} > "));
        crate::diag::say(&format!("{peer} > {text}"));
    }
    if let (Some(dir), false) = (&shared.static_dir, head.is_upgrade()) {
        let status = files::respond(dir, &head, &mut stream).map_err(io_error)?;
        return Ok(Handshake::Served(status, head.path));
    }
    let mut decision = gate::decide(&head, &shared.policy, shared.admission.taken());
    let mut place = None;
    if let Decision::Accept { .. } = decision {
        place = shared.admission.take();
        if place.is_none() {
            // The last place went to a handshake that finished meanwhile.
            let full = shared.policy.max_clients.unwrap_or(u64::MAX);
            decision = gate::decide(&head, &shared.policy, full);
        }
    }
    let (
        Decision::Accept {
            subprotocol,
            extension,
            ..
        },
        Some(place),
    ) = (&decision, place)
    else {
        return Err(answer(&mut stream, decision));
    };
    let (mut subprotocol, extension) = (subprotocol.clone(), *extension);
    // The relay: the upstream answers first; its refusal is the client's answer, and its
    // subprotocol the client's.
    let upstream = match &shared.forward {
        Some(forward) => match forward.dial(&head) {
            Ok(upstream) => {
                // A bridge answers with what the gate chose (the `binary` subprotocol).
                if let Upstream::WebSocket {
                    subprotocol: theirs,
                    ..
                } = &upstream
                {
                    subprotocol.clone_from(theirs);
                    if let Decision::Accept {
                        subprotocol: chosen,
                        ..
                    } = &mut decision
                    {
                        chosen.clone_from(theirs);
                    }
                }
                Some(Box::new(upstream))
            }
            Err(refusal) => return Err(answer(&mut stream, refusal)),
        },
        None => None,
    };
    stream
        .write_all(&gate::response(&decision))
        .and_then(|()| stream.flush())
        .map_err(io_error)?;
    let scheme = if shared.tls.is_some() { "wss" } else { "ws" };
    let exchange = crate::event::Exchange {
        url: format!(
            "{scheme}://{}{}",
            head.header("host").unwrap_or("localhost"),
            head.path
        ),
        request: head.headers().to_vec(),
        response: gate::accept_headers(&decision),
    };
    let env = if shared.cgi {
        let conn = gate::Connection {
            peer,
            server_port: shared.server_port,
            tls: shared.tls.is_some(),
            subject: subject.as_deref(),
            pass_auth: shared.pass_auth,
        };
        gate::cgi_env(&head, &conn)
    } else {
        Vec::new()
    };
    let tail = buf[len..].to_vec();
    let ws = match extension {
        // What followed the request may be compressed already: the inflater reads it first.
        Some(params) => {
            let max = shared.config.max_message_size.unwrap_or(usize::MAX);
            let wire = Wire::deflate(stream, params, Role::Server, tail, max);
            WebSocket::from_raw_socket(wire, Role::Server, Some(shared.config))
        }
        None => {
            let (wire, tail) = Wire::server(stream, tail);
            WebSocket::from_partially_read(wire, tail, Role::Server, Some(shared.config))
        }
    };
    Ok(Handshake::Upgraded(Box::new(Accepted {
        ws,
        place,
        peer,
        subprotocol,
        subject,
        env,
        upstream,
        path: head.path,
        exchange,
    })))
}

/// Writes a refusal and returns the reason to log.
fn answer(stream: &mut Stream, decision: Decision) -> String {
    let _ = stream
        .write_all(&gate::response(&decision))
        .and_then(|()| stream.flush());
    match decision {
        Decision::Reject { status, why, .. } => format!("{why} ({status})"),
        Decision::Accept { .. } => String::new(),
    }
}
