//! The event loop: one thread owns every connection and waits on socket readiness, on a
//! wakeup from the input side, or on the nearest deadline, never on a fixed tick.
//!
//! The loop knows nothing about where input comes from or where output goes: a [`Handler`]
//! (the client session, or the server) takes input, reacts to frames and sets deadlines.

mod bytes;
mod conn;
mod poll;

use rustc_hash::FxHashMap as HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poll::Poller;

pub use poll::AsSource;

pub use bytes::{Bridge, Step};
pub use conn::{failure, Conn, Incoming};

/// How many messages one connection may deliver per turn before others get a go.
const READ_BUDGET: usize = 256;

/// Wakes the engine from another thread (an input reader, a signal handler).
#[derive(Clone)]
pub struct Waker(Arc<poll::Waker>);

impl Waker {
    /// Makes the engine's current or next wait return at once.
    pub fn wake(&self) {
        self.0.wake();
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

    /// A source watched with [`Net::watch`] is readable: one `read` will not block. The
    /// handler must read it, pause it, or unwatch it, or it is reported again at once.
    fn ready(&mut self, net: &mut Net, key: usize);

    /// The nearest moment at which [`Handler::turn`] must run even if nothing else happens.
    fn deadline(&self) -> Option<Instant>;

    /// Whether output is backed up (stdout is full): no connection is read until it clears,
    /// so that what peers send waits in the kernel (backpressure) instead of in memory.
    fn output_blocked(&self) -> bool;

    /// The engine is about to block: write out buffered output (as far as it goes without
    /// blocking; a source to wait on for the rest may be watched).
    ///
    /// # Errors
    /// Output could not be written; the loop ends with this error.
    fn idle(&mut self, net: &mut Net) -> io::Result<()>;

    /// `Some` ends the loop with that outcome.
    fn finished(&mut self) -> Option<Self::Outcome>;
}

/// The connections, by key, with their readiness registrations. Keys are looked up for every
/// message: a multiplicative hash (Fx) costs a fraction of SipHash, and keys come from us,
/// not from the network.
pub struct Net {
    poller: Poller,
    conns: HashMap<usize, Slot>,
    /// Connections to read before the next wait, readable or not: a handshake can leave
    /// whole frames in tungstenite's buffer that no readiness event will announce.
    unread: Vec<usize>,
    /// Other sources (stdin, a listener, a full stdout, a relay's byte stream), by key, and
    /// the readiness wanted of each now (readable, writable); one wanting neither is out of
    /// the poller, which would otherwise report its hang-up over and over.
    watched: HashMap<usize, (Box<dyn AsSource>, Interest)>,
    /// Connections that may have something to flush or a readiness interest to change: the
    /// ones handed out ([`Net::get`]), read, reported writable, added or held since the last
    /// wait. A turn visits these, not every connection: with 10,000 idle clients, visiting
    /// them all three times a turn was most of a new client's round trip.
    touched: Vec<usize>,
    /// No connection is read: the handler's output is backed up.
    reads_paused: bool,
    /// `reads_paused` as the registered interests reflect it: when it changes, every
    /// connection's interest does.
    interest_paused: bool,
    /// A flush since the last turn cleared a connection's backed-up output: the handler must
    /// see it (to release what it held back) before the loop waits.
    unblocked: bool,
}

/// Readiness wanted of a watched source: (readable, writable).
type Interest = (bool, bool);

struct Slot {
    /// Boxed: the table holds a slot for every connection and grows by doubling, so a small
    /// slot keeps 10,000 idle clients small (the table moves on growth, the box does not).
    conn: Box<Conn>,
    /// The registered interest (readable, writable); `None` while the socket is out of the
    /// poller: reads are paused and nothing waits to be written. (A socket registered with
    /// no interest would still report a hang-up, over and over, while nobody may read it.)
    interest: Option<(bool, bool)>,
    /// Not read until released ([`Net::hold`]): where its messages go is backed up.
    held: bool,
    /// In [`Net::touched`].
    touched: bool,
}

impl Slot {
    /// Marks the slot for the next flush and interest update; `true` if it was not already.
    fn touch(&mut self) -> bool {
        !std::mem::replace(&mut self.touched, true)
    }
}

impl Net {
    /// Adds a connection under `key` and starts watching its socket.
    ///
    /// # Errors
    /// The poller refused the socket.
    pub fn insert(&mut self, key: usize, conn: Conn) -> io::Result<()> {
        self.poller.add(conn.socket().source(), key, true, false)?;
        self.conns.insert(
            key,
            Slot {
                conn: Box::new(conn),
                interest: Some((true, false)),
                held: false,
                touched: true,
            },
        );
        self.touched.push(key);
        self.unread.push(key);
        Ok(())
    }

