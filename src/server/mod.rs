//! `wsx listen`: bind, announce the bound address, accept, and serve many clients on the engine.
//!
//! Each accepted socket gets a short-lived thread for TLS and the HTTP upgrade, bounded by
//! `--handshake-timeout`, so a client that sends half a handshake delays nobody. Finished
//! WebSockets join the engine, which moves every frame; [`hub`] decides where frames go.

mod exec;
mod files;
pub mod gate;
mod handshake;
pub mod hub;
mod limits;
mod listener;

pub use listener::ListenAddr;
use listener::Listener;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Error as WsError, Message};

use crate::command::Command;
use crate::console::{Console, Input};
use crate::engine::{failure, Conn, Engine, Handler, Incoming, Net, Waker};
use crate::error::Failure;
use crate::event::{CloseInfo, Dir, Kind};
use crate::stream::Transport;
use crate::tls;
use exec::{Program, ProgramEvent, Refused};
use handshake::{handshake, Accepted, Handshake, Shared, HANDSHAKE_STACK};
use hub::{Hub, Mode, Route};

/// `wsx listen`, resolved (by `settings.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: ListenAddr,
    pub mode: hub::Mode,
    /// `--static`: plain HTTP requests are answered from this folder.
    pub static_dir: Option<PathBuf>,
    /// `--tls-ca`: clients must present a certificate signed by these authorities.
    pub tls_ca: Option<PathBuf>,
    /// `--pass-auth`: `--exec` programs see the Authorization header.
    pub pass_auth: bool,
    /// Certificate chain and key files for wss://.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub policy: gate::Policy,
    pub once: bool,
    pub max_message_size: usize,
    /// `--max-backlog`: a client with more than this waiting for it is closed with 1008.
    pub max_backlog: u64,
    /// `--max-handshakes`: handshakes in progress at most.
    pub max_handshakes: u64,
    pub handshake_timeout: Duration,
    pub console: crate::console::Settings,
}

/// The engine key of the listening socket (client ids count up from 1).
const LISTENER: usize = usize::MAX - 1;

/// Each connection's read buffer (see where the configuration is made).
const READ_BUFFER: usize = 2 * 1024;

/// How many lines from `--exec` programs may wait for the loop before their readers wait.
const PROGRAM_LINES: usize = 1024;

/// How long accepting pauses when no file descriptor is left, unless a client leaves first.
const STARVED_PAUSE: Duration = Duration::from_millis(250);

/// Accepting is paused for want of file descriptors.
struct Starved {
    /// When to try again at the latest.
    until: Instant,
    /// The connections open when it paused: one fewer frees a descriptor.
    connections: usize,
}

