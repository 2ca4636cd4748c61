//! stdout that never blocks the engine: a reader that stops reading must not make wsx deaf
//! to its peers' closes and to signals.
//!
//! - A terminal or a regular file takes a write at once: plain writes ([`Stdout::Direct`]).
//! - On Linux, a pipe is reopened through `/proc/self/fd/1` in non-blocking mode: a file
//!   description of its own, so the flag never leaks to the other processes that share the
//!   pipe (the shell, the next command). A full pipe takes nothing, and the engine waits for
//!   it to become writable like any socket ([`Stdout::Nonblocking`]).
//! - Anything else that may block (a pipe elsewhere, a socket) is written by a thread, which
//!   takes at most [`THREAD_BOUND`] bytes ahead and wakes the engine when it has written them
//!   ([`Stdout::Thread`]).
//!
//! In every case [`Stdout::write`] takes what it can without blocking and says how much.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::engine::{AsSource, Waker};
use crate::term::Blocking;

/// How many bytes the writer thread holds before [`Stdout::write`] takes no more.
const THREAD_BOUND: usize = 256 * 1024;

/// See the module docs.
pub enum Stdout {
    Direct(io::Stdout),
    /// `/dev/null`: takes everything, and the printer renders nothing for it (Unix).
    #[cfg(unix)]
    Discard,
    #[cfg(target_os = "linux")]
    Nonblocking(std::fs::File),
    Thread(Arc<Writer>),
    /// In memory, for tests: takes at most `most` bytes a write, and with `cramped` it is
    /// full (takes nothing) every other write, as a pipe whose reader is slow.
    #[cfg(test)]
    Memory {
        kept: Arc<Mutex<Vec<u8>>>,
        most: usize,
        cramped: bool,
        full: bool,
    },
}

impl Stdout {
    /// The right kind for what stdout is; `waker` is for the writer thread.
    pub fn open(waker: &Waker) -> Stdout {
        match crate::term::blocking(crate::term::Std::Out) {
            Blocking::Never => Stdout::Direct(io::stdout()),
            #[cfg(unix)]
            Blocking::Null => Stdout::Discard,
            #[cfg(target_os = "linux")]
            Blocking::Pipe => reopen_nonblocking().map_or_else(
                |_| Stdout::Thread(Writer::spawn(waker.clone())),
                Stdout::Nonblocking,
            ),
            #[cfg(all(unix, not(target_os = "linux")))]
            Blocking::Pipe => Stdout::Thread(Writer::spawn(waker.clone())),
            Blocking::Other => Stdout::Thread(Writer::spawn(waker.clone())),
        }
    }

    /// A stdout that keeps what is written, for tests, and what it keeps.
    #[cfg(test)]
    pub fn memory() -> (Stdout, Arc<Mutex<Vec<u8>>>) {
        Stdout::cramped(usize::MAX, false)
    }

    /// A stdout in memory that takes at most `most` bytes a write, and that is full every
    /// other write when `cramped`, for tests; and what it keeps.
    #[cfg(test)]
    pub fn cramped(most: usize, cramped: bool) -> (Stdout, Arc<Mutex<Vec<u8>>>) {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let out = Stdout::Memory {
            kept: kept.clone(),
            most,
            cramped,
            full: false,
        };
        (out, kept)
    }