    /// Stops watching connection `key` and hands it back.
    pub fn remove(&mut self, key: usize) -> Option<Conn> {
        let slot = self.conns.remove(&key)?;
        self.poller.delete(slot.conn.socket().source());
        Some(*slot.conn)
    }

    /// How many connections there are.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Lets every connection's compressor that has been quiet give up its zlib state;
    /// returns whether some compressor still holds one.
    pub fn shed_compressors(&mut self, now: Instant) -> bool {
        let mut held = false;
        for slot in self.conns.values_mut() {
            held |= slot.conn.shed_if_quiet(now);
        }
        held
    }

    /// The connection under `key` (to be flushed after the turn).
    pub fn get(&mut self, key: usize) -> Option<&mut Conn> {
        let slot = self.conns.get_mut(&key)?;
        if slot.touch() {
            self.touched.push(key);
        }
        Some(&mut *slot.conn)
    }

    /// Marks connection `key` for the next flush and interest update.
    fn touch(&mut self, key: usize) {
        if let Some(slot) = self.conns.get_mut(&key) {
            if slot.touch() {
                self.touched.push(key);
            }
        }
    }

    /// Reports `source` to [`Handler::ready`] under `key` whenever it is readable.
    ///
    /// Level-triggered, so the handler can read once per report and never needs the file
    /// in non-blocking mode (which would change it for every process sharing it).
    ///
    /// # Errors
    /// The poller refused the source (epoll refuses regular files, kqueue terminals).
    pub fn watch(&mut self, source: Box<dyn AsSource>, key: usize) -> io::Result<()> {
        self.watch_for(source, key, true, false)
    }

    /// Reports `source` under `key` when it is readable (`read`) or writable (`write`);
    /// [`Net::want`] changes which.
    ///
    /// # Errors
    /// The poller refused the source.
    pub fn watch_for(
        &mut self,
        source: Box<dyn AsSource>,
        key: usize,
        read: bool,
        write: bool,
    ) -> io::Result<()> {
        if read || write {
            self.poller.add(source.source(), key, read, write)?;
        }
        self.watched.insert(key, (source, (read, write)));
        Ok(())
    }

    /// Changes the readiness a watched source is reported for.
    pub fn want(&mut self, key: usize, read: bool, write: bool) {
        let Some((fd, interest)) = self.watched.get_mut(&key) else {
            return;
        };
        let want = (read, write);
        if *interest == want {
            return;
        }
        // Failing to change the interest of a valid registration is not expected; the worst
        // case is a spurious `ready`, which the handler ignores.
        match (*interest, want) {
            (_, (false, false)) => self.poller.delete(fd.source()),
            ((false, false), _) => {
                let _ = self.poller.add(fd.source(), key, read, write);
            }
            _ => {
                let _ = self.poller.modify(fd.source(), key, read, write);
            }
        }
        *interest = want;
    }

    /// Reports `source` to [`Handler::ready`] under `key` once it is writable (a full stdout
    /// that may take more). [`Net::unwatch`] ends it.
    ///
    /// # Errors
    /// The poller refused the source.
    pub fn watch_writable(&mut self, source: Box<dyn AsSource>, key: usize) -> io::Result<()> {
        self.watch_for(source, key, false, true)
    }

