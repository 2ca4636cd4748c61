//! `wsx connect URL --tcp-listen [HOST:]PORT`: a TCP-to-WebSocket tunnel. Every accepted TCP
//! connection gets its own WebSocket connection to URL, dialled on a thread of its own with
//! connect's dialer (headers, auth, TLS, proxy and timeouts apply), and bytes go both ways:
//! from TCP as binary frames, from the WebSocket each data frame's payload. Either side ending
//! ends the pair; it serves until Ctrl-C or SIGTERM, which close every WebSocket with 1001.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tungstenite::{Message, WebSocket};

use super::dial::Dialer;
use crate::console::{Console, Role};
use crate::engine::{failure, Bridge, Conn, Engine, Incoming, Net, Step, Waker};
use crate::error::Failure;
use crate::event::{Dir, Kind, Opened};
use crate::stream::{Transport, Wire};

/// The listener's engine key; pair `id` has its WebSocket under `2 * id` and its TCP
/// connection under `2 * id + 1`.
const LISTENER: usize = usize::MAX - 1;

fn ws_key(id: u64) -> usize {
    2 * id as usize
}

fn tcp_key(id: u64) -> usize {
    2 * id as usize + 1
}

/// A dial finished on its thread: the pair's id, its TCP connection, the WebSocket or why not.
type Dialed = (u64, TcpStream, Result<WebSocket<Wire>, String>);

/// One TCP connection and, once dialled, its WebSocket.
struct Pair {
    peer: SocketAddr,
    tcp: Option<Bridge>,
    /// The WebSocket is on the engine (under [`ws_key`]) and not yet closing.
    open: bool,
}

/// Runs the tunnel until interrupted.
///
/// # Errors
/// The address cannot be bound, or the poller fails.
pub fn run(dialer: Arc<Dialer>, addr: SocketAddr) -> Result<ExitCode> {
    let s = dialer.settings();
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener
        .set_nonblocking(true)
        .context("setting up the listener")?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let listener = Arc::new(listener);
    let mut engine = Engine::new().context("creating the poller")?;
    engine
        .net()
        .watch(Box::new(listener.clone()), LISTENER)
        .context("watching the listener")?;
    let console = Console::new(&s.console, engine.waker())?;
    if !s.console.quiet {
        crate::diag::say(&format!("listening on tcp://{bound}"));
    }
    let (dialed_tx, dialed) = mpsc::channel();
    let mut tunnel = Tunnel {
        console,
        listener,
        dialer: dialer.clone(),
        dialed,
        dialed_tx,
        waker: engine.waker(),
        pairs: BTreeMap::new(),
        held: Vec::new(),
        closing: BTreeMap::new(),
        last_id: 0,
        shutdown: false,
        close_timeout: s.console.close_timeout,
        show_bytes: s.console.output.format != crate::output::Format::Human || s.console.verbose,
    };
    let outcome = engine.run(&mut tunnel).context("waiting for events")?;
    tunnel.console.flush().context("writing to stdout")?;
    outcome
}

struct Tunnel {
    console: Console,
    listener: Arc<TcpListener>,
    dialer: Arc<Dialer>,
    dialed: Receiver<Dialed>,
    dialed_tx: Sender<Dialed>,
    waker: Waker,
    pairs: BTreeMap<u64, Pair>,
    /// Keys not read while the other side of their pair cannot take more: (held, waited for).
    held: Vec<(usize, usize)>,
    /// WebSockets waiting for the end of their close handshake, by deadline.
    closing: BTreeMap<usize, Instant>,
    last_id: u64,
    shutdown: bool,
    close_timeout: Duration,
    /// Payloads are shown (jsonl, raw, or `-v`); human format shows connections and counts.
    show_bytes: bool,
}