    /// Writes what stdout takes without blocking; `Ok(0)` when it is full.
    ///
    /// # Errors
    /// Writing failed (the reader went away, for one).
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stdout::Direct(out) => {
                out.write_all(buf)?;
                out.flush()?;
                Ok(buf.len())
            }
            #[cfg(unix)]
            Stdout::Discard => Ok(buf.len()),
            #[cfg(target_os = "linux")]
            Stdout::Nonblocking(file) => loop {
                match file.write(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                    other => return other,
                }
            },
            Stdout::Thread(writer) => writer.take(buf),
            #[cfg(test)]
            Stdout::Memory {
                kept,
                most,
                cramped,
                full,
            } => {
                if *cramped {
                    *full = !*full;
                    if *full {
                        return Ok(0);
                    }
                }
                let n = buf.len().min(*most);
                kept.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
                Ok(n)
            }
        }
    }

    /// Bytes taken by the writer thread and not yet written.
    pub fn in_flight(&self) -> usize {
        match self {
            Stdout::Thread(writer) => writer.in_flight(),
            _ => 0,
        }
    }

    /// Something to watch for writability while stdout is full; `None` when the writer
    /// thread wakes the engine itself instead (asked for here) or nothing can be full.
    pub fn when_writable(&self) -> Option<Box<dyn AsSource>> {
        match self {
            Stdout::Direct(_) => None,
            #[cfg(unix)]
            Stdout::Discard => None,
            #[cfg(target_os = "linux")]
            Stdout::Nonblocking(file) => file.try_clone().ok().map(|f| Box::new(f) as _),
            Stdout::Thread(writer) => {
                writer.wake_when_written();
                None
            }
            #[cfg(test)]
            Stdout::Memory { .. } => None,
        }
    }
}

/// The pipe on stdout, opened again as a new non-blocking file description.
#[cfg(target_os = "linux")]
fn reopen_nonblocking() -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        "/proc/self/fd/1",
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(fd))
}

/// A thread that writes stdout with blocking writes; see the module docs.
pub struct Writer {
    state: Mutex<State>,
    more: Condvar,
    waker: Waker,
}

#[derive(Default)]
struct State {
    /// Taken and not yet picked up by the thread.
    queued: Vec<u8>,
    /// Picked up and being written.
    writing: usize,
    /// The engine waits: wake it when the write under way completes.
    wake: bool,
    /// A write failed: every later [`Writer::take`] reports it, and nothing is in flight.
    failed: Option<(io::ErrorKind, String)>,
}

impl Writer {
    fn spawn(waker: Waker) -> Arc<Writer> {
        let writer = Arc::new(Writer {
            state: Mutex::new(State::default()),
            more: Condvar::new(),
            waker,
        });
        let thread = writer.clone();
        // Without the thread, `take` keeps refusing and the engine never waits on it.
        let _ = std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || thread.run());
        writer
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; the state is consistent either way.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        if let Some((kind, text)) = &state.failed {
            return Err(io::Error::new(*kind, text.clone()));
        }
        let room = THREAD_BOUND.saturating_sub(state.queued.len() + state.writing);
        let n = room.min(buf.len());
        state.queued.extend_from_slice(&buf[..n]);
        drop(state);
        self.more.notify_one();
        Ok(n)
    }

    fn in_flight(&self) -> usize {
        let state = self.lock();
        state.queued.len() + state.writing
    }

    /// Wakes the engine when the write under way (or the next one) completes: then there is
    /// room, or everything is written. At once when nothing is in flight.
    fn wake_when_written(&self) {
        let mut state = self.lock();
        if state.queued.is_empty() && state.writing == 0 {
            drop(state);
            self.waker.wake();
        } else {
            state.wake = true;
        }
    }

    fn run(&self) {
        let mut out = io::stdout();
        let mut chunk = Vec::new();
        loop {
            let mut state = self.lock();
            while state.queued.is_empty() {
                state = self.more.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::swap(&mut state.queued, &mut chunk);
            state.writing = chunk.len();
            drop(state);
            let result = out.write_all(&chunk).and_then(|()| out.flush());
            chunk.clear();
            let mut state = self.lock();
            state.writing = 0;
            let failed = result.is_err();
            if let Err(e) = result {
                state.failed = Some((e.kind(), e.to_string()));
                state.queued = Vec::new();
            }
            if std::mem::take(&mut state.wake) || failed {
                drop(state);
                self.waker.wake();
            }
            if failed {
                return;
            }
        }
    }
}