    /// Stops or resumes reading connection `key` alone (the others are read as before): a
    /// relay holds one side while the other cannot take more, so that what it sends waits
    /// in the kernel. Its output is still written.
    pub fn hold(&mut self, key: usize, held: bool) {
        if let Some(slot) = self.conns.get_mut(&key) {
            if slot.held != held {
                slot.held = held;
                if !held {
                    // Whole frames may wait in its buffers, which no readiness announces.
                    self.unread.push(key);
                }
                self.touch(key);
            }
        }
    }

    /// Whether connection `key` is held ([`Net::hold`]).
    pub fn is_held(&self, key: usize) -> bool {
        self.conns.get(&key).is_some_and(|s| s.held)
    }

    /// Whether `key` is a watched source.
    pub fn is_watched(&self, key: usize) -> bool {
        self.watched.contains_key(&key)
    }

    /// Stops or resumes reports of a watched source's readability, for backpressure.
    pub fn pause(&mut self, key: usize, paused: bool) {
        if let Some(&(_, (_, write))) = self.watched.get(&key) {
            self.want(key, !paused, write);
        }
    }

    /// Stops watching a source for good (at its end of file).
    pub fn unwatch(&mut self, key: usize) {
        if let Some((fd, interest)) = self.watched.remove(&key) {
            if interest != (false, false) {
                self.poller.delete(fd.source());
            }
        }
    }

    /// Whether any connection's output is backed up.
    pub fn any_blocked(&self) -> bool {
        self.conns.values().any(|s| s.conn.is_blocked())
    }

    /// Flushes the touched connections; returns the keys whose flush failed, with the error.
    fn flush_all(&mut self) -> Vec<(usize, Incoming)> {
        let mut failed = Vec::new();
        for &key in &self.touched {
            let Some(slot) = self.conns.get_mut(&key) else {
                continue;
            };
            let was_blocked = slot.conn.is_blocked();
            match slot.conn.flush() {
                Ok(()) => self.unblocked |= was_blocked && !slot.conn.is_blocked(),
                Err(tungstenite::Error::ConnectionClosed) => failed.push((key, Incoming::Closed)),
                Err(e) => failed.push((key, Incoming::Failed(e))),
            }
        }
        failed
    }

    /// Asks for writability exactly where output is backed up, and for readability unless
    /// reading is paused: for the touched connections, or for all when pausing changed.
    /// Then nothing is touched any more.
    fn update_interest(&mut self) -> io::Result<()> {
        let mut touched = std::mem::take(&mut self.touched);
        if self.interest_paused != self.reads_paused {
            self.interest_paused = self.reads_paused;
            touched.clear();
            touched.extend(self.conns.keys());
        }
        let mut result = Ok(());
        for key in touched.drain(..) {
            if result.is_ok() {
                result = self.update_one(key);
            } else if let Some(slot) = self.conns.get_mut(&key) {
                slot.touched = false; // the loop ends with the error
            }
        }
        self.touched = touched;
        result
    }

