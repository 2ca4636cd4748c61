//! `wsx connect`: dial (TCP, TLS, handshake), then run one [`Session`] on the engine until the
//! connection ends, and say how it ended.
//!
//! The session owns the policy of SPEC's "Input" section: `-x` first, one frame per line, the
//! linger after EOF, `--count`, the close handshake and its timeout, Ctrl-C.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message};
use url::Url;

use crate::cli::{Format, Wait};
use crate::command::Command;
use crate::engine::{failure, Conn, Engine, Handler, Incoming, Net};
use crate::error::Failure;
use crate::event::{CloseInfo, Dir, Event, Kind};
use crate::input::lines::{Splitter, READ_SIZE};
use crate::input::{self, Input};
use crate::output::{Printer, Sink};
use crate::settings::ConnectSettings;
use dial::dial;

mod dial;

/// The engine key of the one connection.
const CONN: usize = 0;

/// The engine key of stdin, when the engine reads it directly.
const STDIN: usize = 1;

/// Connects, runs the session, and returns the exit status SPEC gives its ending.
///
/// # Errors
/// A [`Failure`] for each way of ending that has a status of its own, other errors for the rest.
pub fn run(s: ConnectSettings) -> Result<ExitCode> {
    let (ws, response) = dial(&s)?;
    let subprotocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let mut engine = Engine::new().context("creating the poller")?;
    let waker = engine.waker();
    engine
        .net()
        .insert(CONN, Conn::new(ws).context("setting up the socket")?)?;
    let interrupts = input::on_interrupt(waker.clone())?;
    let (tx, rx) = std::sync::mpsc::sync_channel(input::CHANNEL_BOUND);

    let mut direct = None;
    let printer = if s.console.repl {
        // The guard restores the mode saved before the editor ever ran, whichever way the
        // session ends: a peer can end it while rustyline holds the terminal raw.
        let repl = input::repl::Repl::new(s.console.history.clone(), s.console.line_mode)?;
        let guard = repl.guard();
        let (repl, external) = repl.with_printer()?;
        let mut printer = Printer::new(
            s.console.output.clone(),
            Sink::Repl {
                printer: external,
                _terminal: guard,
            },
        );
        show_open(&mut printer, &s.url, subprotocol)?;
        repl.spawn(tx, waker);
        printer
    } else {
        let mut printer = Printer::stdout(s.console.output.clone());
        show_open(&mut printer, &s.url, subprotocol)?;
        let splitter = Splitter::new(
            s.console.line_mode,
            s.console.skip_empty_lines,
            s.console.quiet,
        );
        // A line goes out fastest when the engine reads it itself: no thread hand-off. Stdin
        // that cannot be polled (a regular file, /dev/null) is read on a thread instead.
        if engine
            .net()
            .watch(Box::new(rustix::stdio::stdin()), STDIN)
            .is_ok()
        {
            direct = Some(splitter);
        } else {
            input::lines::spawn(splitter, tx, waker);
        }
        printer
    };

    let mut session = Session::new(&s, printer, rx, interrupts);
    session.stdin = direct;
    let outcome = engine.run(&mut session).context("waiting for events")?;
    session.printer.flush().context("writing to stdout")?;
    outcome
}

fn show_open(printer: &mut Printer, url: &Url, subprotocol: Option<String>) -> Result<()> {
    let kind = Kind::Open {
        peer: url.to_string(),
        subprotocol,
    };
    let ev = Event {
        at: SystemTime::now(),
        client: None,
        dir: Dir::Out,
        kind,
    };
    printer.event(&ev).context("writing to stdout")
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
}

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
    printer: Printer,
    input: Receiver<input::Batch>,
    /// Input taken from the channel or stdin (and the `-x` messages) not yet sent.
    queued: VecDeque<Input>,
    /// Set when the engine reads stdin itself (watched under [`STDIN`]).
    stdin: Option<Splitter>,
    /// Whether stdin reports are paused because the connection is backed up.
    stdin_paused: bool,
    read_buf: Vec<u8>,
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
    /// `--reconnect`: the settings to dial again with.
    reconnect: Option<Box<ConnectSettings>>,
    /// The wait before the next reconnection attempt.
    backoff: Duration,
    /// Why the connection was lost, while away.
    away_reason: String,
    interrupts: Arc<AtomicUsize>,
    interrupts_seen: usize,
    /// Typed REPL lines are already on screen: don't print them again in human format.
    skip_typed_echo: bool,
    /// Lines that could not be sent (reported as they happened).
    rejected: usize,
    quiet: bool,
    outcome: Option<Result<ExitCode>>,
}

