//! `wsx connect`: dial (TCP, TLS, handshake), then run one [`Session`] on the engine until the
//! connection ends, and say how it ended.
//!
//! The session owns the policy of SPEC's "Input" section: `-x` first, one frame per line, the
//! linger after EOF, `--count`, the close handshake and its timeout, Ctrl-C.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message};
use url::Url;

use crate::command::Command;
use crate::console::{Console, Input};
use crate::engine::{failure, Conn, Engine, Handler, Incoming, Net};
use crate::error::Failure;
use crate::event::{CloseInfo, Dir, Kind};
use dial::Dialer;

pub mod cookies;
mod dial;
pub mod proxy;
mod resolve;
mod socks;

/// `wsx connect`, resolved (by `settings.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Url,
    /// Extra request headers: `-H`, then Origin, Authorization, User-Agent and
    /// Sec-WebSocket-Protocol.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `-b`: the cookies, made into a Cookie header for each URL dialled (see
    /// [`crate::client::cookies::header`]).
    pub cookies: Vec<cookies::CookieArg>,
    /// `-H` headers left out because the handshake sets them (noted under `-v`).
    pub dropped_headers: Vec<String>,
    pub execute: Vec<String>,
    /// `--echo`: every received data message is sent back as it came.
    pub echo: bool,
    pub wait: Wait,
    pub count: Option<u64>,
    /// `--until`: a received text message that matches ends the run (exit 0).
    pub until: Option<regex::Regex>,
    /// `-m/--max-time`: the whole run's deadline (exit 7).
    pub max_time: Option<Duration>,
    pub max_message_size: usize,
    /// Offer permessage-deflate (`--no-compression` turns it off).
    pub compression: bool,
    pub connect_timeout: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub ping_timeout: Option<Duration>,
    /// `--reconnect`: dial again after a lost connection.
    pub reconnect: bool,
    /// `--unix-socket`: connect there instead of to the URL's host and port.
    pub unix_socket: Option<std::path::PathBuf>,
    /// `--proxy`; without it the environment is consulted when dialing.
    pub proxy: Option<Url>,
    /// `-L`: follow redirects of the handshake, at most `max_redirects` of them.
    pub follow_redirects: bool,
    pub max_redirects: usize,
    pub tls: crate::tls::ClientTls,
    pub console: crate::console::Settings,
}

/// `-w/--wait`: how long to linger for replies after stdin EOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Close once this long has passed with no frame received.
    After(Duration),
    /// Never close because of EOF.
    Forever,
}

/// The engine key of the one connection.
const CONN: usize = 0;

/// The engine key of stdin, when the engine reads it directly.
const STDIN: usize = 1;

/// Connects, runs the session, and returns the exit status SPEC gives its ending.
///
/// # Errors
/// A [`Failure`] for each way of ending that has a status of its own, other errors for the rest.
pub fn run(s: Settings) -> Result<ExitCode> {
    let started = Instant::now();
    let dialer = Arc::new(Dialer::new(s));
    let s = dialer.settings();
    if s.console.verbose {
        for name in &s.dropped_headers {
            crate::diag::say(&format!(
                "wsx: -H {name}: left out, the WebSocket handshake sets it"
            ));
        }
    }
    let (ws, response) = dialer.dial().map_err(|e| match s.max_time {
        // Connecting took the whole --max-time (its timeouts are bounded by it).
        Some(limit) if started.elapsed() >= limit => Failure::TimedOut(format!(
            "timed out after {}s (--max-time) connecting: {e:#}",
            limit.as_secs_f64()
        ))
        .into(),
        _ => e,
    })?;
    let subprotocol = chosen_subprotocol(&response);
    let extension = ws.get_ref().extension();

    let mut engine = Engine::new().context("creating the poller")?;
    engine
        .net()
        .insert(CONN, Conn::new(ws).context("setting up the socket")?)?;
    let mut console = Console::new(&s.console, engine.waker())?;
    console.show(None, Dir::Out, opened(&s.url, subprotocol, extension));
    console.start(engine.net(), Some(STDIN));

    let mut session = Session::new(&dialer, console, engine.waker(), started);
    let outcome = engine.run(&mut session).context("waiting for events")?;
    session.console.flush().context("writing to stdout")?;
    outcome
}

