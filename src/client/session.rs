//! One `wsx connect` session on the engine: the rules of SPEC's "Input" section (`-x` first,
//! one frame per line, the linger after EOF, `--count`, `--until`, `--max-time`, `--echo`),
//! the close handshake and its timeout, Ctrl-C, and what a lost connection means (the end, or
//! with `--reconnect` a pause and another attempt).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use tungstenite::{Error as WsError, Message};

use super::dial::Dialer;
use super::keepalive::KeepAlive;
use super::reconnect::Reconnect;
use super::{opened, Wait, CONN};
use crate::command::Command;
use crate::console::{Console, Input, Role};
use crate::engine::{failure, Conn, Incoming, Net, Waker};
use crate::error::Failure;
use crate::event::{CloseInfo, Dir, Kind};
use crate::pings::Pings;
use crate::replay::{Conversation, Play, Script, Side};

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

/// The client's policy on the engine; see the module docs.
pub struct Session {
    /// Input (the `-x` messages first), output, interrupts and the outcome.
    console: Console,
    phase: Phase,
    wait: Wait,
    close_timeout: Duration,
    /// After stdin EOF: when to close if no frame arrives before.
    linger_until: Option<Instant>,
    /// Data frames still to receive before exiting (`--count`).
    count_left: Option<u64>,
    /// `--count` was reached or `--until` matched: the run is closing, and data that still
    /// arrives is not shown.
    satisfied: bool,
    /// Pings we sent, to match pongs and show the round trip.
    pings: Pings,
    /// `--ping-interval`, `--ping-timeout`.
    keepalive: KeepAlive,
    /// `--reconnect`: dialing again after a lost connection.
    reconnect: Option<Reconnect>,
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
    /// `--replay`: the client's side of a recording, played instead of stdin.
    script: Option<Script>,
}