impl Session {
    fn new(
        s: &ConnectSettings,
        printer: Printer,
        input: Receiver<input::Batch>,
        interrupts: Arc<AtomicUsize>,
    ) -> Session {
        let queued = s
            .execute
            .iter()
            .map(|m| Input::Command {
                cmd: Command::Text(m.clone()),
                typed: false,
            })
            .collect();
        Session {
            printer,
            input,
            queued,
            stdin: None,
            stdin_paused: false,
            read_buf: Vec::new(),
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
            reconnect: s.reconnect.then(|| Box::new(s.clone())),
            backoff: FIRST_BACKOFF,
            away_reason: String::new(),
            interrupts,
            interrupts_seen: 0,
            skip_typed_echo: s.console.repl && s.console.output.format == Format::Human,
            rejected: 0,
            quiet: s.console.quiet,
            outcome: None,
        }
    }

    fn show(&mut self, dir: Dir, kind: Kind) {
        let ev = Event {
            at: SystemTime::now(),
            client: None,
            dir,
            kind,
        };
        if let Err(e) = self.printer.event(&ev) {
            self.finish(Err(anyhow::Error::new(e).context("writing to stdout")));
        }
    }

    /// Records how the session ends; the first ending wins. What is shown from here on is
    /// written directly, not above a prompt.
    fn finish(&mut self, outcome: Result<ExitCode>) {
        if self.outcome.is_none() {
            self.printer.leave_repl();
            self.outcome = Some(outcome);
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
            Input::Command { cmd, typed } => self.command(net, cmd, typed, now),
            Input::Eof => match self.wait {
                Wait::After(d) if d.is_zero() => self.begin_close(net, 1000, "", now),
                Wait::After(d) => self.linger_until = Some(now + d),
                Wait::Forever => {}
            },
            Input::Rejected(reason) => {
                self.rejected += 1;
                if !self.quiet {
                    eprintln!("wsx: {reason}");
                }
            }
        }
    }

    fn command(&mut self, net: &mut Net, cmd: Command, typed: bool, now: Instant) {
        let (msg, kind) = match cmd {
            Command::Text(t) => (Message::text(t.clone()), Kind::Text(t)),
            Command::Binary(b) => (Message::binary(b.clone()), Kind::Binary(b)),
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
            Command::Help | Command::To { .. } | Command::Kick { .. } | Command::Clients => return,
        };
        let Some(conn) = net.get(CONN) else { return };
        if let Err(e) = conn.send(msg) {
            return self.fail(net, e);
        }
        if !(typed && self.skip_typed_echo && kind.is_data()) {
            self.show(Dir::Out, kind);
        }
    }