/// The event for a completed handshake, with the subprotocol and extension the server chose.
fn opened(url: &Url, subprotocol: Option<String>, extension: Option<String>) -> Kind {
    Kind::Open {
        peer: url.to_string(),
        subprotocol,
        extension,
        subject: None,
    }
}

/// The subprotocol a handshake response names, if any.
fn chosen_subprotocol(response: &tungstenite::handshake::client::Response) -> Option<String> {
    response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Open,
    /// We sent a Close and wait for the peer's until the deadline.
    Closing {
        deadline: Instant,
    },
    /// `--reconnect`: the connection was lost; the next attempt is at `retry_at`.
    Away {
        retry_at: Instant,
    },
    /// `--reconnect`: a thread is dialing again; its result arrives with a wakeup.
    Dialing,
}

/// What the dialing thread hands back.
type Dialed = Result<(
    tungstenite::WebSocket<crate::stream::Wire>,
    tungstenite::handshake::client::Response,
)>;

/// The first wait before reconnecting; it doubles after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A ping waiting for its pong.
struct Ping {
    payload: Vec<u8>,
    sent: Instant,
    /// Sent by `--ping-interval` (its pong is shown only with -P), not by `/ping`.
    auto: bool,
}

/// The client's policy on the engine; see the module docs.
struct Session {
    /// Input (the `-x` messages first), output, interrupts and the outcome.
    console: Console,
    phase: Phase,
    wait: Wait,
    close_timeout: Duration,
    /// After stdin EOF: when to close if no frame arrives before.
    linger_until: Option<Instant>,
    /// Data frames still to receive before exiting (`--count`).
    count_left: Option<u64>,
    /// Pings we sent, oldest first, to match pongs and show the round trip.
    pings: VecDeque<Ping>,
    /// `--ping-interval`: when the next automatic ping goes out.
    next_ping: Option<Instant>,
    ping_interval: Option<Duration>,
    ping_timeout: Option<Duration>,
    /// Automatic pings sent so far, for unique payloads.
    auto_pings: u64,
    /// `--reconnect`: the dialer to dial again with (on a thread, so the loop never waits).
    reconnect: Option<Arc<Dialer>>,
    /// The attempt under way, while [`Phase::Dialing`].
    dialing: Option<Receiver<Dialed>>,
    waker: crate::engine::Waker,
    /// The wait before the next reconnection attempt.
    backoff: Duration,
    /// Why the connection was lost, while away.
    away_reason: String,
    /// Lines that could not be sent (reported as they happened).
    rejected: usize,
    /// `--echo`: received data messages go straight back.
    echo: bool,
    /// `--until`: a received text message that matches ends the run cleanly.
    until: Option<regex::Regex>,
    /// `--max-time`: when the run ends, and the limit as given (for the message).
    time_limit: Option<(Instant, Duration)>,
    /// The time limit passed: the run ends with exit 7 however it closes.
    timed_out: bool,
}

impl Session {
    fn new(
        dialer: &Arc<Dialer>,
        mut console: Console,
        waker: crate::engine::Waker,
        started: Instant,
    ) -> Session {
        let s = dialer.settings();
        console.push_front(s.execute.iter().cloned().map(Command::Text));
        Session {
            console,
            phase: Phase::Open,
            wait: s.wait,
            close_timeout: s.console.close_timeout,
            linger_until: None,
            count_left: s.count,
            pings: VecDeque::new(),
            next_ping: s.ping_interval.map(|every| Instant::now() + every),
            ping_interval: s.ping_interval,
            ping_timeout: s.ping_timeout,
            auto_pings: 0,
            reconnect: s.reconnect.then(|| dialer.clone()),
            dialing: None,
            waker,
            backoff: FIRST_BACKOFF,
            away_reason: String::new(),
            rejected: 0,
            echo: s.echo,
            until: s.until.clone(),
            time_limit: s.max_time.map(|limit| (started + limit, limit)),
            timed_out: false,
        }
    }