/// Binds, serves until shut down, and returns the exit status.
///
/// # Errors
/// The address cannot be bound, the TLS files cannot be used, or the terminal cannot be set up.
pub fn run(s: Settings) -> Result<ExitCode> {
    let tls = match &s.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key, s.tls_ca.as_deref())?),
        None => None,
    };
    let open_files = limits::raise_open_files();
    let listener =
        Listener::bind(&s.addr).with_context(|| format!("cannot listen on {}", s.addr))?;
    let url = listener
        .url(tls.is_some())
        .context("reading the bound address")?;
    let server_port = listener.port();
    let listener = Arc::new(listener);

    let mut engine = Engine::new().context("creating the poller")?;
    let waker = engine.waker();
    engine.net().watch(Box::new(listener.clone()), LISTENER)?;

    if !s.console.quiet {
        // The readiness line: printed once bound, with the real port (tests wait on it).
        crate::diag::say(&format!("listening on {url}"));
    }
    // Operator input is typed by a person, or piped at a person's pace: a thread reads it.
    let mut console = Console::new(&s.console, waker.clone())?;
    console.start(engine.net(), None);

    // The backlog bound, plus the message that may be queued on top of it, plus control frames.
    let max_queue = usize::try_from(s.max_backlog)
        .unwrap_or(usize::MAX)
        .saturating_add(s.max_message_size.saturating_mul(2));
    // tungstenite zero-fills its whole read buffer for every connection: at 2 KiB, 10,000
    // idle clients take 33 MB instead of 92 MB at 8 KiB, and neither small-message echo nor an
    // 8 MiB message got slower (measured with bench/run).
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(max_queue)
        .max_message_size(Some(s.max_message_size))
        .max_frame_size(Some(s.max_message_size));
    let shared = Arc::new(Shared {
        policy: s.policy.clone(),
        tls,
        timeout: s.handshake_timeout,
        config,
        admitted: AtomicU64::new(0),
        quiet: s.console.quiet,
        verbose: s.console.verbose,
        pending: Mutex::new(BTreeMap::new()),
        static_dir: s.static_dir.clone(),
        cgi: matches!(s.mode, Mode::Exec(_)),
        pass_auth: s.pass_auth,
        server_port,
    });
    let (accepted_tx, accepted) = mpsc::channel();
    // Bounded: a program that writes faster than its lines go out waits in its write.
    let (program_tx, programs) = mpsc::sync_channel(PROGRAM_LINES);
    let mut server = Server {
        console,
        mode: s.mode.clone(),
        once: s.once,
        close_timeout: s.console.close_timeout,
        max_backlog: s.max_backlog,
        accepted,
        accepted_tx,
        programs,
        program_tx,
        waker,
        listener,
        shared,
        hub: Hub::default(),
        closing: BTreeMap::new(),
        shutdown: false,
        reapers: Vec::new(),
        starved: None,
        starved_noticed: false,
        open_files,
        max_handshakes: s.max_handshakes,
        handshakes: 0,
        crowded_noticed: false,
    };
    let outcome = engine.run(&mut server).context("waiting for events");
    // Every program is ended before wsx is (each within its grace period).
    for reaper in server.reapers.drain(..) {
        let _ = reaper.join();
    }
    let outcome = outcome?;
    server.console.flush().context("writing to stdout")?;
    outcome
}

/// The server's policy on the engine; see the module docs.
struct Server {
    /// Operator input, output, interrupts and the outcome.
    console: Console,
    mode: Mode,
    once: bool,
    close_timeout: Duration,
    max_backlog: u64,
    accepted: Receiver<Accepted>,
    accepted_tx: Sender<Accepted>,
    programs: Receiver<ProgramEvent>,
    program_tx: SyncSender<ProgramEvent>,
    waker: Waker,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    hub: Hub,
    /// Connections we closed (or that closed), waiting for the close handshake, by deadline.
    closing: BTreeMap<u64, Instant>,
    /// Shutting down: no new clients; done once every connection is gone.
    shutdown: bool,
    /// Threads ending and reaping programs of clients that left, joined before exiting.
    reapers: Vec<thread::JoinHandle<()>>,
    /// Set while accepting is paused for want of file descriptors.
    starved: Option<Starved>,
    /// The notice about it was given (once until an accept succeeds again).
    starved_noticed: bool,
    /// The limit on open files, for that notice.
    open_files: Option<u64>,
    /// `--max-handshakes`.
    max_handshakes: u64,
    /// Handshakes started so far: each one's key in `Shared::pending`.
    handshakes: u64,
    /// The notice about dropping pending handshakes was given (once until there is room).
    crowded_noticed: bool,
}

impl Server {
    fn show(&mut self, client: Option<u64>, dir: Dir, kind: Kind) {
        self.console.show(client, dir, kind);
    }

    fn notice(&mut self, text: &str) {
        self.console.notice(text);
    }

    fn finish(&mut self, outcome: Result<ExitCode>) {
        self.console.finish(outcome);
    }