    fn received(&mut self, net: &mut Net, kind: Kind, now: Instant) {
        if kind.is_data() {
            if self.count_left == Some(0) {
                return; // --count reached: what follows the Nth frame is not ours to print
            }
            self.show(Dir::In, kind);
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
            Phase::Open | Phase::Away { .. } if info.is_normal() => self.finish_ok(),
            Phase::Open | Phase::Away { .. } => self.finish(Err(Failure::PeerClosed(format!(
                "the server closed the connection: {}",
                info.describe()
            ))
            .into())),
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
        if self.reconnect.is_none() || self.phase != Phase::Open || self.outcome.is_some() {
            self.finish(Err(Failure::Lost(reason).into()));
            return self.show(Dir::In, gone);
        }
        self.show(Dir::In, gone);
        self.away(reason, now);
    }

    /// Schedules the next reconnection attempt.
    fn away(&mut self, reason: String, now: Instant) {
        if !self.quiet {
            let secs = self.backoff.as_secs_f64();
            eprintln!("wsx: {reason}; reconnecting in {secs}s");
        }
        self.phase = Phase::Away {
            retry_at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.away_reason = reason;
        self.pings.clear();
    }

    /// Dials again; on success the `-x` messages go out first, before any waiting input.
    fn redial(&mut self, net: &mut Net) {
        let Some(settings) = self.reconnect.take() else {
            return;
        };
        let attempt = dial(&settings).and_then(|(ws, response)| {
            net.insert(CONN, Conn::new(ws)?)?;
            Ok(response)
        });
        let now = Instant::now();
        match attempt {
            Ok(response) => {
                let subprotocol = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let kind = Kind::Open {
                    peer: settings.url.to_string(),
                    subprotocol,
                };
                self.show(Dir::Out, kind);
                for message in settings.execute.iter().rev() {
                    let cmd = Command::Text(message.clone());
                    self.queued.push_front(Input::Command { cmd, typed: false });
                }
                self.phase = Phase::Open;
                self.backoff = FIRST_BACKOFF;
                self.next_ping = self.ping_interval.map(|every| now + every);
            }
            Err(e) => self.away(format!("reconnecting failed: {e:#}"), now),
        }
        self.reconnect = Some(settings);
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
        let count = self.interrupts.load(Ordering::SeqCst);
        if count == self.interrupts_seen {
            return;
        }
        self.interrupts_seen = count;
        match self.phase {
            Phase::Open => self.begin_close(net, 1000, "", now),
            Phase::Closing { .. } => self.finish(Err(Failure::Interrupted.into())),
            // Nothing to close: the session ends with the loss it was recovering from.
            Phase::Away { .. } => {
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
        if let Phase::Away { retry_at } = self.phase {
            if now >= retry_at && self.outcome.is_none() {
                self.redial(net);
            }
        }
        if self.outcome.is_none() {
            self.keep_alive(net, now);
        }
        // Input is taken only while the socket keeps up: a blocked connection leaves lines
        // in the bounded channel, which in turn blocks the reader. Nothing is dropped.
        while self.phase == Phase::Open && self.outcome.is_none() && !net.any_blocked() {
            if let Some(input) = self.queued.pop_front() {
                self.apply(net, input, now);
                continue;
            }
            match self.input.try_recv() {
                Ok(batch) => self.queued.extend(batch),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        // Read stdin only while its lines can go out; a full socket pauses it, so the pipe
        // fills and the writer upstream waits. Nothing is dropped.
        let want_stdin =
            self.phase == Phase::Open && self.outcome.is_none() && self.queued.is_empty();
        if self.stdin.is_some() && want_stdin == self.stdin_paused {
            self.stdin_paused = !want_stdin;
            net.pause(STDIN, self.stdin_paused);
        }
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
            Incoming::Message(Message::Text(t)) => {
                self.received(net, Kind::Text(t.as_str().to_string()), now)
            }
            Incoming::Message(Message::Binary(b)) => {
                self.received(net, Kind::Binary(b.to_vec()), now)
            }
            Incoming::Message(Message::Ping(p)) => self.received(net, Kind::Ping(p.to_vec()), now),
            Incoming::Message(Message::Pong(p)) => self.received(
                net,
                Kind::Pong {
                    data: p.to_vec(),
                    rtt: None,
                },
                now,
            ),
            Incoming::Message(Message::Close(frame)) => {
                let info = frame.map_or(
                    CloseInfo {
                        code: None,
                        reason: String::new(),
                    },
                    |f| CloseInfo::new(f.code.into(), f.reason.as_str()),
                );
                self.closed_by_peer(info);
            }
            Incoming::Message(Message::Frame(_)) | Incoming::Idle => {}
            Incoming::Closed => {
                net.remove(CONN);
                self.finish_ok();
            }
            Incoming::Failed(e) => self.fail(net, e),
        }
    }

    fn ready(&mut self, net: &mut Net, _key: usize) {
        let Some(splitter) = self.stdin.as_mut() else {
            return;
        };
        if self.stdin_paused {
            return;
        }
        self.read_buf.resize(READ_SIZE, 0);
        // One read per report: the poller said stdin is readable, so this does not block.
        match rustix::io::read(rustix::stdio::stdin(), &mut self.read_buf[..]) {
            Ok(0) => {
                splitter.finish(&mut self.queued);
                net.unwatch(STDIN);
                self.stdin = None;
            }
            Ok(n) => splitter.feed(&self.read_buf[..n], &mut self.queued),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(e) => {
                self.queued
                    .push_back(Input::Rejected(format!("reading stdin: {e}")));
                splitter.finish(&mut self.queued);
                net.unwatch(STDIN);
                self.stdin = None;
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let closing = match self.phase {
            Phase::Closing { deadline } => Some(deadline),
            Phase::Away { retry_at } => Some(retry_at),
            Phase::Open => None,
        };
        let ping_due = self.next_ping.filter(|_| self.phase == Phase::Open);
        let pong_due = self.ping_timeout.and_then(|t| {
            self.pings
                .iter()
                .filter(|p| p.auto)
                .map(|p| p.sent + t)
                .min()
        });
        [self.linger_until, closing, ping_due, pong_due]
            .into_iter()
            .flatten()
            .min()
    }

    fn idle(&mut self) -> std::io::Result<()> {
        self.printer.flush()
    }

    fn finished(&mut self) -> Option<Result<ExitCode>> {
        self.outcome.take()
    }
}