    fn show(&mut self, dir: Dir, kind: Kind) {
        self.console.show(None, dir, kind);
    }

    /// Ends the run. Once `--max-time` has passed, every ending but an interrupt is "timed
    /// out" (exit 7), however the close went.
    fn finish(&mut self, outcome: Result<ExitCode>) {
        let outcome = match (self.timed_out, self.time_limit) {
            (true, Some((_, limit))) if !is_interrupt(&outcome) => Err(Failure::TimedOut(format!(
                "timed out after {}s (--max-time)",
                limit.as_secs_f64()
            ))
            .into()),
            _ => outcome,
        };
        self.console.finish(outcome);
    }

    /// `--max-time`: once it passes, close cleanly (or stop waiting for a reconnection).
    fn check_time_limit(&mut self, net: &mut Net, now: Instant) {
        let Some((deadline, _)) = self.time_limit else {
            return;
        };
        if self.timed_out || now < deadline || self.console.is_finished() {
            return;
        }
        self.timed_out = true;
        match self.phase {
            Phase::Open => self.begin_close(net, 1000, "", now),
            Phase::Closing { .. } => {}
            Phase::Away { .. } | Phase::Dialing => self.finish(Ok(ExitCode::SUCCESS)),
        }
    }

    fn finish_ok(&mut self) {
        let outcome = match self.rejected {
            0 => Ok(ExitCode::SUCCESS),
            1 => Err(anyhow!("1 input line was not sent")),
            n => Err(anyhow!("{n} input lines were not sent")),
        };
        self.finish(outcome);
    }

    /// Queues our Close frame and starts waiting for the peer's.
    fn begin_close(&mut self, net: &mut Net, code: u16, reason: &str, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        let Some(conn) = net.get(CONN) else { return };
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        if let Err(e) = conn.close(Some(frame)) {
            return self.fail(net, e);
        }
        self.phase = Phase::Closing {
            deadline: now + self.close_timeout,
        };
        self.linger_until = None;
        self.show(Dir::Out, Kind::Close(CloseInfo::new(code, reason)));
    }

    fn apply(&mut self, net: &mut Net, input: Input, now: Instant) {
        match input {
            Input::Command(cmd) => self.command(net, cmd, now),
            Input::Eof => match self.wait {
                Wait::After(d) if d.is_zero() => self.begin_close(net, 1000, "", now),
                Wait::After(d) => self.linger_until = Some(now + d),
                Wait::Forever => {}
            },
            Input::Rejected(reason) => {
                self.rejected += 1;
                self.console.notice(&format!("wsx: {reason}"));
            }
        }
    }

    fn command(&mut self, net: &mut Net, cmd: Command, now: Instant) {
        let (msg, kind) = match cmd {
            // One buffer for the frame and the event: no copy of the payload.
            Command::Text(t) => {
                let t = tungstenite::Utf8Bytes::from(t);
                (Message::Text(t.clone()), Kind::Text(t))
            }
            Command::Binary(b) => {
                let b = tungstenite::Bytes::from(b);
                (Message::Binary(b.clone()), Kind::Binary(b))
            }
            Command::Ping(p) => {
                self.pings.push_back(Ping {
                    payload: p.clone(),
                    sent: now,
                    auto: false,
                });
                (Message::Ping(p.clone().into()), Kind::Ping(p))
            }
            Command::Pong(p) => (
                Message::Pong(p.clone().into()),
                Kind::Pong { data: p, rtt: None },
            ),
            Command::Close { code, reason } => return self.begin_close(net, code, &reason, now),
            Command::Quit => return self.begin_close(net, 1000, "", now),
            // Server commands never parse in a client (`LineMode::server` is false).
            // A /file arrives read, as Text or Binary (see `Console::next_input`).
            Command::Help
            | Command::To { .. }
            | Command::Kick { .. }
            | Command::Clients
            | Command::File { .. } => return,
        };
        let Some(conn) = net.get(CONN) else { return };
        match conn.send(msg) {
            Ok(wire) => self.console.show_sized(None, Dir::Out, kind, wire),
            Err(e) => self.fail(net, e),
        }
    }