    /// Queues a message for one client. A client for which more than `--max-backlog` bytes
    /// of earlier messages still wait has stopped reading: it is closed with 1008 instead.
    /// Only what is left of earlier messages counts, so one large message, however big, never
    /// makes a client that keeps reading look slow.
    /// Returns the compressed size when the message went compressed.
    fn send(&mut self, net: &mut Net, id: u64, msg: Message, now: Instant) -> Option<usize> {
        let conn = net.get(id as usize)?;
        let backlog = conn.backlog();
        if backlog > self.max_backlog {
            self.notice(&format!(
                "#{id} is not reading: {backlog} bytes wait for it (--max-backlog {}); closed with 1008",
                self.max_backlog
            ));
            self.leave(net, id, Some((1008, "too slow")), None, now);
            return None;
        }
        match conn.send(msg) {
            Ok(wire) => wire,
            Err(e) => {
                self.fail(net, id, e, now);
                None
            }
        }
    }

    fn broadcast(&mut self, net: &mut Net, msg: &Message, now: Instant) {
        for id in self.hub.ids() {
            self.send(net, id, msg.clone(), now);
        }
    }

    /// Takes a client out of the hub: optionally sends a Close, shows it gone, stops its
    /// program. The connection stays until the close handshake ends or times out.
    fn leave(
        &mut self,
        net: &mut Net,
        id: u64,
        close: Option<(u16, &str)>,
        reason: Option<String>,
        now: Instant,
    ) {
        let Some(client) = self.hub.remove(id) else {
            return;
        };
        self.shared.admitted.fetch_sub(1, Ordering::SeqCst);
        if let Some(program) = client.program {
            self.reapers.retain(|r| !r.is_finished());
            match program.stop() {
                Ok(reaper) => self.reapers.push(reaper),
                Err(e) => self.notice(&format!("wsx: #{id} cannot end its program: {e}")),
            }
        }
        if let Some((code, why)) = close {
            if let Some(conn) = net.get(id as usize) {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: why.to_string().into(),
                };
                if conn.close(Some(frame)).is_err() {
                    net.remove(id as usize);
                }
            }
            self.show(Some(id), Dir::Out, Kind::Close(CloseInfo::new(code, why)));
        }
        if net.get(id as usize).is_some() {
            self.closing.insert(id, now + self.close_timeout);
        }
        self.show(Some(id), Dir::In, Kind::Disconnected { reason });
        if self.once && !self.shutdown {
            self.begin_shutdown(net, now);
        }
    }

    /// A connection failed: answer with the RFC's close code where one applies, report it in
    /// one line, and drop it. Other clients are not affected.
    fn fail(&mut self, net: &mut Net, id: u64, err: WsError, now: Instant) {
        let (code, what) = failure(&err);
        if let (Some(code), Some(conn)) = (code, net.get(id as usize)) {
            conn.close_failed(code);
        }
        net.remove(id as usize);
        self.closing.remove(&id);
        if self.hub.contains(id) {
            if code.is_some() {
                self.notice(&format!("wsx: #{id} {what}"));
            }
            // The connection is already gone, so `leave` schedules no close handshake.
            self.leave(net, id, None, Some(what), now);
        }
    }

    fn begin_shutdown(&mut self, net: &mut Net, now: Instant) {
        if self.shutdown {
            return;
        }
        self.shutdown = true;
        net.unwatch(LISTENER);
        for id in self.hub.ids() {
            self.leave(net, id, Some((1001, "")), None, now);
        }
    }

    fn admit(&mut self, net: &mut Net, accepted: Accepted, now: Instant) {
        let Accepted {
            ws,
            peer,
            subprotocol,
            subject,
            env,
        } = accepted;
        if self.shutdown {
            self.shared.admitted.fetch_sub(1, Ordering::SeqCst);
            return; // dropping the socket: we are going away
        }
        let id = self.hub.add(peer, subprotocol.clone());
        let extension = ws.get_ref().extension();
        let conn = match Conn::new(ws) {
            Ok(conn) => conn,
            Err(e) => return self.fail(net, id, WsError::Io(e), now),
        };
        if let Err(e) = net.insert(id as usize, conn) {
            return self.fail(net, id, WsError::Io(e), now);
        }
        self.show(
            Some(id),
            Dir::In,
            Kind::Open {
                peer: peer.to_string(),
                subprotocol,
                extension,
                subject,
            },
        );
        if let Mode::Exec(cmd) = &self.mode {
            let spawned = Program::spawn(
                cmd,
                id,
                &peer.to_string(),
                &env,
                self.program_tx.clone(),
                self.waker.clone(),
            );
            match spawned {
                Ok(program) => {
                    if let Some(client) = self.hub.get_mut(id) {
                        client.program = Some(program);
                    }
                }
                Err(e) => {
                    self.notice(&format!("wsx: #{id} cannot run the program: {e}"));
                    self.leave(net, id, Some((1011, "cannot run the program")), None, now);
                }
            }
        }
    }

    fn accept_all(&mut self, net: &mut Net, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((tcp, peer)) => {
                    // The handshake runs blocking, with timeouts (`accept` made it so).
                    // Without a descriptor for the handle, the handshake runs unregistered.
                    let token = self.make_room(&tcp);
                    let shared = self.shared.clone();
                    let tx = self.accepted_tx.clone();
                    let waker = self.waker.clone();
                    let spawned = thread::Builder::new()
                        .name("handshake".into())
                        .stack_size(HANDSHAKE_STACK)
                        .spawn(move || {
                            let result = handshake(tcp, peer, &shared);
                            if let Some(token) = token {
                                shared.lock_pending().remove(&token);
                            }
                            match result {
                                Ok(Handshake::Upgraded(accepted)) => {
                                    if tx.send(*accepted).is_ok() {
                                        waker.wake();
                                    }
                                }
                                Ok(Handshake::Served(status, path)) if shared.verbose => {
                                    let path = crate::term::escape(&path);
                                    crate::diag::say(&format!("{peer} < {status} {path}"));
                                }
                                Ok(Handshake::Served(..)) => {}
                                Err(why) if !shared.quiet => {
                                    crate::diag::say(&format!("wsx: {peer}: {why}"))
                                }
                                Err(_) => {}
                            }
                        });
                    if let Err(e) = spawned {
                        if let Some(token) = token {
                            self.shared.lock_pending().remove(&token);
                        }
                        self.notice(&format!("wsx: {peer}: cannot start its handshake: {e}"));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Every waiting client was taken: a shortage after this is a new one.
                    self.starved_noticed = false;
                    return;
                }
                // The listener stays readable while clients wait in its queue: pause it
                // rather than fail again at full speed, until a client leaves or a moment
                // passes. One notice until an accept succeeds again.
                Err(e) if limits::out_of_descriptors(&e) => {
                    if !self.starved_noticed {
                        self.starved_noticed = true;
                        let limit = self
                            .open_files
                            .map(|n| format!(" (the limit is {n}: ulimit -n)"))
                            .unwrap_or_default();
                        self.notice(&format!(
                            "wsx: out of file descriptors{limit}: new clients wait until one leaves"
                        ));
                    }
                    net.pause(LISTENER, true);
                    self.starved = Some(Starved {
                        until: now + STARVED_PAUSE,
                        connections: net.connections(),
                    });
                    return;
                }
                // A connection reset before it was accepted, for one: not fatal.
                Err(e) => {
                    self.notice(&format!("wsx: accepting a connection: {e}"));
                    return;
                }
            }
        }
    }

    /// Registers a new connection's handshake; when `--max-handshakes` are already in
    /// progress, the oldest is dropped to make room (a client that sends half a request cannot
    /// keep others out for long). Returns the handshake's key, or `None` when no handle could
    /// be made (out of descriptors).
    fn make_room(&mut self, tcp: &Transport) -> Option<u64> {
        let handle = tcp.try_clone().ok()?;
        let mut pending = self.shared.lock_pending();
        let mut dropped = 0;
        while pending.len() as u64 >= self.max_handshakes {
            if let Some((_, oldest)) = pending.pop_first() {
                // Its thread's read fails at once, and it ends.
                oldest.shutdown();
                dropped += 1;
            }
        }
        self.handshakes += 1;
        pending.insert(self.handshakes, handle);
        drop(pending);
        match dropped {
            0 => self.crowded_noticed = false,
            _ if self.crowded_noticed => {}
            _ => {
                self.crowded_noticed = true;
                let max = self.max_handshakes;
                self.notice(&format!(
                    "wsx: {max} handshakes in progress (--max-handshakes): the oldest are dropped for new connections"
                ));
            }
        }
        Some(self.handshakes)
    }

    fn operator_command(&mut self, net: &mut Net, cmd: Command, now: Instant) {
        match cmd {
            Command::Text(t) => {
                let t = tungstenite::Utf8Bytes::from(t);
                self.broadcast(net, &Message::Text(t.clone()), now);
                self.show(None, Dir::Out, Kind::Text(t));
            }
            Command::Binary(b) => {
                let b = tungstenite::Bytes::from(b);
                self.broadcast(net, &Message::Binary(b.clone()), now);
                self.show(None, Dir::Out, Kind::Binary(b));
            }
            Command::Ping(p) => {
                for id in self.hub.ids() {
                    if let Some(client) = self.hub.get_mut(id) {
                        client.pings.push_back((p.clone(), now));
                    }
                }
                self.broadcast(net, &Message::Ping(p.clone().into()), now);
                self.show(None, Dir::Out, Kind::Ping(p));
            }
            Command::Pong(p) => {
                self.broadcast(net, &Message::Pong(p.clone().into()), now);
                self.show(None, Dir::Out, Kind::Pong { data: p, rtt: None });
            }
            Command::Close { code, reason } => {
                for id in self.hub.ids() {
                    self.leave(net, id, Some((code, &reason)), None, now);
                }
            }
            Command::Quit => self.begin_shutdown(net, now),
            Command::To { id, text } => {
                if self.hub.contains(id) {
                    let text = tungstenite::Utf8Bytes::from(text);
                    let wire = self.send(net, id, Message::Text(text.clone()), now);
                    self.console
                        .show_sized(Some(id), Dir::Out, Kind::Text(text), wire);
                } else {
                    self.notice(&format!("wsx: no client #{id} (see /clients)"));
                }
            }
            Command::Kick { id, code, reason } => {
                if self.hub.contains(id) {
                    self.leave(net, id, Some((code, &reason)), None, now);
                } else {
                    self.notice(&format!("wsx: no client #{id} (see /clients)"));
                }
            }
            Command::Clients => {
                let listing = self.hub.listing();
                self.notice(&listing);
            }
            // The console has read the file into a Text or Binary already.
            Command::Help | Command::File { .. } => {}
        }
    }

    /// A message from client `id`; `wire` is its compressed size if it came compressed.
    fn received(
        &mut self,
        net: &mut Net,
        id: u64,
        msg: Message,
        wire: Option<usize>,
        now: Instant,
    ) {
        if !self.hub.contains(id) {
            return; // closing: what it still sends is not served
        }
        let kind = match Kind::of(&msg) {
            Some(Kind::Pong { data, .. }) => {
                let rtt = self.hub.get_mut(id).and_then(|c| {
                    let i = c.pings.iter().position(|(sent, _)| sent[..] == data[..])?;
                    c.pings.remove(i).map(|(_, at)| now - at)
                });
                Kind::Pong { data, rtt }
            }
            Some(close @ Kind::Close(_)) => {
                self.show(Some(id), Dir::In, close);
                // tungstenite has queued the answer; the connection ends once it is sent.
                return self.leave(net, id, None, None, now);
            }
            Some(kind) => kind,
            None => return,
        };
        let data = kind.is_data();
        self.console.show_sized(Some(id), Dir::In, kind, wire);
        if !data {
            return;
        }
        match self.hub.route(&self.mode, id) {
            Route::Nowhere => {}
            Route::Clients(targets) => {
                for target in targets {
                    self.send(net, target, msg.clone(), now);
                }
            }
            Route::Program => {
                let line = msg.into_data();
                let refused = self
                    .hub
                    .get_mut(id)
                    .and_then(|c| c.program.as_ref())
                    .map(|p| p.send_line(&line));
                match refused {
                    Some(Err(Refused::Slow)) => {
                        self.notice(&format!(
                            "wsx: #{id} its program is not reading; closed with 1008"
                        ));
                        self.leave(net, id, Some((1008, "too slow")), None, now);
                    }
                    Some(Err(Refused::Gone)) | None | Some(Ok(())) => {}
                }
            }
        }
    }

    fn program_event(&mut self, net: &mut Net, event: ProgramEvent, now: Instant) {
        match event {
            ProgramEvent::Line(id, text) => {
                if self.hub.contains(id) {
                    let text = tungstenite::Utf8Bytes::from(text);
                    let wire = self.send(net, id, Message::Text(text.clone()), now);
                    self.console
                        .show_sized(Some(id), Dir::Out, Kind::Text(text), wire);
                }
            }
            ProgramEvent::Ended(id) => {
                self.leave(
                    net,
                    id,
                    Some((1000, "")),
                    Some("its program ended".into()),
                    now,
                );
            }
        }
    }
}

