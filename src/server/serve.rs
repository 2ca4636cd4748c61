//! Serving the clients on the engine: admit finished handshakes, route what clients send,
//! apply the slow-client rule, close and fail connections, shut down. The operator's
//! commands are in [`super::operator`].

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tungstenite::{Error as WsError, Message};

use super::accept::{Acceptor, LISTENER};
use super::exec::{Program, ProgramEvent, Refused};
use super::forward::Upstream;
use super::handshake::Accepted;
use super::hub::{Hub, Mode, Route};
use crate::console::{Console, Input, Role};
use crate::engine::{failure, Bridge, Conn, Incoming, Net, Step, Waker};
use crate::error::Failure;
use crate::event::{CloseInfo, Dir, Kind, Opened};
use crate::replay::{Plan, Play, Recording, Script, Side};

/// How many lines from `--exec` programs may wait for the loop before their readers wait.
const PROGRAM_LINES: usize = 1024;

/// With `--forward`, client `id`'s upstream connection is on the engine under `id | RELAY`
/// (ids count from 1 and stay far below it; the listener's key is not a connection).
const RELAY: usize = 1 << (usize::BITS - 2);

/// The engine key of client `id`'s upstream.
fn upstream_key(id: u64) -> usize {
    id as usize | RELAY
}

/// The longest close reason a Close frame carries (125 bytes less the code).
const MAX_REASON: usize = 123;

/// The server's policy on the engine; see the module docs.
pub(super) struct Server {
    /// Operator input, output, interrupts and the outcome.
    pub(super) console: Console,
    pub(super) mode: Mode,
    once: bool,
    close_timeout: Duration,
    max_backlog: u64,
    /// The listener's side: accepting, handshakes, a shortage of descriptors.
    acceptor: Acceptor,
    /// Clients whose handshake succeeded, from the handshake threads.
    accepted: Receiver<Accepted>,
    programs: Receiver<ProgramEvent>,
    program_tx: SyncSender<ProgramEvent>,
    waker: Waker,
    pub(super) hub: Hub,
    /// Connections we closed (or that closed), waiting for the close handshake, by deadline.
    closing: BTreeMap<u64, Instant>,
    /// Shutting down: no new clients; done once every connection is gone.
    shutdown: bool,
    /// Relayed connections not read while the other side of their pair cannot take more:
    /// (held, the one it waits for).
    held: Vec<(usize, usize)>,
    /// `--forward tcp:…|unix:…`: each bridged client's byte stream, by client id (kept after
    /// the client left until what waits for the stream is written).
    bridges: BTreeMap<u64, Bridge>,
    /// Bridged payloads are shown (jsonl, raw, or `-v`); human format shows connections and
    /// byte counts only.
    show_bridged: bool,
    /// Threads ending and reaping programs of clients that left, joined before exiting.
    reapers: Vec<thread::JoinHandle<()>>,
    /// `--replay`: the recording each client gets the server's side of.
    pub(super) replay: Option<Mock>,
    /// When to let compressors that have gone quiet give up their zlib state; set while some
    /// compressor may hold one.
    shed_at: Option<Instant>,
}

/// `wsx listen --replay`: a recording, the server's side of each of its conversations worked
/// out once, and the speed.
pub(super) struct Mock {
    recording: Recording,
    plans: Vec<Arc<Plan>>,
    speed: f64,
}

impl Mock {
    pub(super) fn new(recording: Recording, speed: f64) -> Mock {
        let plans = recording
            .conversations
            .iter()
            .map(|c| Arc::new(Plan::new(c, Side::Server)))
            .collect();
        Mock {
            recording,
            plans,
            speed,
        }
    }
}

impl Server {
    pub(super) fn new(
        s: &super::Settings,
        console: Console,
        acceptor: Acceptor,
        accepted: Receiver<Accepted>,
        waker: Waker,
    ) -> Server {
        // Bounded: a program that writes faster than its lines go out waits in its write.
        let (program_tx, programs) = mpsc::sync_channel(PROGRAM_LINES);
        Server {
            console,
            mode: s.mode.clone(),
            once: s.once,
            close_timeout: s.console.close_timeout,
            max_backlog: s.max_backlog,
            acceptor,
            accepted,
            programs,
            program_tx,
            waker,
            hub: Hub::default(),
            closing: BTreeMap::new(),
            shutdown: false,
            held: Vec::new(),
            bridges: BTreeMap::new(),
            show_bridged: s.console.output.format != crate::output::Format::Human
                || s.console.verbose,
            reapers: Vec::new(),
            replay: None,
            shed_at: None,
        }
    }

