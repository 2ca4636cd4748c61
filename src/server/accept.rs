//! Accepting: take every waiting connection off the listener and answer its handshake at once
//! when its request is there and needs nothing that blocks, or else on a thread of its own
//! (from a pool that keeps threads for the next ones); bound the handshakes in progress
//! (`--max-handshakes`); and when no file descriptor is left, pause the listener instead of
//! failing at full speed.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handshake::{at_once, handshake, Accepted, AtOnce, Handshake, Shared, HANDSHAKE_STACK};
use super::limits;
use super::listener::{Listener, Peer};
use super::workers::Workers;
use crate::console::Console;
use crate::engine::{Net, Waker};
use crate::stream::Transport;

/// The engine key of the listening socket (client ids count up from 1).
pub const LISTENER: usize = usize::MAX - 1;

/// Connections accepted per readiness report at most: a storm of them answered at once
/// must not keep the clients already connected waiting. The listener is level-triggered, so
/// the rest are taken on the next turn.
const ACCEPT_BATCH: usize = 64;

/// How long accepting pauses when no file descriptor is left, unless a client leaves first.
const STARVED_PAUSE: Duration = Duration::from_millis(250);

/// Accepting is paused for want of file descriptors.
struct Starved {
    /// When to try again at the latest.
    until: Instant,
    /// The connections open when it paused: one fewer frees a descriptor.
    connections: usize,
}

/// The listener's side of the server; see the module docs.
pub struct Acceptor {
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    /// Where finished handshakes go, with a wakeup.
    accepted: Sender<Accepted>,
    waker: Waker,
    /// `--max-handshakes`.
    max_handshakes: u64,
    /// Handshakes started so far: each one's key in `Shared::pending`.
    handshakes: u64,
    /// The notice about dropping pending handshakes was given (once until there is room).
    crowded_noticed: bool,
    /// Set while accepting is paused for want of file descriptors.
    starved: Option<Starved>,
    /// The notice about it was given (once until an accept succeeds again).
    starved_noticed: bool,
    /// The limit on open files, for that notice.
    open_files: Option<u64>,
    /// The handshakes' threads.
    workers: Workers,
}

impl Acceptor {
    pub fn new(
        listener: Arc<Listener>,
        shared: Arc<Shared>,
        accepted: Sender<Accepted>,
        waker: Waker,
        max_handshakes: u64,
        open_files: Option<u64>,
    ) -> Acceptor {
        Acceptor {
            listener,
            shared,
            accepted,
            waker,
            max_handshakes,
            handshakes: 0,
            crowded_noticed: false,
            starved: None,
            starved_noticed: false,
            open_files,
            workers: Workers::new("handshake", HANDSHAKE_STACK),
        }
    }