    /// Registers the readiness connection `key` needs now.
    fn update_one(&mut self, key: usize) -> io::Result<()> {
        let Some(slot) = self.conns.get_mut(&key) else {
            return Ok(());
        };
        slot.touched = false;
        let readable = !self.reads_paused && !slot.held;
        let writable = slot.conn.is_blocked();
        let want = (readable || writable).then_some((readable, writable));
        if want == slot.interest {
            return Ok(());
        }
        let source = slot.conn.socket().source();
        match (slot.interest, want) {
            (Some(_), Some((r, w))) => self.poller.modify(source, key, r, w)?,
            (None, Some((r, w))) => self.poller.add(source, key, r, w)?,
            (Some(_), None) => self.poller.delete(source),
            (None, None) => {}
        }
        slot.interest = want;
        Ok(())
    }
}

/// The poller and the connections; see the module docs.
pub struct Engine {
    net: Net,
    waker: Waker,
    ready: Vec<usize>,
    /// Of those, the ones the poller said can be written (or have failed).
    writable: Vec<usize>,
}

impl Engine {
    /// # Errors
    /// The OS poller could not be created.
    pub fn new() -> io::Result<Engine> {
        let poller = Poller::new()?;
        let waker = Waker(Arc::new(poller.waker()?));
        Ok(Engine {
            net: Net {
                poller,
                conns: HashMap::default(),
                unread: Vec::new(),
                watched: HashMap::default(),
                touched: Vec::new(),
                reads_paused: false,
                interest_paused: false,
                unblocked: false,
            },
            waker,
            ready: Vec::new(),
            writable: Vec::new(),
        })
    }

    /// A handle that wakes this engine from another thread.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Look for events for up to `budget` before sleeping, while the peer answers that fast
    /// (on Linux; see the poller's `spin`).
    pub fn spin(&mut self, budget: Duration) {
        self.net.poller.spin(budget);
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
            // Flush before the turn as well as after: a socket that just became writable
            // must count as unblocked when the handler decides whether to take more input,
            // or input stays paused with nothing left to wake the loop.
            self.flush(handler);
            self.net.unblocked = false;
            handler.turn(&mut self.net, Instant::now());
            self.flush(handler);
            if let Some(outcome) = handler.finished() {
                return Ok(outcome);
            }
            // Output is written before waiting, unless a connection still has whole frames
            // buffered (then the wait is only a look and the loop comes straight back).
            self.net.reads_paused = handler.output_blocked();
            if self.net.unread.is_empty() || self.net.reads_paused {
                handler.idle(&mut self.net)?;
                self.net.reads_paused = handler.output_blocked();
            }
            let timeout = if self.net.unblocked {
                // Output cleared after the turn: come straight back for another.
                Some(Duration::ZERO)
            } else if self.net.unread.is_empty() || self.net.reads_paused {
                handler
                    .deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            self.net.update_interest()?;
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            if !self.net.reads_paused {
                ready.append(&mut self.net.unread);
            }
            self.writable.clear();
            match self
                .net
                .poller
                .wait(&mut ready, &mut self.writable, timeout)
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            ready.sort_unstable();
            ready.dedup();
            for &key in &self.writable {
                if let Some(slot) = self.net.conns.get_mut(&key) {
                    slot.conn.may_write();
                    self.net.touch(key);
                }
            }
            for &key in &ready {
                if self.net.watched.contains_key(&key) {
                    handler.ready(&mut self.net, key);
                } else {
                    self.drain(handler, key);
                }
            }
            self.ready = ready;
        }
    }

    /// Writes out what every connection has queued, reporting failures to the handler.
    fn flush<H: Handler>(&mut self, handler: &mut H) {
        for (key, what) in self.net.flush_all() {
            handler.incoming(&mut self.net, key, what, Instant::now());
        }
    }

    /// Delivers what connection `key` has, up to the read budget.
    fn drain<H: Handler>(&mut self, handler: &mut H, key: usize) {
        if self.net.reads_paused || handler.output_blocked() {
            // Reported before the pause took effect: read it once output clears.
            if self.net.conns.contains_key(&key) {
                self.net.unread.push(key);
            }
            return;
        }
        let now = Instant::now();
        for _ in 0..READ_BUDGET {
            let Some(slot) = self.net.conns.get_mut(&key) else {
                return;
            };
            if slot.held {
                return; // read again when released
            }
            // Reading may queue a reply (a pong, a Close) or end the connection.
            if slot.touch() {
                self.net.touched.push(key);
            }
            let conn = &mut slot.conn;
            let what = conn.read();
            let more = matches!(what, Incoming::Message(..));
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