    /// `--echo`: sends a received data message back as it came (the same opcode, the same
    /// bytes; tungstenite has already put fragments together). Returns the event to show once
    /// the received one is, and its compressed size.
    fn echo_back(&mut self, net: &mut Net, msg: &Message) -> Option<(Kind, Option<usize>)> {
        let data = matches!(msg, Message::Text(_) | Message::Binary(_));
        if !(self.echo && data && self.phase == Phase::Open && !self.console.is_finished()) {
            return None;
        }
        let conn = net.get(CONN)?;
        match conn.send(msg.clone()) {
            Ok(wire) => Some((Kind::of(msg)?, wire)),
            Err(e) => {
                self.fail(net, e);
                None
            }
        }
    }

    /// A received message; `wire` is its compressed size if it came compressed.
    fn received(&mut self, net: &mut Net, kind: Kind, wire: Option<usize>, now: Instant) {
        if kind.is_data() {
            if self.count_left == Some(0) {
                return; // --count reached: what follows the Nth frame is not ours to print
            }
            let matched = match (&self.until, &kind) {
                (Some(re), Kind::Text(text)) => re.is_match(text),
                _ => false,
            };
            self.console.show_sized(None, Dir::In, kind, wire);
            if matched {
                return self.begin_close(net, 1000, "", now);
            }
            if let (Some(_), Wait::After(d)) = (self.linger_until, self.wait) {
                self.linger_until = Some(now + d);
            }
            if let Some(left) = self.count_left.as_mut() {
                *left -= 1;
                if *left == 0 {
                    self.begin_close(net, 1000, "", now);
                }
            }
            return;
        }
        if let Kind::Pong { data, rtt } = &kind {
            let matched = self.pings.iter().position(|p| &p.payload == data);
            if let Some(i) = matched {
                let ping = self.pings.remove(i).expect("index from position");
                debug_assert!(rtt.is_none());
                // The round trip is what the user asked to see for a /ping; the pongs of
                // automatic pings are ordinary control frames (shown with -P).
                let rtt = (!ping.auto).then(|| now - ping.sent);
                return self.show(
                    Dir::In,
                    Kind::Pong {
                        data: data.clone(),
                        rtt,
                    },
                );
            }
        }
        self.show(Dir::In, kind);
    }

    fn closed_by_peer(&mut self, info: CloseInfo) {
        let close = Kind::Close(info.clone());
        match self.phase {
            // The answer to our Close: whatever code it echoes, we chose to end.
            Phase::Closing { .. } => self.finish_ok(),
            Phase::Open | Phase::Away { .. } | Phase::Dialing if info.is_normal() => {
                self.finish_ok()
            }
            Phase::Open | Phase::Away { .. } | Phase::Dialing => {
                self.finish(Err(Failure::PeerClosed(format!(
                    "the server closed the connection: {}",
                    info.describe()
                ))
                .into()))
            }
        }
        self.show(Dir::In, close);
    }