    /// Accepts every waiting connection and starts its handshake; notices go to `console`.
    pub fn accept_all(&mut self, net: &mut Net, console: &mut Console, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((tcp, peer)) => self.start(tcp, peer, console),
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
                        console.notice(&format!(
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
                    console.notice(&format!("wsx: accepting a connection: {e}"));
                    return;
                }
            }
        }
    }

    /// Resumes accepting after a shortage of descriptors, once a client has left or the
    /// pause is over.
    pub fn resume(&mut self, net: &mut Net, now: Instant) {
        if let Some(starved) = &self.starved {
            if now >= starved.until || net.connections() < starved.connections {
                self.starved = None;
                net.pause(LISTENER, false);
            }
        }
    }

    /// When accepting is to be tried again, while it is paused.
    pub fn deadline(&self) -> Option<Instant> {
        self.starved.as_ref().map(|s| s.until)
    }

    /// Answers one connection's handshake at once if it can ([`at_once`]); or else runs it on
    /// a thread of its own: blocking, by the handshake's deadline. Without a descriptor for a
    /// handle on it, the handshake runs unregistered.
    fn start(&mut self, tcp: Transport, peer: Peer, console: &mut Console) {
        let (tcp, start) = match at_once(tcp, peer, &self.shared) {
            // On this thread: the turn after this one takes the client from the channel.
            AtOnce::Done(result) => {
                let say = |line: &str| console.notice(line);
                conclude(result, peer, &self.shared, &self.accepted, say);
                return;
            }
            AtOnce::Later(tcp, start) => (tcp, start),
        };
        if let Err(e) = tcp.set_blocking() {
            return console.notice(&format!("wsx: {peer}: cannot start its handshake: {e}"));
        }
        let token = self.make_room(&tcp, console);
        let shared = self.shared.clone();
        let tx = self.accepted.clone();
        let waker = self.waker.clone();
        let spawned = self.workers.run(move || {
            let result = handshake(tcp, peer, &shared, start);
            if let Some(token) = token {
                shared.lock_pending().remove(&token);
            }
            if conclude(result, peer, &shared, &tx, crate::diag::say) {
                waker.wake();
            }
        });
        if let Err(e) = spawned {
            if let Some(token) = token {
                self.shared.lock_pending().remove(&token);
            }
            console.notice(&format!("wsx: {peer}: cannot start its handshake: {e}"));
        }
    }

    /// Registers a new connection's handshake; when `--max-handshakes` are already in
    /// progress, the oldest is dropped to make room (a client that sends half a request cannot
    /// keep others out for long). Returns the handshake's key, or `None` when no handle could
    /// be made (out of descriptors).
    fn make_room(&mut self, tcp: &Transport, console: &mut Console) -> Option<u64> {
        let handle = tcp.try_clone().ok()?;
        let mut pending = self.shared.lock_pending();
        // Its thread's read fails at once, and it ends.
        let dropped = make_room(&mut pending, self.max_handshakes, |oldest| {
            oldest.shutdown()
        });
        self.handshakes += 1;
        pending.insert(self.handshakes, handle);
        drop(pending);
        match dropped {
            0 => self.crowded_noticed = false,
            _ if self.crowded_noticed => {}
            _ => {
                self.crowded_noticed = true;
                let max = self.max_handshakes;
                console.notice(&format!(
                    "wsx: {max} handshakes in progress (--max-handshakes): the oldest are dropped for new connections"
                ));
            }
        }
        Some(self.handshakes)
    }
}

/// Where a handshake ended: a new client goes to the engine through `tx` (true: the engine
/// is to be woken for it); a file served or a failure is told to `say`.
fn conclude(
    result: Result<Handshake, String>,
    peer: Peer,
    shared: &Shared,
    tx: &Sender<Accepted>,
    mut say: impl FnMut(&str),
) -> bool {
    match result {
        Ok(Handshake::Upgraded(accepted)) => return tx.send(*accepted).is_ok(),
        Ok(Handshake::Served(status, path)) if shared.verbose => {
            let path = crate::term::escape(&path);
            say(&format!("{peer} < {status} {path}"));
        }
        Ok(Handshake::Served(..)) => {}
        Err(why) if !shared.quiet => say(&format!("wsx: {peer}: {why}")),
        Err(_) => {}
    }
    false
}

/// Takes the oldest entries out of `pending` (and hands each to `end`) until there is room
/// for one more below `max`; returns how many it took.
fn make_room<T>(pending: &mut BTreeMap<u64, T>, max: u64, mut end: impl FnMut(T)) -> usize {
    let mut dropped = 0;
    while pending.len() as u64 >= max {
        let Some((_, oldest)) = pending.pop_first() else {
            break;
        };
        end(oldest);
        dropped += 1;
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_made_by_dropping_the_oldest_handshakes() {
        let mut pending: BTreeMap<u64, &str> = [(1, "a"), (2, "b"), (5, "c")].into();
        let mut ended = Vec::new();
        assert_eq!(make_room(&mut pending, 2, |h| ended.push(h)), 2);
        assert_eq!(ended, ["a", "b"]);
        assert_eq!(pending.keys().copied().collect::<Vec<_>>(), [5]);
        assert_eq!(make_room(&mut pending, 2, |h| ended.push(h)), 0);
        let mut none: BTreeMap<u64, &str> = BTreeMap::new();
        assert_eq!(make_room(&mut none, 1, |_| {}), 0);
    }
}