    /// A message went compressed: its compressor holds a zlib state until it goes quiet.
    fn compressed(&mut self, now: Instant) {
        self.shed_at.get_or_insert(now + crate::deflate::QUIET);
    }

    /// After the loop: every program is ended before wsx is (each within its grace period),
    /// and the output is written.
    ///
    /// # Errors
    /// The loop's error, or writing to stdout failed.
    pub(super) fn end(mut self, outcome: std::io::Result<Result<ExitCode>>) -> Result<ExitCode> {
        for reaper in self.reapers.drain(..) {
            let _ = reaper.join();
        }
        let outcome = outcome.context("waiting for events")?;
        let outcome = match self.console.flush() {
            Ok(()) => outcome,
            Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
        };
        self.console.end_recording(outcome)
    }

    pub(super) fn show(&mut self, client: Option<u64>, dir: Dir, kind: Kind) {
        self.console.show(client, dir, kind);
    }

    pub(super) fn notice(&mut self, text: &str) {
        self.console.notice(text);
    }

    pub(super) fn finish(&mut self, outcome: Result<ExitCode>) {
        self.console.finish(outcome);
    }

    /// Queues a message for one client. A client for which more than `--max-backlog` bytes
    /// of earlier messages still wait has stopped reading: it is closed with 1008 instead.
    /// Only what is left of earlier messages counts, so one large message, however big, never
    /// makes a client that keeps reading look slow.
    /// Returns the compressed size when the message went compressed.
    pub(super) fn send(
        &mut self,
        net: &mut Net,
        id: u64,
        msg: Message,
        now: Instant,
    ) -> Option<usize> {
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
            Ok(wire) => {
                if wire.is_some() {
                    self.compressed(now);
                }
                wire
            }
            Err(e) => {
                self.fail(net, id, e, now);
                None
            }
        }
    }

    pub(super) fn broadcast(&mut self, net: &mut Net, msg: &Message, now: Instant) {
        for id in self.hub.ids() {
            self.send_recorded(net, id, msg.clone(), now);
        }
    }

    /// Queues a message that is not shown for each client it goes to (a broadcast line is
    /// shown once, an echo not at all): a recording still gets it, client by client.
    fn send_recorded(&mut self, net: &mut Net, id: u64, msg: Message, now: Instant) {
        let kind = Kind::of(&msg).filter(Kind::is_data);
        self.send(net, id, msg, now);
        if let Some(kind) = kind {
            self.console.record_only(Some(id), Dir::Out, kind);
        }
    }

    /// Takes a client out of the hub: optionally sends a Close, shows it gone, stops its
    /// program. The connection stays until the close handshake ends or times out.
    pub(super) fn leave(
        &mut self,
        net: &mut Net,
        id: u64,
        close: Option<(u16, &str)>,
        reason: Option<String>,
        now: Instant,
    ) {
        // Its place among the clients served goes with it.
        let Some(client) = self.hub.remove(id) else {
            return;
        };
        if let Some(program) = client.program {
            self.reapers.retain(|r| !r.is_finished());
            match program.stop() {
                Ok(reaper) => self.reapers.push(reaper),
                Err(e) => self.notice(&format!("wsx: #{id} cannot end its program: {e}")),
            }
        }
        if let Some((code, why)) = close {
            if let Some(conn) = net.get(id as usize) {
                if conn.close(code, why).is_err() {
                    net.remove(id as usize);
                }
            }
            self.show(Some(id), Dir::Out, Kind::Close(CloseInfo::new(code, why)));
        }
        if net.get(id as usize).is_some() {
            self.closing.insert(id, now + self.close_timeout);
        }
        self.end_bridge(net, id, now);
        if let Some(relayed) = client.upstream {
            // The pair ends together: the upstream gets the client's Close, or 1001.
            let key = upstream_key(id);
            if let (Some((code, why)), Some(conn)) = (relayed.close, net.get(key)) {
                if conn.close(code, &why).is_err() {
                    net.remove(key);
                }
            }
            if net.get(key).is_some() {
                self.closing.insert(key as u64, now + self.close_timeout);
            }
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

    pub(super) fn begin_shutdown(&mut self, net: &mut Net, now: Instant) {
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
            place,
            peer,
            subprotocol,
            subject,
            env,
            upstream,
            path,
            exchange,
        } = accepted;
        if self.shutdown {
            return; // dropping the socket and its place: we are going away
        }
        let id = self.hub.add(peer, subprotocol.clone(), place);
        let extension = ws.get_ref().extension();
        let mut conn = match Conn::new(ws) {
            Ok(conn) => conn,
            Err(e) => return self.fail(net, id, WsError::Io(e), now),
        };
        conn.send_directly();
        if let Err(e) = net.insert(id as usize, conn) {
            return self.fail(net, id, WsError::Io(e), now);
        }
        let upstream_name = upstream.as_ref().map(|u| u.name());
        match upstream.map(|u| *u) {
            Some(Upstream::WebSocket { ws, .. }) => {
                let inserted = Conn::new(*ws).and_then(|conn| net.insert(upstream_key(id), conn));
                if let Err(e) = inserted {
                    self.notice(&format!("wsx: #{id} cannot relay: {e}"));
                    return self.leave(net, id, Some((1011, "cannot relay")), None, now);
                }
                if let Some(client) = self.hub.get_mut(id) {
                    client.upstream = Some(Box::new(super::hub::Relayed {
                        close: Some((1001, String::new())),
                    }));
                }
            }
            Some(Upstream::Bytes { stream, target }) => {
                match Bridge::watch(net, stream, target, upstream_key(id), id as usize) {
                    Ok(bridge) => {
                        self.bridges.insert(id, bridge);
                    }
                    Err(e) => {
                        self.notice(&format!("wsx: #{id} cannot bridge: {e}"));
                        return self.leave(net, id, Some((1011, "cannot bridge")), None, now);
                    }
                }
            }
            None => {}
        }
        let script = self.replay.as_ref().map(|mock| {
            let plan = mock.plans[mock.recording.position(&path)].clone();
            Script::new(plan, mock.speed, now)
        });
        self.show(
            Some(id),
            Dir::In,
            Kind::Open(Box::new(Opened {
                peer: peer.to_string(),
                subprotocol,
                extension,
                subject,
                upstream: upstream_name,
                path: Some(path),
                exchange: Some(exchange),
            })),
        );
        if let Some(script) = script {
            if let Some(client) = self.hub.get_mut(id) {
                client.script = Some(Box::new(script));
            }
            self.play(net, id, now);
        }
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
                        client.program = Some(Box::new(program));
                    }
                }
                Err(e) => {
                    self.notice(&format!("wsx: #{id} cannot run the program: {e}"));
                    self.leave(net, id, Some((1011, "cannot run the program")), None, now);
                }
            }
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
                let rtt = self
                    .hub
                    .get_mut(id)
                    .and_then(|c| c.pings.answered(&data, now))
                    .map(|answer| answer.rtt);
                Kind::Pong { data, rtt }
            }
            Some(Kind::Close(info)) => {
                if let Some(relayed) = self.hub.get_mut(id).and_then(|c| c.upstream.as_mut()) {
                    // Relayed as it came; no code at all becomes 1000 (1005 is never sent).
                    if relayed.close.is_some() {
                        relayed.close = Some((info.code.unwrap_or(1000), info.reason.clone()));
                    }
                }
                self.show(Some(id), Dir::In, Kind::Close(info));
                // tungstenite has queued the answer; the connection ends once it is sent.
                return self.leave(net, id, None, None, now);
            }
            Some(kind) => kind,
            None => return,
        };
        let data = kind.is_data();
        let differs = self.hub.get_mut(id).and_then(|c| {
            let script = c.script.as_mut()?;
            script.theirs(&Play::of(&kind)?, now)
        });
        if !data || self.show_bridged || !self.bridges.contains_key(&id) {
            self.console.show_sized(Some(id), Dir::In, kind, wire);
        } else {
            self.console.record_only(Some(id), Dir::In, kind);
        }
        if !data {
            return;
        }
        if let Some(differs) = differs {
            self.notice(&format!("wsx: #{id} --replay: {differs}"));
            self.play(net, id, now);
        } else if self.replay.is_some() {
            self.play(net, id, now);
        }
        match self.hub.route(&self.mode, id) {
            Route::Nowhere => {}
            Route::Clients(targets) => {
                let echo = targets == [id];
                for target in targets {
                    self.send_recorded(net, target, msg.clone(), now);
                }
                // An echo waits on its own client: while that client's output is backed up,
                // it is not read (TCP holds it back), rather than queueing echoes until it is
                // closed as too slow for messages it never had the chance to read.
                if echo {
                    self.hold_while_blocked(net, id as usize, id as usize);
                }
            }
            Route::Upstream if self.bridges.contains_key(&id) => {
                self.write_to_bridge(net, id, &msg.into_data(), now);
            }
            Route::Upstream => {
                let (from, to) = (id as usize, upstream_key(id));
                let sent = net.get(to).map(|conn| conn.send(msg));
                match sent {
                    Some(Err(e)) => self.upstream_failed(net, to, e, now),
                    Some(Ok(wire)) => {
                        if wire.is_some() {
                            self.compressed(now);
                        }
                        self.hold_while_blocked(net, from, to);
                    }
                    None => {}
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

    /// `--replay`: sends client `id` what its script has due; the recorded close ends it.
    fn play(&mut self, net: &mut Net, id: u64, now: Instant) {
        loop {
            let play = self
                .hub
                .get_mut(id)
                .and_then(|c| c.script.as_mut())
                .and_then(|s| s.take(now));
            let Some(play) = play else { return };
            let (msg, kind) = match play.into_frame() {
                Ok(frame) => frame,
                Err((code, reason)) => {
                    return self.leave(net, id, Some((code, &reason)), None, now);
                }
            };
            let wire = self.send(net, id, msg, now);
            self.console.show_replayed(Some(id), kind, wire);
        }
    }

    /// When the next replayed message is due, for any client.
    fn replay_due(&self) -> Option<Instant> {
        self.replay.as_ref()?;
        self.hub
            .iter()
            .filter_map(|(_, c)| c.script.as_ref()?.due())
            .min()
    }

    /// Holds `from` while `to` cannot take more: what `from` sends waits in the kernel, and
    /// the pair's memory stays bounded. Released in [`Role::turn`] once `to` has drained.
    fn hold_while_blocked(&mut self, net: &mut Net, from: usize, to: usize) {
        if net.get(to).is_some_and(|c| c.is_blocked()) && !net.is_held(from) {
            net.hold(from, true);
            self.held.push((from, to));
        }
    }

    /// Writes what client `id` sent to its byte stream; holds the client while too much waits.
    fn write_to_bridge(&mut self, net: &mut Net, id: u64, bytes: &[u8], now: Instant) {
        let Some(bridge) = self.bridges.get_mut(&id) else {
            return;
        };
        if let Err(e) = bridge.deliver(net, bytes, &mut self.held) {
            self.bridge_failed(net, id, &e, now);
        }
    }

    /// Client `id`'s byte stream is readable or writable (engine key `key`).
    fn bridge_ready(&mut self, net: &mut Net, key: usize, now: Instant) {
        let id = (key & !RELAY) as u64;
        let Some(bridge) = self.bridges.get_mut(&id) else {
            return net.unwatch(key);
        };
        match bridge.ready(net) {
            Step::Data(bytes) => {
                let bytes = tungstenite::Bytes::from(bytes);
                let kind = Kind::Binary(bytes.clone());
                let wire = self.send(net, id, Message::Binary(bytes), now);
                if self.show_bridged {
                    self.console.show_sized(Some(id), Dir::Out, kind, wire);
                } else {
                    self.console.record_only(Some(id), Dir::Out, kind);
                }
                if let Some(bridge) = self.bridges.get_mut(&id) {
                    bridge.sent(net, &mut self.held);
                }
            }
            // Its end: the client's Close follows what it sent, in order.
            Step::Eof => self.leave(net, id, Some((1000, "")), None, now),
            Step::Drained => {
                self.closing.remove(&(key as u64));
                self.bridges.remove(&id);
            }
            Step::Idle => {}
            Step::Failed(e) => self.bridge_failed(net, id, &e, now),
        }
    }

    /// Client `id`'s byte stream failed (a reset): the client is closed with 1011.
    fn bridge_failed(&mut self, net: &mut Net, id: u64, err: &std::io::Error, now: Instant) {
        self.drop_bridge(net, id);
        self.closing.remove(&(upstream_key(id) as u64));
        if self.hub.contains(id) {
            let why = format!("upstream: {err}");
            self.notice(&format!("wsx: #{id} {why}"));
            let reason = truncated(&why, MAX_REASON);
            self.leave(net, id, Some((1011, reason)), Some(why.clone()), now);
        }
    }

    /// Client `id` has left: its byte stream gets what still waits, then is shut down.
    fn end_bridge(&mut self, net: &mut Net, id: u64, now: Instant) {
        let Some(bridge) = self.bridges.get_mut(&id) else {
            return;
        };
        let b = &bridge.bytes;
        let counts = format!(
            "#{id} bridged to {}: {} B from the client, {} B to it",
            b.target, b.from_client, b.to_client
        );
        if bridge.finish(net) {
            self.closing
                .insert(upstream_key(id) as u64, now + self.close_timeout);
        } else {
            self.bridges.remove(&id);
        }
        self.notice(&counts);
    }

    fn drop_bridge(&mut self, net: &mut Net, id: u64) {
        if let Some(bridge) = self.bridges.remove(&id) {
            bridge.close(net);
        }
    }

    /// Reads `key` again, if it was held back for the other side of its pair.
    fn release(&mut self, net: &mut Net, key: usize) {
        net.hold(key, false);
        if key & RELAY != 0 {
            if let Some(bridge) = self.bridges.get_mut(&((key & !RELAY) as u64)) {
                bridge.resume(net);
            }
        }
    }

    /// Whether `key`, which another connection waits for, still cannot take more.
    fn backed_up(&self, net: &mut Net, key: usize) -> bool {
        let bridge = (key & RELAY != 0)
            .then(|| self.bridges.get(&((key & !RELAY) as u64)))
            .flatten();
        match bridge {
            Some(bridge) => bridge.full(),
            None => net.get(key).is_some_and(|c| c.is_blocked()),
        }
    }

    /// What arrived from client `id`'s upstream (engine key `key`).
    fn upstream_incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant) {
        let id = (key & !RELAY) as u64;
        match what {
            Incoming::Message(msg, _) => {
                if !self.hub.contains(id) {
                    return; // the client is gone: the upstream is closing
                }
                match Kind::of(&msg) {
                    Some(Kind::Close(info)) => {
                        // tungstenite has queued the upstream's answer; the client gets the
                        // same Close (none at all becomes 1000).
                        self.upstream_ended(id);
                        self.closing.insert(key as u64, now + self.close_timeout);
                        let code = info.code.unwrap_or(1000);
                        self.leave(net, id, Some((code, &info.reason)), None, now);
                    }
                    Some(kind) if kind.is_data() => {
                        let wire = self.send(net, id, msg, now);
                        self.console.show_sized(Some(id), Dir::Out, kind, wire);
                        self.hold_while_blocked(net, key, id as usize);
                    }
                    // Pings are answered on each leg by tungstenite.
                    _ => {}
                }
            }
            Incoming::Idle => {}
            Incoming::Closed => {
                net.remove(key);
                self.closing.remove(&(key as u64));
                if self.hub.contains(id) {
                    self.upstream_ended(id);
                    let why = "the upstream closed";
                    self.leave(net, id, Some((1011, why)), Some(why.into()), now);
                }
            }
            Incoming::Failed(e) => self.upstream_failed(net, key, e, now),
        }
    }

    /// The upstream connection under `key` failed: its client is closed with 1011 and a
    /// reason that says what happened upstream. (Not 1014, which tungstenite rejects.)
    fn upstream_failed(&mut self, net: &mut Net, key: usize, err: WsError, now: Instant) {
        let id = (key & !RELAY) as u64;
        let (code, what) = failure(&err);
        if let (Some(code), Some(conn)) = (code, net.get(key)) {
            conn.close_failed(code);
        }
        net.remove(key);
        self.closing.remove(&(key as u64));
        if self.hub.contains(id) {
            self.upstream_ended(id);
            let why = format!("upstream: {what}");
            self.notice(&format!("wsx: #{id} {why}"));
            let reason = truncated(&why, MAX_REASON);
            self.leave(net, id, Some((1011, reason)), Some(why.clone()), now);
        }
    }

    /// The upstream's side of client `id` has ended: it gets no Close of ours.
    fn upstream_ended(&mut self, id: u64) {
        if let Some(relayed) = self.hub.get_mut(id).and_then(|c| c.upstream.as_mut()) {
            relayed.close = None;
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

impl Role for Server {
    fn console(&self) -> &Console {
        &self.console
    }

    fn console_mut(&mut self) -> &mut Console {
        &mut self.console
    }

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
        self.acceptor.resume(net, now);
        // Relayed connections are read again once their other side has drained.
        for (held, waits_for) in std::mem::take(&mut self.held) {
            if self.backed_up(net, waits_for) {
                self.held.push((held, waits_for));
            } else {
                self.release(net, held);
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
            if id as usize & RELAY != 0 {
                // A byte stream that would not take what was left for it.
                self.drop_bridge(net, (id as usize & !RELAY) as u64);
            }
        }
        if self.shed_at.is_some_and(|at| at <= now) {
            self.shed_at = net
                .shed_compressors(now)
                .then_some(now + crate::deflate::QUIET);
        }
        if self.replay_due().is_some_and(|due| due <= now) {
            for id in self.hub.ids() {
                self.play(net, id, now);
            }
        }
        if self.shutdown && self.hub.is_empty() && self.closing.is_empty() {
            self.finish(Ok(ExitCode::SUCCESS));
        }
    }

    fn incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant) {
        if key & RELAY != 0 {
            return self.upstream_incoming(net, key, what, now);
        }
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
        if key != LISTENER && key & RELAY != 0 {
            return self.bridge_ready(net, key, Instant::now());
        }
        if key == LISTENER {
            self.acceptor
                .accept_all(net, &mut self.console, Instant::now());
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.closing
            .values()
            .copied()
            .chain(self.acceptor.deadline())
            .chain(self.replay_due())
            .chain(self.shed_at)
            .min()
    }
}

/// The longest start of `text` that fits in `max` bytes, cut at a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use std::net::TcpStream;
    use std::sync::{Arc, Mutex};

    type Client = tungstenite::WebSocket<TcpStream>;

    /// The operator of a server under test, typing from the driver's thread. Dropping it
    /// types `/quit`, so the server ends however the driver did.
    struct Operator {
        input: std::sync::mpsc::SyncSender<crate::console::Batch>,
        waker: Waker,
        printed: Arc<Mutex<Vec<u8>>>,
        port: u16,
    }

    impl Operator {
        fn type_command(&self, cmd: Command) {
            let _ = self.input.send(vec![Input::Command(cmd)]);
            self.waker.wake();
        }

        fn client(&self) -> Client {
            let tcp = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let url = format!("ws://127.0.0.1:{}/", self.port);
            tungstenite::client(url.as_str(), tcp).unwrap().0
        }

        /// Waits (bounded) until the server has printed a line containing `needle`.
        fn printed(&self, needle: &str) {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let text = String::from_utf8_lossy(&self.printed.lock().unwrap()).into_owned();
                if text.contains(needle) {
                    return;
                }
                assert!(Instant::now() < deadline, "no {needle:?} in:\n{text}");
                thread::sleep(Duration::from_millis(2)); // polling a buffer no event announces
            }
        }
    }

    impl Drop for Operator {
        fn drop(&mut self) {
            self.type_command(Command::Quit);
        }
    }

    /// Serves `s` until the driver is done; returns the exit status and what was printed.
    fn serve(
        s: &super::super::Settings,
        driver: impl FnOnce(&Operator) + Send + 'static,
    ) -> (u8, String) {
        let (mut server, mut engine, port, printed, input) = super::super::for_test(s);
        let operator = Operator {
            input,
            waker: engine.waker(),
            printed: printed.clone(),
            port,
        };
        let driving = thread::spawn(move || driver(&operator));
        let outcome = engine.run(&mut server);
        let outcome = server.end(outcome);
        if let Err(panic) = driving.join() {
            std::panic::resume_unwind(panic);
        }
        let status = match outcome {
            Ok(code) if code == ExitCode::SUCCESS => 0,
            Ok(_) => 255,
            Err(e) => crate::error::exit_code(&e),
        };
        let printed = String::from_utf8(printed.lock().unwrap().clone()).unwrap();
        (status, printed)
    }

    fn next_text(ws: &mut Client) -> String {
        loop {
            match ws.read().unwrap() {
                Message::Text(t) => return t.as_str().to_string(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected text, got {other:?}"),
            }
        }
    }

    fn close_code(ws: &mut Client) -> u16 {
        loop {
            match ws.read() {
                Ok(Message::Close(frame)) => return frame.map_or(0, |f| f.code.into()),
                Ok(_) => {}
                Err(e) => panic!("expected a Close, got {e}"),
            }
        }
    }

    #[test]
    fn echo_sends_each_message_back_and_quit_closes_with_1001() {
        let settings = super::super::Settings::for_test(Mode::Echo);
        let (status, printed) = serve(&settings, |op| {
            let mut a = op.client();
            a.send(Message::text("hi")).unwrap();
            assert_eq!(next_text(&mut a), "hi");
            op.type_command(Command::Quit);
            assert_eq!(close_code(&mut a), 1001);
        });
        assert_eq!(status, 0);
        assert!(printed.contains("#1 < hi\n"), "{printed}");
        assert!(
            printed.contains("#1 > [close 1001 going away]\n"),
            "{printed}"
        );
    }

    #[test]
    fn the_operator_broadcasts_speaks_to_one_and_kicks() {
        let settings = super::super::Settings::for_test(Mode::Broadcast);
        let (status, printed) = serve(&settings, |op| {
            let mut a = op.client();
            op.printed("#1 connected");
            let mut b = op.client();
            op.printed("#2 connected");
            op.type_command(Command::Text("to all".into()));
            assert_eq!(next_text(&mut a), "to all");
            assert_eq!(next_text(&mut b), "to all");
            op.type_command(Command::To {
                id: 2,
                text: "just you".into(),
            });
            assert_eq!(next_text(&mut b), "just you");
            op.type_command(Command::Kick {
                id: 1,
                code: 4000,
                reason: "bye".into(),
            });
            assert_eq!(close_code(&mut a), 4000);
            op.printed("#1 disconnected");
            b.send(Message::text("still here")).unwrap();
            op.printed("#2 < still here");
        });
        assert_eq!(status, 0);
        assert!(printed.contains("#2 > just you\n"), "{printed}");
        assert!(printed.contains("#1 > [close 4000 \"bye\"]\n"), "{printed}");
    }

    #[test]
    fn chat_relays_to_the_others_only() {
        let settings = super::super::Settings::for_test(Mode::Chat);
        serve(&settings, |op| {
            let mut a = op.client();
            op.printed("#1 connected");
            let mut b = op.client();
            op.printed("#2 connected");
            a.send(Message::text("from a")).unwrap();
            assert_eq!(next_text(&mut b), "from a");
            b.send(Message::text("from b")).unwrap();
            // a's next message is b's: its own never came back.
            assert_eq!(next_text(&mut a), "from b");
        });
    }

    #[test]
    fn past_max_clients_a_client_is_refused_until_a_place_is_free() {
        let mut settings = super::super::Settings::for_test(Mode::Echo);
        settings.policy.max_clients = Some(1);
        serve(&settings, |op| {
            let mut a = op.client();
            op.printed("#1 connected");
            let url = format!("ws://127.0.0.1:{}/", op.port);
            let tcp = TcpStream::connect(("127.0.0.1", op.port)).unwrap();
            match tungstenite::client(url.as_str(), tcp) {
                Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
                    assert_eq!(r.status(), 503);
                }
                other => panic!("expected 503, got {:?}", other.map(|_| ())),
            }
            a.close(None).unwrap();
            let _ = close_code(&mut a);
            op.printed("#1 disconnected");
            let mut b = op.client();
            b.send(Message::text("in")).unwrap();
            assert_eq!(next_text(&mut b), "in");
        });
    }
}
