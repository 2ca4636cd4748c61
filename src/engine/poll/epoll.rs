//! The Linux backend, with one system call per wait: level-triggered epoll plus an eventfd
//! that other threads use to wake the loop.
//!
//! General-purpose pollers re-arm a timer and a notifier around every wait (four extra system
//! calls); on a line-by-line round trip those calls were a fifth of wsx's latency. Here a wait
//! is one `epoll_pwait`, and the eventfd is read only after someone actually woke us.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags};
use rustix::time::Timespec;

use super::{whole_millis, Source};

/// The key under which the eventfd reports; never handed to callers.
const WAKE: u64 = u64::MAX;

/// A level-triggered epoll instance with a wakeup.
pub struct Poller {
    epoll: OwnedFd,
    wake: OwnedFd,
    events: Vec<Event>,
    /// How long a wait looks without sleeping first (zero: never); see [`Poller::spin`].
    spin: Duration,
    /// The last wait ended within `spin`: the peer answers fast, looking is worth it.
    warm: bool,
}

fn flags(readable: bool, writable: bool) -> EventFlags {
    let mut flags = EventFlags::empty();
    if readable {
        flags |= EventFlags::IN | EventFlags::RDHUP;
    }
    if writable {
        flags |= EventFlags::OUT;
    }
    flags
}

impl Poller {
    /// # Errors
    /// The kernel refused an epoll instance or an eventfd (out of file descriptors).
    pub fn new() -> io::Result<Poller> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(&epoll, &wake, EventData::new_u64(WAKE), EventFlags::IN)?;
        Ok(Poller {
            epoll,
            wake,
            events: Vec::with_capacity(256),
            spin: Duration::ZERO,
            warm: false,
        })
    }

    /// Before a wait sleeps, look for up to `budget` without sleeping, while the waits end
    /// that soon. A sleeping CPU takes longer to wake than the whole exchange with a local
    /// peer: on this 2-CPU VM, a line's round trip through `wsx connect` took 25 µs when its
    /// process slept between the line and the echo, and 10 µs when it looked. Only while
    /// waits are short: a wait that ends later than `budget` (a remote peer, a person typing)
    /// turns it off until one ends within it again, so what it costs is one `budget` of CPU
    /// when a conversation pauses.
    pub fn spin(&mut self, budget: Duration) {
        self.spin = budget;
    }

    /// Starts watching `fd` under `key`.
    ///
    /// # Errors
    /// The file cannot be polled (a regular file, `/dev/null`) or is already watched.
    pub fn add(
        &self,
        fd: Source<'_>,
        key: usize,
        readable: bool,
        writable: bool,
    ) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            fd,
            EventData::new_u64(key as u64),
            flags(readable, writable),
        )?;
        Ok(())
    }

    /// Changes what `fd` is watched for.
    ///
    /// # Errors
    /// `fd` is not watched.
    pub fn modify(
        &self,
        fd: Source<'_>,
        key: usize,
        readable: bool,
        writable: bool,
    ) -> io::Result<()> {
        epoll::modify(
            &self.epoll,
            fd,
            EventData::new_u64(key as u64),
            flags(readable, writable),
        )?;
        Ok(())
    }

    /// Stops watching `fd`. Must be called before `fd` is closed.
    pub fn delete(&self, fd: Source<'_>) {
        // Deleting a file that is not watched is harmless and not worth reporting.
        let _ = epoll::delete(&self.epoll, fd);
    }

    /// Waits until a watched file is ready, [`Waker::wake`] is called, or `timeout` passes
    /// (rounded up to a whole millisecond, so a deadline is never woken for early). Appends
    /// the keys of ready files to `ready`.
    ///
    /// # Errors
    /// The wait failed; `Interrupted` means a signal arrived and the caller may simply loop.
    pub fn wait(
        &mut self,
        ready: &mut Vec<usize>,
        writable: &mut Vec<usize>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let timeout = timeout.map(|t| {
            let millis = whole_millis(t);
            Timespec {
                tv_sec: (millis / 1000).min(i64::MAX as u64) as i64,
                tv_nsec: ((millis % 1000) * 1_000_000) as i64,
            }
        });
        self.events.clear();
        let sleeps = timeout.is_none_or(|t| t != Timespec::default());
        if sleeps && self.warm {
            let until = Instant::now() + self.spin;
            let now = Some(Timespec::default());
            loop {
                epoll::wait(
                    &self.epoll,
                    rustix::buffer::spare_capacity(&mut self.events),
                    now.as_ref(),
                )?;
                if !self.events.is_empty() || Instant::now() >= until {
                    break;
                }
                std::thread::yield_now();
            }
        }
        if self.events.is_empty() {
            let started = (sleeps && !self.spin.is_zero()).then(Instant::now);
            epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut self.events),
                timeout.as_ref(),
            )?;
            self.warm = started.is_some_and(|t| t.elapsed() < self.spin);
        }
        for event in &self.events {
            let key = event.data.u64();
            if key == WAKE {
                // Reset the counter; EAGAIN means another wait already did.
                let _ = rustix::io::read(&self.wake, &mut [0u8; 8]);
            } else {
                ready.push(key as usize);
                // An error or hang-up is for the next write to find out.
                let flags = event.flags;
                if flags.intersects(EventFlags::OUT | EventFlags::ERR | EventFlags::HUP) {
                    writable.push(key as usize);
                }
            }
        }
        Ok(())
    }

    /// A handle that wakes this poller from another thread.
    ///
    /// # Errors
    /// Out of file descriptors.
    pub fn waker(&self) -> io::Result<Waker> {
        Ok(Waker(self.wake.as_fd().try_clone_to_owned()?))
    }
}

/// Wakes a [`Poller`] from another thread (an input reader, a signal handler).
pub struct Waker(OwnedFd);

impl Waker {
    /// Makes the poller's current or next wait return at once.
    pub fn wake(&self) {
        // EAGAIN means the counter is already non-zero: a wakeup is pending anyway.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }
}
