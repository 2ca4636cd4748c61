//! The portable backend: the `polling` crate (kqueue on macOS and the BSDs, IOCP on Windows,
//! epoll on Linux with the `portable-poll` feature), in level-triggered mode.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use polling::{Event, Events, PollMode};

use super::{whole_millis, Source};

/// A level-triggered poller with a wakeup.
pub struct Poller {
    poller: Arc<polling::Poller>,
    events: Events,
}

impl Poller {
    /// # Errors
    /// The OS refused a poller (out of file descriptors or handles).
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            poller: Arc::new(polling::Poller::new()?),
            events: Events::new(),
        })
    }

    /// Starts watching `source` under `key`.
    ///
    /// # Errors
    /// The source cannot be polled (kqueue refuses a terminal) or is already watched.
    pub fn add(
        &self,
        source: Source<'_>,
        key: usize,
        readable: bool,
        writable: bool,
    ) -> io::Result<()> {
        // SAFETY: every caller deletes the source before closing it (the engine's `remove`
        // and `unwatch` do, and they are the only ways a watched source leaves it).
        unsafe {
            self.poller.add_with_mode(
                &source,
                Event::new(key, readable, writable),
                PollMode::Level,
            )
        }
    }

    /// Changes what `source` is watched for.
    ///
    /// # Errors
    /// `source` is not watched.
    pub fn modify(
        &self,
        source: Source<'_>,
        key: usize,
        readable: bool,
        writable: bool,
    ) -> io::Result<()> {
        self.poller
            .modify_with_mode(source, Event::new(key, readable, writable), PollMode::Level)
    }

    /// Stops watching `source`. Must be called before it is closed.
    pub fn delete(&self, source: Source<'_>) {
        // Deleting a source that is not watched is harmless and not worth reporting.
        let _ = self.poller.delete(source);
    }

    /// Spinning before a wait (see the epoll backend) is Linux's alone: kqueue and IOCP
    /// wake-ups have not been measured, and a wakeup here cannot be told from a look that
    /// found nothing.
    pub fn spin(&mut self, _budget: Duration) {}

    /// Waits until a watched source is ready, [`Waker::wake`] is called, or `timeout` passes
    /// (rounded up to a whole millisecond). Appends the keys of ready sources to `ready`.
    ///
    /// # Errors
    /// The wait failed; `Interrupted` means a signal arrived and the caller may simply loop.
    pub fn wait(
        &mut self,
        ready: &mut Vec<usize>,
        writable: &mut Vec<usize>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let timeout = timeout.map(|t| Duration::from_millis(whole_millis(t)));
        self.events.clear();
        self.poller.wait(&mut self.events, timeout)?;
        ready.extend(self.events.iter().map(|event| event.key));
        writable.extend(self.events.iter().filter(|e| e.writable).map(|e| e.key));
        Ok(())
    }

    /// A handle that wakes this poller from another thread.
    ///
    /// # Errors
    /// Never on this backend; the signature matches the epoll one.
    pub fn waker(&self) -> io::Result<Waker> {
        Ok(Waker(self.poller.clone()))
    }
}

/// Wakes a [`Poller`] from another thread (an input reader, a signal handler).
pub struct Waker(Arc<polling::Poller>);

impl Waker {
    /// Makes the poller's current or next wait return at once.
    pub fn wake(&self) {
        // Failing to notify means a notification is already pending.
        let _ = self.0.notify();
    }
}
