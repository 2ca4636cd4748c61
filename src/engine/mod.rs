//! The event loop: one thread owns every connection and waits on socket readiness, on a
//! wakeup from the input side, or on the nearest deadline, never on a fixed tick.
//!
//! The loop knows nothing about where input comes from or where output goes: a [`Handler`]
//! (the client session, or the server) takes input, reacts to frames and sets deadlines.

mod conn;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use polling::{Event as Interest, Events, PollMode, Poller};

pub use conn::{Conn, Incoming, Stream};

/// How many messages one connection may deliver per turn before others get a go.
const READ_BUDGET: usize = 256;

/// Wakes the engine from another thread (an input reader, a signal handler).
#[derive(Clone)]
pub struct Waker(Arc<Poller>);

impl Waker {
    /// Makes the engine's current or next wait return at once.
    pub fn wake(&self) {
        // Failing to notify leaves the engine to its next readiness event or deadline; there
        // is nothing better to do with the error in a producer thread.
        let _ = self.0.notify();
    }
}

/// The policy side of the loop, called from the engine thread only.
pub trait Handler {
    type Outcome;

    /// Runs once per turn before waiting: take queued input (unless a connection is blocked),
    /// act on passed deadlines.
    fn turn(&mut self, net: &mut Net, now: Instant);

    /// Something arrived on connection `key`. On [`Incoming::Closed`] or
    /// [`Incoming::Failed`] the handler must remove the connection or finish.
    fn incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant);

    /// The nearest moment at which [`Handler::turn`] must run even if nothing else happens.
    fn deadline(&self) -> Option<Instant>;

    /// The engine is about to block: write out buffered output.
    ///
    /// # Errors
    /// Output could not be written; the loop ends with this error.
    fn idle(&mut self) -> io::Result<()>;

    /// `Some` ends the loop with that outcome.
    fn finished(&mut self) -> Option<Self::Outcome>;
}

/// The connections, by key, with their readiness registrations.
pub struct Net {
    poller: Arc<Poller>,
    conns: HashMap<usize, Slot>,
    /// Connections to read before the next wait, readable or not: a handshake can leave
    /// whole frames in tungstenite's buffer that no readiness event will announce.
    unread: Vec<usize>,
}

struct Slot {
    conn: Conn,
    /// Whether writability is part of the registered interest.
    writable: bool,
}

impl Net {
    /// Adds a connection under `key` and starts watching its socket.
    ///
    /// # Errors
    /// The poller refused the socket.
    pub fn insert(&mut self, key: usize, conn: Conn) -> io::Result<()> {
        // SAFETY: the socket is deleted from the poller in `remove` (or when the poller is
        // dropped with the engine) before the `Conn` that owns it is dropped.
        unsafe {
            self.poller
                .add_with_mode(conn.socket(), Interest::readable(key), PollMode::Level)?;
        }
        self.conns.insert(
            key,
            Slot {
                conn,
                writable: false,
            },
        );
        self.unread.push(key);
        Ok(())
    }

    /// Stops watching connection `key` and hands it back.
    pub fn remove(&mut self, key: usize) -> Option<Conn> {
        let slot = self.conns.remove(&key)?;
        let _ = self.poller.delete(slot.conn.socket());
        Some(slot.conn)
    }

    /// The connection under `key`.
    pub fn get(&mut self, key: usize) -> Option<&mut Conn> {
        self.conns.get_mut(&key).map(|s| &mut s.conn)
    }

    /// Whether any connection's output is backed up.
    pub fn any_blocked(&self) -> bool {
        self.conns.values().any(|s| s.conn.is_blocked())
    }

    /// Flushes every connection; returns the keys whose flush failed, with the error.
    fn flush_all(&mut self) -> Vec<(usize, Incoming)> {
        let mut failed = Vec::new();
        for (&key, slot) in &mut self.conns {
            match slot.conn.flush() {
                Ok(()) => {}
                Err(tungstenite::Error::ConnectionClosed) => failed.push((key, Incoming::Closed)),
                Err(e) => failed.push((key, Incoming::Failed(e))),
            }
        }
        failed
    }

    /// Asks for writability exactly where output is backed up.
    fn update_interest(&mut self) -> io::Result<()> {
        for (&key, slot) in &mut self.conns {
            let want = slot.conn.is_blocked();
            if want != slot.writable {
                let interest = if want {
                    Interest::all(key)
                } else {
                    Interest::readable(key)
                };
                self.poller
                    .modify_with_mode(slot.conn.socket(), interest, PollMode::Level)?;
                slot.writable = want;
            }
        }
        Ok(())
    }
}

/// The poller and the connections; see the module docs.
pub struct Engine {
    net: Net,
    events: Events,
}

impl Engine {
    /// # Errors
    /// The OS poller could not be created.
    pub fn new() -> io::Result<Engine> {
        let poller = Arc::new(Poller::new()?);
        Ok(Engine {
            net: Net {
                poller,
                conns: HashMap::new(),
                unread: Vec::new(),
            },
            events: Events::new(),
        })
    }

    /// A handle that wakes this engine from another thread.
    pub fn waker(&self) -> Waker {
        Waker(self.net.poller.clone())
    }

    /// The connections, to add the first ones before [`Engine::run`].
    pub fn net(&mut self) -> &mut Net {
        &mut self.net
    }

    /// Runs turns until the handler is finished.
    ///
    /// # Errors
    /// The poller failed, or the handler's [`Handler::idle`] did.
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<H::Outcome> {
        loop {
            handler.turn(&mut self.net, Instant::now());
            for (key, what) in self.net.flush_all() {
                handler.incoming(&mut self.net, key, what, Instant::now());
            }
            if let Some(outcome) = handler.finished() {
                return Ok(outcome);
            }
            self.net.update_interest()?;

            let timeout = if self.net.unread.is_empty() {
                handler
                    .deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if timeout != Some(Duration::ZERO) {
                handler.idle()?;
            }
            self.events.clear();
            match self.net.poller.wait(&mut self.events, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }

            let mut ready: Vec<usize> = std::mem::take(&mut self.net.unread);
            ready.extend(self.events.iter().map(|ev| ev.key));
            ready.sort_unstable();
            ready.dedup();
            for key in ready {
                self.drain(handler, key);
            }
        }
    }

    /// Delivers what connection `key` has, up to the read budget.
    fn drain<H: Handler>(&mut self, handler: &mut H, key: usize) {
        let now = Instant::now();
        for _ in 0..READ_BUDGET {
            let Some(conn) = self.net.get(key) else {
                return;
            };
            let what = conn.read();
            let more = matches!(what, Incoming::Message(_));
            if matches!(what, Incoming::Idle) {
                return;
            }
            handler.incoming(&mut self.net, key, what, now);
            if !more {
                return;
            }
        }
        self.net.unread.push(key);
    }
}