impl Tunnel {
    fn accept_all(&mut self, net: &mut Net) {
        loop {
            match self.listener.accept() {
                Ok((tcp, peer)) => self.dial(tcp, peer),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, most likely: wait for a pair to end.
                    self.console.notice(&format!("wsx: cannot accept: {e}"));
                    net.pause(LISTENER, true);
                    return;
                }
            }
        }
    }

    /// Dials the WebSocket for a new TCP connection on a thread of its own.
    fn dial(&mut self, tcp: TcpStream, peer: SocketAddr) {
        self.last_id += 1;
        let id = self.last_id;
        self.pairs.insert(
            id,
            Pair {
                peer,
                tcp: None,
                open: false,
            },
        );
        let (dialer, tx, waker) = (
            self.dialer.clone(),
            self.dialed_tx.clone(),
            self.waker.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("dial #{id}"))
            .spawn(move || {
                let ws = dialer
                    .dial()
                    .map(|(ws, _)| ws)
                    .map_err(|e| format!("{e:#}"));
                let _ = tx.send((id, tcp, ws));
                waker.wake();
            });
        if let Err(e) = spawned {
            self.pairs.remove(&id);
            self.console
                .notice(&format!("wsx: #{id} cannot start dialling: {e}"));
        }
    }

    fn dialed(&mut self, net: &mut Net, (id, tcp, ws): Dialed) {
        let Some(pair) = self.pairs.get_mut(&id) else {
            return;
        };
        let peer = pair.peer;
        if self.shutdown {
            self.pairs.remove(&id);
            return;
        }
        let ws = match ws {
            Ok(ws) => ws,
            Err(why) => {
                self.pairs.remove(&id);
                // The TCP connection is dropped: its client sees the end of the stream.
                return self.console.notice(&format!("wsx: #{id} {peer}: {why}"));
            }
        };
        let extension = ws.get_ref().extension();
        let set_up = Conn::new(ws)
            .and_then(|conn| net.insert(ws_key(id), conn))
            .and_then(|()| {
                let stream = Transport::from(tcp);
                Bridge::watch(net, stream, peer.to_string(), tcp_key(id), ws_key(id))
            });
        match set_up {
            Ok(bytes) => {
                pair.tcp = Some(bytes);
                pair.open = true;
            }
            Err(e) => {
                self.console
                    .notice(&format!("wsx: #{id} cannot set up the tunnel: {e}"));
                return self.end(net, id, Some((1011, "")), Instant::now());
            }
        }
        let url = self.dialer.settings().url.to_string();
        self.console.show(
            Some(id),
            Dir::In,
            Kind::Open(Box::new(Opened {
                peer: peer.to_string(),
                subprotocol: None,
                extension,
                subject: None,
                upstream: Some(url),
                ..Default::default()
            })),
        );
    }

    /// Ends pair `id`: its WebSocket gets `close` (when it is still open), its TCP connection
    /// what waits for it and then its end.
    fn end(&mut self, net: &mut Net, id: u64, close: Option<(u16, &str)>, now: Instant) {
        let Some(pair) = self.pairs.get_mut(&id) else {
            return;
        };
        if pair.open {
            pair.open = false;
            if let (Some((code, why)), Some(conn)) = (close, net.get(ws_key(id))) {
                if conn.close(code, why).is_err() {
                    net.remove(ws_key(id));
                }
            }
            if net.get(ws_key(id)).is_some() {
                self.closing.insert(ws_key(id), now + self.close_timeout);
            }
            self.console
                .show(Some(id), Dir::In, Kind::Disconnected { reason: None });
        }
        // Once: the WebSocket side may end it again (its Close, then the end of its handshake).
        if let Some(tcp) = pair.tcp.as_mut().filter(|tcp| !tcp.bytes.closing) {
            let b = &tcp.bytes;
            let counts = format!(
                "#{id} {}: {} B to the server, {} B from it",
                b.target, b.to_client, b.from_client
            );
            if tcp.finish(net) {
                self.closing.insert(tcp_key(id), now + self.close_timeout);
            } else {
                pair.tcp = None;
            }
            self.console.notice(&counts);
        }
        self.forget_if_done(net, id);
    }

    /// Drops pair `id` once neither side is left.
    fn forget_if_done(&mut self, net: &mut Net, id: u64) {
        let done = self
            .pairs
            .get(&id)
            .is_some_and(|p| p.tcp.is_none() && !p.open && net.get(ws_key(id)).is_none());
        if done {
            self.pairs.remove(&id);
        }
    }

    fn tcp_ready(&mut self, net: &mut Net, key: usize, now: Instant) {
        let id = (key / 2) as u64;
        let Some(tcp) = self.tcp_mut(id) else {
            return net.unwatch(key);
        };
        match tcp.ready(net) {
            Step::Data(bytes) => {
                let bytes = tungstenite::Bytes::from(bytes);
                let kind = Kind::Binary(bytes.clone());
                let sent = net
                    .get(ws_key(id))
                    .map(|conn| conn.send(Message::Binary(bytes)));
                match sent {
                    Some(Ok(wire)) => {
                        if self.show_bytes {
                            self.console.show_sized(Some(id), Dir::In, kind, wire);
                        }
                        if let Some(pair) = self.pairs.get_mut(&id) {
                            if let Some(tcp) = pair.tcp.as_mut() {
                                tcp.sent(net, &mut self.held);
                            }
                        }
                    }
                    Some(Err(e)) => self.ws_failed(net, id, e, now),
                    None => {}
                }
            }
            // Its end: the WebSocket's Close follows what it sent, in order.
            Step::Eof => self.end(net, id, Some((1000, "")), now),
            Step::Drained => {
                self.closing.remove(&key);
                if let Some(pair) = self.pairs.get_mut(&id) {
                    pair.tcp = None;
                }
                self.forget_if_done(net, id);
            }
            Step::Idle => {}
            Step::Failed(e) => self.tcp_failed(net, id, &e, now),
        }
    }

    fn tcp_mut(&mut self, id: u64) -> Option<&mut Bridge> {
        self.pairs.get_mut(&id).and_then(|p| p.tcp.as_mut())
    }

    fn tcp_failed(&mut self, net: &mut Net, id: u64, err: &std::io::Error, now: Instant) {
        if let Some(tcp) = self.pairs.get_mut(&id).and_then(|p| p.tcp.take()) {
            tcp.close(net);
        }
        self.closing.remove(&tcp_key(id));
        self.console
            .notice(&format!("wsx: #{id} the TCP connection failed: {err}"));
        self.end(net, id, Some((1011, "the TCP connection failed")), now);
    }

    fn ws_failed(&mut self, net: &mut Net, id: u64, err: tungstenite::Error, now: Instant) {
        let (code, what) = failure(&err);
        if let (Some(code), Some(conn)) = (code, net.get(ws_key(id))) {
            conn.close_failed(code);
        }
        net.remove(ws_key(id));
        self.closing.remove(&ws_key(id));
        self.console.notice(&format!("wsx: #{id} {what}"));
        self.end(net, id, None, now);
    }

    fn ws_incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant) {
        let id = (key / 2) as u64;
        match what {
            Incoming::Message(msg, wire) => {
                if !self.pairs.get(&id).is_some_and(|p| p.open) {
                    return; // closing: what still comes is not passed on
                }
                match Kind::of(&msg) {
                    Some(Kind::Close(info)) => {
                        self.console
                            .show(Some(id), Dir::Out, Kind::Close(info.clone()));
                        // tungstenite has queued the answer; the TCP side ends after what
                        // waits for it.
                        self.end(net, id, None, now);
                    }
                    Some(kind) if kind.is_data() => {
                        if self.show_bytes {
                            self.console.show_sized(Some(id), Dir::Out, kind, wire);
                        }
                        let Some(pair) = self.pairs.get_mut(&id) else {
                            return;
                        };
                        let Some(tcp) = pair.tcp.as_mut() else { return };
                        if let Err(e) = tcp.deliver(net, &msg.into_data(), &mut self.held) {
                            self.tcp_failed(net, id, &e, now);
                        }
                    }
                    _ => {}
                }
            }
            Incoming::Idle => {}
            Incoming::Closed => {
                net.remove(key);
                self.closing.remove(&key);
                self.end(net, id, None, now);
                self.forget_if_done(net, id);
            }
            Incoming::Failed(e) => self.ws_failed(net, id, e, now),
        }
    }

    /// Whether `key`, which another side waits for, still cannot take more.
    fn backed_up(&mut self, net: &mut Net, key: usize) -> bool {
        if key % 2 == 1 {
            let id = (key / 2) as u64;
            return self.tcp_mut(id).is_some_and(|tcp| tcp.full());
        }
        net.get(key).is_some_and(|c| c.is_blocked())
    }

    fn release(&mut self, net: &mut Net, key: usize) {
        net.hold(key, false);
        if key % 2 == 1 {
            if let Some(tcp) = self.tcp_mut((key / 2) as u64) {
                tcp.resume(net);
            }
        }
    }

    fn begin_shutdown(&mut self, net: &mut Net, now: Instant) {
        self.shutdown = true;
        net.unwatch(LISTENER);
        let ids: Vec<u64> = self.pairs.keys().copied().collect();
        for id in ids {
            self.end(net, id, Some((1001, "")), now);
        }
        // Dials still under way are dropped when they finish.
        self.pairs.retain(|_, p| p.open || p.tcp.is_some());
    }
}