impl Session {
    pub fn new(
        dialer: &Arc<Dialer>,
        mut console: Console,
        waker: Waker,
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
            satisfied: false,
            pings: Pings::default(),
            keepalive: KeepAlive::new(s.ping_interval, s.ping_timeout, Instant::now()),
            reconnect: s.reconnect.then(|| Reconnect::new(dialer.clone(), waker)),
            rejected: 0,
            echo: s.echo,
            until: s.until.clone(),
            time_limit: s.max_time.map(|limit| (started + limit, limit)),
            timed_out: false,
            script: None,
        }
    }

    /// `--replay`: plays the client's side of `conversation` from `now`, instead of stdin.
    pub fn replay(&mut self, conversation: &Conversation, speed: f64, now: Instant) {
        self.script = Some(Script::of(conversation, Side::Client, speed, now));
    }

    /// Sends what the replay has due (while the socket and stdout keep up). Once it has sent
    /// everything, that is the end of input; while it waits for the server, `-w` bounds the
    /// wait as it bounds the linger after EOF.
    fn play(&mut self, net: &mut Net, now: Instant) {
        while self.phase == Phase::Open
            && !self.console.is_finished()
            && !net.any_blocked()
            && !self.console.output_blocked()
        {
            let Some(play) = self.script.as_mut().and_then(|s| s.take(now)) else {
                break;
            };
            let (msg, kind) = match play.into_frame() {
                Ok(frame) => frame,
                Err((code, reason)) => {
                    self.script = None;
                    return self.begin_close(net, code, &reason, now);
                }
            };
            let Some(conn) = net.get(CONN) else { return };
            match conn.send(msg) {
                Ok(wire) => self.console.show_replayed(None, kind, wire),
                Err(e) => return self.fail(net, e),
            }
        }
        let Some(script) = &self.script else { return };
        if script.done() {
            self.script = None;
            self.linger_until = None;
            return self.apply(net, Input::Eof, now);
        }
        match (script.waiting(), self.wait) {
            (None, _) => self.linger_until = None,
            (Some(_), Wait::After(d)) if self.linger_until.is_none() => {
                self.linger_until = Some(now + d);
            }
            _ => {}
        }
    }

    /// After the loop: writes what the last turn rendered, and gives the run's outcome.
    ///
    /// # Errors
    /// The outcome's, or writing to stdout failed.
    pub fn end(mut self, outcome: Result<ExitCode>) -> Result<ExitCode> {
        let outcome = match self.console.flush() {
            Ok(()) => outcome,
            Err(e) => Err(anyhow!(e).context("writing to stdout")),
        };
        self.console.end_recording(outcome)
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
        if let Err(e) = conn.close(code, reason) {
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
                self.pings.sent(p.clone(), now, false);
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
            if self.satisfied {
                // --count reached or --until matched: what follows while the close completes
                // is not ours to print.
                return;
            }
            let matched = match (&self.until, &kind) {
                (Some(re), Kind::Text(text)) => re.is_match(text),
                _ => false,
            };
            if let Some(script) = self.script.as_mut() {
                let differs = Play::of(&kind).and_then(|got| script.theirs(&got, now));
                if let Some(differs) = differs {
                    self.console.notice(&format!("wsx: --replay: {differs}"));
                }
            }
            self.console.show_sized(None, Dir::In, kind, wire);
            if let (Some(_), Wait::After(d)) = (self.linger_until, self.wait) {
                self.linger_until = Some(now + d);
            }
            if let Some(left) = self.count_left.as_mut() {
                *left -= 1;
            }
            if matched || self.count_left == Some(0) {
                self.satisfied = true;
                self.begin_close(net, 1000, "", now);
            }
            return;
        }
        if let Kind::Pong { data, rtt: None } = kind {
            // The round trip is what the user asked to see for a /ping; the pongs of
            // automatic pings are ordinary control frames (shown with -P).
            let rtt = self
                .pings
                .answered(&data, now)
                .and_then(|answer| (!answer.auto).then_some(answer.rtt));
            return self.show(Dir::In, Kind::Pong { data, rtt });
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
        let Some(reconnect) = self.reconnect.as_mut() else {
            return;
        };
        let notice = format!("wsx: {reason}");
        let wait = reconnect.lost(reason);
        let secs = wait.as_secs_f64();
        self.console
            .notice(&format!("{notice}; reconnecting in {secs}s"));
        self.phase = Phase::Away {
            retry_at: now + wait,
        };
        self.pings.clear();
    }

    /// Starts dialing again on a thread of its own: the loop goes on (Ctrl-C acts at once),
    /// and the result arrives with a wakeup.
    fn redial(&mut self) {
        let Some(reconnect) = self.reconnect.as_mut() else {
            return;
        };
        match reconnect.start() {
            Ok(()) => self.phase = Phase::Dialing,
            Err(e) => self.away(format!("reconnecting failed: {e}"), Instant::now()),
        }
    }

    /// Takes the dialing thread's result, if it is there: on success the `-x` messages go out
    /// first, before any waiting input.
    fn dialed(&mut self, net: &mut Net, now: Instant) {
        let Some(reconnect) = self.reconnect.as_mut() else {
            return;
        };
        let Some(attempt) = reconnect.result() else {
            return;
        };
        let attempt = attempt.and_then(|(ws, response)| {
            let extension = ws.get_ref().extension();
            net.insert(CONN, Conn::new(ws)?)?;
            Ok((response, extension))
        });
        match attempt {
            Ok((response, extension)) => {
                reconnect.backoff.reset();
                let settings = reconnect.dialer().settings();
                let kind = opened(&settings.url, &response, extension);
                let execute = settings.execute.clone();
                self.show(Dir::Out, kind);
                self.console
                    .push_front(execute.into_iter().map(Command::Text));
                self.phase = Phase::Open;
                self.keepalive.restart(now);
            }
            Err(e) => self.away(format!("reconnecting failed: {e:#}"), now),
        }
    }

    /// `--ping-interval` and `--ping-timeout`: send the next ping when due; end the session
    /// when the oldest automatic ping has waited too long for its pong.
    fn keep_alive(&mut self, net: &mut Net, now: Instant) {
        if let Some(reason) = self.keepalive.dead(&self.pings, now) {
            return self.lost(net, reason, now);
        }
        if self.phase != Phase::Open {
            return;
        }
        let Some(payload) = self.keepalive.due(now) else {
            return;
        };
        let Some(conn) = net.get(CONN) else { return };
        if let Err(e) = conn.send(Message::Ping(payload.clone().into())) {
            return self.fail(net, e);
        }
        self.pings.sent(payload.clone(), now, true);
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
                let reason = self
                    .reconnect
                    .as_mut()
                    .map(Reconnect::take_reason)
                    .unwrap_or_default();
                self.finish(Err(Failure::Lost(reason).into()));
            }
        }
    }
}