impl Handler for Server {
    type Outcome = Result<ExitCode>;

    fn turn(&mut self, net: &mut Net, now: Instant) {
        if self.console.interrupted() {
            if self.shutdown {
                return self.finish(Err(Failure::Interrupted.into()));
            }
            self.begin_shutdown(net, now);
        }
        while let Ok(accepted) = self.accepted.try_recv() {
            self.admit(net, accepted, now);
        }
        if let Some(starved) = &self.starved {
            if now >= starved.until || net.connections() < starved.connections {
                self.starved = None;
                net.pause(LISTENER, false);
            }
        }
        // Programs' lines and operator input wait while stdout is full (they are shown).
        while !self.console.output_blocked() {
            let Ok(event) = self.programs.try_recv() else {
                break;
            };
            self.program_event(net, event, now);
        }
        while !self.console.output_blocked() {
            let Some(input) = self.console.next_input() else {
                break;
            };
            match input {
                Input::Command(cmd) => self.operator_command(net, cmd, now),
                Input::Rejected(reason) => self.notice(&format!("wsx: {reason}")),
                // The end of operator input is not the end of the server.
                Input::Eof => {}
            }
        }
        let expired: Vec<u64> = self
            .closing
            .iter()
            .filter(|(_, &t)| t <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.closing.remove(&id);
            net.remove(id as usize);
        }
        if self.shutdown && self.hub.is_empty() && self.closing.is_empty() {
            self.finish(Ok(ExitCode::SUCCESS));
        }
    }

    fn incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant) {
        let id = key as u64;
        match what {
            Incoming::Message(msg, wire) => self.received(net, id, msg, wire, now),
            Incoming::Idle => {}
            Incoming::Closed => {
                net.remove(key);
                self.closing.remove(&id);
                self.leave(net, id, None, None, now);
            }
            Incoming::Failed(e) => self.fail(net, id, e, now),
        }
    }

    fn ready(&mut self, net: &mut Net, key: usize) {
        if key == LISTENER {
            self.accept_all(net, Instant::now());
        } else {
            self.console.ready(net, key);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let starved = self.starved.as_ref().map(|s| s.until);
        self.closing
            .values()
            .copied()
            .chain(starved)
            .chain(self.console.deadline())
            .min()
    }

    fn idle(&mut self, net: &mut Net) -> std::io::Result<()> {
        self.console.idle(net)
    }

    fn output_blocked(&self) -> bool {
        self.console.output_blocked()
    }

    fn finished(&mut self) -> Option<Result<ExitCode>> {
        self.console.take_outcome()
    }
}