impl Role for Tunnel {
    fn console(&self) -> &Console {
        &self.console
    }

    fn console_mut(&mut self) -> &mut Console {
        &mut self.console
    }

    fn turn(&mut self, net: &mut Net, now: Instant) {
        if self.console.interrupted() {
            if self.shutdown {
                return self.console.finish(Err(Failure::Interrupted.into()));
            }
            self.begin_shutdown(net, now);
        }
        while let Ok(dialed) = self.dialed.try_recv() {
            self.dialed(net, dialed);
        }
        for (held, waits_for) in std::mem::take(&mut self.held) {
            if self.backed_up(net, waits_for) {
                self.held.push((held, waits_for));
            } else {
                self.release(net, held);
            }
        }
        let expired: Vec<usize> = self
            .closing
            .iter()
            .filter(|(_, &t)| t <= now)
            .map(|(&k, _)| k)
            .collect();
        for key in expired {
            self.closing.remove(&key);
            let id = (key / 2) as u64;
            if key % 2 == 0 {
                net.remove(key);
            } else if let Some(pair) = self.pairs.get_mut(&id) {
                // A TCP connection that would not take what was left for it.
                if let Some(tcp) = pair.tcp.take() {
                    tcp.close(net);
                }
            }
            self.forget_if_done(net, id);
        }
        if self.shutdown && self.pairs.is_empty() && self.closing.is_empty() {
            self.console.finish(Ok(ExitCode::SUCCESS));
        }
    }

    fn incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant) {
        self.ws_incoming(net, key, what, now);
    }

    fn ready(&mut self, net: &mut Net, key: usize) {
        if key == LISTENER {
            if !self.shutdown {
                self.accept_all(net);
            }
        } else {
            self.tcp_ready(net, key, Instant::now());
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.closing.values().copied().min()
    }
}