impl Role for Session {
    fn console(&self) -> &Console {
        &self.console
    }

    fn console_mut(&mut self) -> &mut Console {
        &mut self.console
    }

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
        if open(self) {
            self.play(net, now);
        }
        if self.linger_until.is_some_and(|t| now >= t) {
            if let Some((needs, seen)) = self.script.as_ref().and_then(Script::waiting) {
                self.console.notice(&format!(
                    "wsx: --replay: the next message waits for message {needs} from the server, and {seen} came (-w); closing"
                ));
            }
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

    fn deadline(&self) -> Option<Instant> {
        let closing = match self.phase {
            Phase::Closing { deadline } => Some(deadline),
            Phase::Away { retry_at } => Some(retry_at),
            // The dialing thread wakes the loop when it is done.
            Phase::Open | Phase::Dialing => None,
        };
        let keepalive = self
            .keepalive
            .deadline(&self.pings, self.phase == Phase::Open);
        let time_limit = self
            .time_limit
            .filter(|_| !self.timed_out)
            .map(|(deadline, _)| deadline);
        let replay = self
            .script
            .as_ref()
            .filter(|_| self.phase == Phase::Open)
            .and_then(Script::due);
        [self.linger_until, time_limit, closing, keepalive, replay]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Whether an outcome is the interrupt's (130), which a time limit does not override.
fn is_interrupt(outcome: &Result<ExitCode>) -> bool {
    outcome
        .as_ref()
        .is_err_and(|e| crate::error::exit_code(e) == Failure::Interrupted.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::stream::{Socket, Stream, Wire};
    use std::net::{TcpListener, TcpStream};

    type Peer = tungstenite::WebSocket<TcpStream>;

    /// Runs a session with `input` against `peer` (an in-process server for one connection,
    /// on its own thread); returns the outcome's exit status or error, and what was printed.
    /// Every run is bounded by its own `--max-time` (exit 7), so nothing here can hang.
    fn session(
        adjust: impl FnOnce(&mut super::super::Settings),
        input: Vec<Input>,
        peer: impl FnOnce(&mut Peer) + Send + 'static,
    ) -> (Result<ExitCode>, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut ws = tungstenite::accept(tcp).unwrap();
            peer(&mut ws);
        });
        let mut settings = super::super::Settings::for_test(&format!("ws://{addr}/"));
        settings.max_time = Some(Duration::from_secs(10));
        adjust(&mut settings);
        let deadline = Instant::now() + Duration::from_secs(10);
        let socket = Socket::with_deadline(TcpStream::connect(addr).unwrap(), deadline);
        let wire = Wire::plain(Stream::Plain(socket));
        let (ws, _) = tungstenite::client::client(settings.url.as_str(), wire).unwrap();

        let dialer = Arc::new(Dialer::new(settings));
        let mut engine = Engine::new().unwrap();
        engine.net().insert(CONN, Conn::new(ws).unwrap()).unwrap();
        let (console, printed, tx) = Console::captured(&dialer.settings().console, engine.waker());
        tx.send(input).unwrap();
        let mut session = Session::new(&dialer, console, engine.waker(), Instant::now());
        let outcome = engine.run(&mut session).unwrap();
        let outcome = session.end(outcome);
        if let Err(panic) = server.join() {
            std::panic::resume_unwind(panic);
        }
        let printed = printed.lock().unwrap().clone();
        (outcome, String::from_utf8(printed).unwrap())
    }

    fn text(s: &str) -> Input {
        Input::Command(Command::Text(s.into()))
    }

    /// Echoes data messages until the connection ends.
    fn echo(ws: &mut Peer) {
        while let Ok(msg) = ws.read() {
            if msg.is_text() || msg.is_binary() {
                let _ = ws.send(msg);
            }
        }
    }

    /// Sends `texts`, then reads until the connection ends.
    fn sends(texts: &'static [&'static str]) -> impl FnOnce(&mut Peer) + Send {
        move |ws| {
            for t in texts {
                ws.send(Message::text(*t)).unwrap();
            }
            while ws.read().is_ok() {}
        }
    }

    fn status(outcome: &Result<ExitCode>) -> u8 {
        match outcome {
            Ok(code) if *code == ExitCode::SUCCESS => 0,
            Ok(_) => panic!("an exit status other than 0 without an error"),
            Err(e) => crate::error::exit_code(e),
        }
    }

    #[test]
    fn lines_go_out_and_the_close_follows_their_end() {
        let (outcome, printed) = session(|_| {}, vec![text("a"), text("b"), Input::Eof], echo);
        assert_eq!(status(&outcome), 0, "{outcome:?}");
        assert_eq!(printed, "a\nb\n");
    }

    #[test]
    fn count_ends_the_run_after_n_messages() {
        let (outcome, printed) = session(
            |s| {
                s.count = Some(2);
                s.wait = Wait::Forever;
            },
            vec![],
            sends(&["1", "2", "3"]),
        );
        assert_eq!(status(&outcome), 0, "{outcome:?}");
        assert_eq!(printed, "1\n2\n");
    }

    #[test]
    fn until_ends_the_run_at_the_first_match_after_printing_it() {
        let (outcome, printed) = session(
            |s| {
                s.until = Some(regex::Regex::new("^go$").unwrap());
                s.wait = Wait::Forever;
            },
            vec![],
            sends(&["wait", "go", "more"]),
        );
        assert_eq!(status(&outcome), 0, "{outcome:?}");
        assert_eq!(printed, "wait\ngo\n");
    }

    #[test]
    fn a_close_with_another_code_is_6_and_a_lost_connection_5() {
        let closes = |ws: &mut Peer| {
            let frame = tungstenite::protocol::CloseFrame {
                code: 4001.into(),
                reason: "bye".into(),
            };
            ws.close(Some(frame)).unwrap();
            while ws.read().is_ok() {}
        };
        let (outcome, _) = session(|s| s.wait = Wait::Forever, vec![], closes);
        assert_eq!(status(&outcome), 6, "{outcome:?}");
        assert!(format!("{:#}", outcome.unwrap_err()).contains("4001 \"bye\""));

        // The peer goes without a Close frame.
        let vanishes = |ws: &mut Peer| {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        };
        let (outcome, _) = session(|s| s.wait = Wait::Forever, vec![], vanishes);
        assert_eq!(status(&outcome), 5, "{outcome:?}");
    }

    #[test]
    fn a_line_that_could_not_be_sent_makes_the_run_a_failure() {
        let input = vec![Input::Rejected("bad".into()), text("ok"), Input::Eof];
        let (outcome, printed) = session(|_| {}, input, echo);
        assert_eq!(status(&outcome), 1, "{outcome:?}");
        assert_eq!(
            format!("{:#}", outcome.unwrap_err()),
            "1 input line was not sent"
        );
        assert_eq!(printed, "ok\n");
    }

    #[test]
    fn the_time_limit_closes_cleanly_and_is_7() {
        let (outcome, _) = session(
            |s| {
                s.max_time = Some(Duration::from_millis(200));
                s.wait = Wait::Forever;
            },
            vec![],
            |ws| while ws.read().is_ok() {},
        );
        assert_eq!(status(&outcome), 7, "{outcome:?}");
    }

    #[test]
    fn execute_messages_go_before_any_input() {
        let (outcome, printed) = session(
            |s| s.execute = vec!["first".into()],
            vec![text("second"), Input::Eof],
            echo,
        );
        assert_eq!(status(&outcome), 0, "{outcome:?}");
        assert_eq!(printed, "first\nsecond\n");
    }
}