    /// The connection failed: answer with the RFC's close code where one applies, then end.
    fn fail(&mut self, net: &mut Net, err: WsError) {
        use tungstenite::error::ProtocolError;
        let (reply, what) = failure(&err);
        let reason = match (&err, self.phase) {
            (WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake), Phase::Open) => {
                "connection lost: the server closed the TCP connection without a Close frame (1006)".to_string()
            }
            (WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake), Phase::Closing { .. }) => {
                "connection lost: the server closed the TCP connection without answering our Close (1006)".to_string()
            }
            _ => what,
        };
        if let (Some(code), Some(conn)) = (reply, net.get(CONN)) {
            conn.close_failed(code);
        }
        self.lost(net, reason, Instant::now());
    }

    /// The connection is gone without a proper close: end the session, or with `--reconnect`
    /// try again after the backoff (input waits meanwhile; nothing is dropped).
    fn lost(&mut self, net: &mut Net, reason: String, now: Instant) {
        net.remove(CONN);
        let gone = Kind::Disconnected {
            reason: Some(reason.clone()),
        };
        if self.reconnect.is_none() || self.phase != Phase::Open || self.console.is_finished() {
            self.finish(Err(Failure::Lost(reason).into()));
            return self.show(Dir::In, gone);
        }
        self.show(Dir::In, gone);
        self.away(reason, now);
    }

    /// Schedules the next reconnection attempt.
    fn away(&mut self, reason: String, now: Instant) {
        let secs = self.backoff.as_secs_f64();
        self.console
            .notice(&format!("wsx: {reason}; reconnecting in {secs}s"));
        self.phase = Phase::Away {
            retry_at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.away_reason = reason;
        self.pings.clear();
    }

    /// Starts dialing again on a thread of its own: the loop goes on (Ctrl-C acts at once),
    /// and the result arrives with a wakeup.
    fn redial(&mut self) {
        let Some(dialer) = self.reconnect.clone() else {
            return;
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let waker = self.waker.clone();
        let spawned = std::thread::Builder::new()
            .name("redial".into())
            .spawn(move || {
                // The session may have ended meanwhile: then nobody waits for the result.
                if tx.send(dialer.dial()).is_ok() {
                    waker.wake();
                }
            });
        match spawned {
            Ok(_) => {
                self.phase = Phase::Dialing;
                self.dialing = Some(rx);
            }
            Err(e) => self.away(format!("reconnecting failed: {e}"), Instant::now()),
        }
    }

    /// Takes the dialing thread's result, if it is there: on success the `-x` messages go out
    /// first, before any waiting input.
    fn dialed(&mut self, net: &mut Net, now: Instant) {
        let Some(rx) = &self.dialing else { return };
        let attempt = match rx.try_recv() {
            Ok(attempt) => attempt,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err(anyhow!("the dialing thread ended")),
        };
        self.dialing = None;
        let attempt = attempt.and_then(|(ws, response)| {
            let extension = ws.get_ref().extension();
            net.insert(CONN, Conn::new(ws)?)?;
            Ok((response, extension))
        });
        let Some(dialer) = self.reconnect.clone() else {
            return;
        };
        let settings = dialer.settings();
        match attempt {
            Ok((response, extension)) => {
                let kind = opened(&settings.url, chosen_subprotocol(&response), extension);
                self.show(Dir::Out, kind);
                self.console
                    .push_front(settings.execute.iter().cloned().map(Command::Text));
                self.phase = Phase::Open;
                self.backoff = FIRST_BACKOFF;
                self.next_ping = self.ping_interval.map(|every| now + every);
            }
            Err(e) => self.away(format!("reconnecting failed: {e:#}"), now),
        }
    }

    /// `--ping-interval` and `--ping-timeout`: send the next ping when due; end the session
    /// when the oldest automatic ping has waited too long for its pong.
    fn keep_alive(&mut self, net: &mut Net, now: Instant) {
        if let Some(timeout) = self.ping_timeout {
            if self.pings.iter().any(|p| p.auto && now >= p.sent + timeout) {
                let secs = timeout.as_secs_f64();
                let reason =
                    format!("no pong within {secs}s (--ping-timeout): the connection is dead");
                return self.lost(net, reason, now);
            }
        }
        let (Some(due), Some(every)) = (self.next_ping, self.ping_interval) else {
            return;
        };
        if now < due || self.phase != Phase::Open {
            return;
        }
        self.auto_pings += 1;
        let payload = format!("wsx-{}", self.auto_pings).into_bytes();
        self.next_ping = Some(now + every);
        let Some(conn) = net.get(CONN) else { return };
        if let Err(e) = conn.send(Message::Ping(payload.clone().into())) {
            return self.fail(net, e);
        }
        self.pings.push_back(Ping {
            payload: payload.clone(),
            sent: now,
            auto: true,
        });
        self.show(Dir::Out, Kind::Ping(payload));
    }

    fn check_interrupts(&mut self, net: &mut Net, now: Instant) {
        if !self.console.interrupted() {
            return;
        }
        match self.phase {
            Phase::Open => self.begin_close(net, 1000, "", now),
            Phase::Closing { .. } => self.finish(Err(Failure::Interrupted.into())),
            // Nothing to close: the session ends with the loss it was recovering from (an
            // attempt under way is left to its thread; nobody waits for it).
            Phase::Away { .. } | Phase::Dialing => {
                let reason = std::mem::take(&mut self.away_reason);
                self.finish(Err(Failure::Lost(reason).into()));
            }
        }
    }
}

impl Handler for Session {
    type Outcome = Result<ExitCode>;

    fn turn(&mut self, net: &mut Net, now: Instant) {
        self.check_interrupts(net, now);
        self.check_time_limit(net, now);
        let open = |s: &Session| s.phase == Phase::Open && !s.console.is_finished();
        if let Phase::Away { retry_at } = self.phase {
            if now >= retry_at && !self.console.is_finished() {
                self.redial();
            }
        }
        if self.phase == Phase::Dialing && !self.console.is_finished() {
            self.dialed(net, now);
        }
        if !self.console.is_finished() {
            self.keep_alive(net, now);
        }
        // Input is taken only while the socket and stdout keep up: otherwise lines wait in
        // the bounded channel, which in turn blocks the reader. Nothing is dropped.
        while open(self) && !net.any_blocked() && !self.console.output_blocked() {
            let Some(input) = self.console.next_input() else {
                break;
            };
            self.apply(net, input, now);
        }
        // Read stdin only while its lines can go out; a full socket pauses it, so the pipe
        // fills and the writer upstream waits. Nothing is dropped.
        let want_stdin = open(self) && !self.console.has_queued() && !self.console.output_blocked();
        self.console.pause_stdin(net, !want_stdin);
        if self.linger_until.is_some_and(|t| now >= t) {
            self.begin_close(net, 1000, "", now);
        }
        if let Phase::Closing { deadline } = self.phase {
            if now >= deadline {
                let secs = self.close_timeout.as_secs_f64();
                self.finish(Err(Failure::Lost(format!(
                    "no answer to our Close within {secs}s"
                ))
                .into()));
            }
        }
    }

    fn incoming(&mut self, net: &mut Net, _key: usize, what: Incoming, now: Instant) {
        match what {
            Incoming::Message(msg, wire) => {
                // Echoed before the message is handled, which may start the close (--count).
                let echoed = self.echo_back(net, &msg);
                match Kind::of(&msg) {
                    Some(Kind::Close(info)) => self.closed_by_peer(info),
                    Some(kind) => self.received(net, kind, wire, now),
                    None => {}
                }
                if let Some((kind, wire)) = echoed {
                    self.console.show_sized(None, Dir::Out, kind, wire);
                }
            }
            Incoming::Idle => {}
            Incoming::Closed => {
                net.remove(CONN);
                self.finish_ok();
            }
            Incoming::Failed(e) => self.fail(net, e),
        }
    }

    fn ready(&mut self, net: &mut Net, key: usize) {
        self.console.ready(net, key);
    }

    fn deadline(&self) -> Option<Instant> {
        let closing = match self.phase {
            Phase::Closing { deadline } => Some(deadline),
            Phase::Away { retry_at } => Some(retry_at),
            // The dialing thread wakes the loop when it is done.
            Phase::Open | Phase::Dialing => None,
        };
        let ping_due = self.next_ping.filter(|_| self.phase == Phase::Open);
        let pong_due = self.ping_timeout.and_then(|t| {
            self.pings
                .iter()
                .filter(|p| p.auto)
                .map(|p| p.sent + t)
                .min()
        });
        let time_limit = self
            .time_limit
            .filter(|_| !self.timed_out)
            .map(|(deadline, _)| deadline);
        [
            self.linger_until,
            time_limit,
            closing,
            ping_due,
            pong_due,
            self.console.deadline(),
        ]
        .into_iter()
        .flatten()
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

/// Whether an outcome is the interrupt's (130), which a time limit does not override.
fn is_interrupt(outcome: &Result<ExitCode>) -> bool {
    outcome
        .as_ref()
        .is_err_and(|e| crate::error::exit_code(e) == Failure::Interrupted.code())
}
