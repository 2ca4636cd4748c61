//! Readiness polling behind one small interface: [`Poller`] (watch sources by key, wait for
//! readiness, a wakeup, or a timeout) and [`Waker`] (wake it from another thread).
//!
//! Two backends, chosen at build time:
//! - Linux: level-triggered epoll plus an eventfd, one system call per wait (`epoll.rs`).
//! - Everywhere else (macOS and the BSDs on kqueue, Windows on IOCP), and on Linux with the
//!   `portable-poll` feature: the `polling` crate in level-triggered mode (`portable.rs`).
//!
//! Both are level-triggered, so the engine never needs a source in non-blocking mode to
//! drain it: one read per report is enough.

#[cfg(all(target_os = "linux", not(feature = "portable-poll")))]
mod epoll;
#[cfg(all(target_os = "linux", not(feature = "portable-poll")))]
pub use epoll::{Poller, Waker};

#[cfg(not(all(target_os = "linux", not(feature = "portable-poll"))))]
mod portable;
#[cfg(not(all(target_os = "linux", not(feature = "portable-poll"))))]
pub use portable::{Poller, Waker};

/// A socket or file the poller can watch, borrowed: a file descriptor on Unix, a socket on
/// Windows (where only sockets can be polled).
#[cfg(unix)]
pub type Source<'a> = std::os::fd::BorrowedFd<'a>;
#[cfg(windows)]
pub type Source<'a> = std::os::windows::io::BorrowedSocket<'a>;

/// Anything that can be watched: sockets everywhere, and pipes on Unix.
pub trait AsSource {
    fn source(&self) -> Source<'_>;
}

#[cfg(unix)]
impl<T: std::os::fd::AsFd> AsSource for T {
    fn source(&self) -> Source<'_> {
        self.as_fd()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> AsSource for T {
    fn source(&self) -> Source<'_> {
        self.as_socket()
    }
}

/// A wait's timeout in whole milliseconds, rounded up, so that a deadline is never woken for
/// early.
fn whole_millis(timeout: std::time::Duration) -> u64 {
    timeout
        .as_nanos()
        .div_ceil(1_000_000)
        .min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        (a, b)
    }

    #[test]
    fn reports_readable_sockets_and_wakeups() {
        let mut poller = Poller::new().unwrap();
        let (mut a, b) = pair();
        poller.add(b.source(), 7, true, false).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, &mut Vec::new(), Some(Duration::ZERO))
            .unwrap();
        assert!(ready.is_empty());

        a.write_all(b"x").unwrap();
        poller
            .wait(&mut ready, &mut Vec::new(), Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [7]);

        // Level-triggered: still readable until read.
        ready.clear();
        poller
            .wait(&mut ready, &mut Vec::new(), Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [7]);

        poller.modify(b.source(), 7, false, false).unwrap();
        ready.clear();
        let waker = poller.waker().unwrap();
        std::thread::spawn(move || waker.wake());
        poller
            .wait(&mut ready, &mut Vec::new(), Some(Duration::from_secs(5)))
            .unwrap();
        assert!(ready.is_empty(), "a wakeup reports no key");
        poller.delete(b.source());
    }

    #[test]
    fn reports_writable_sockets() {
        let mut poller = Poller::new().unwrap();
        let (a, _b) = pair();
        poller.add(a.source(), 3, false, true).unwrap();
        let (mut ready, mut writable) = (Vec::new(), Vec::new());
        poller
            .wait(&mut ready, &mut writable, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!((ready, writable), (vec![3], vec![3]));
        poller.delete(a.source());
    }

    #[test]
    fn timeouts_are_not_cut_short() {
        let mut poller = Poller::new().unwrap();
        let start = std::time::Instant::now();
        poller
            .wait(
                &mut Vec::new(),
                &mut Vec::new(),
                Some(Duration::from_micros(300)),
            )
            .unwrap();
        assert!(start.elapsed() >= Duration::from_micros(300));
    }

    /// Spinning changes when a wait sleeps, never what it reports: events, wakeups (which
    /// must not be lost while it looks) and timeouts.
    #[test]
    fn a_spinning_poller_reports_the_same() {
        let mut poller = Poller::new().unwrap();
        poller.spin(Duration::from_millis(20));
        let (mut a, b) = pair();
        poller.add(b.source(), 7, true, false).unwrap();
        let mut ready = Vec::new();
        for _ in 0..3 {
            // Warm after the first quick answer: later ones are found while looking.
            let writer = {
                let mut a = a.try_clone().unwrap();
                std::thread::spawn(move || a.write_all(b"x").unwrap())
            };
            ready.clear();
            poller
                .wait(&mut ready, &mut Vec::new(), Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(ready, [7]);
            writer.join().unwrap();
            std::io::Read::read(&mut &b, &mut [0u8; 8]).unwrap();
        }
        let waker = poller.waker().unwrap();
        let waking = std::thread::spawn(move || waker.wake());
        ready.clear();
        let start = std::time::Instant::now();
        poller
            .wait(&mut ready, &mut Vec::new(), Some(Duration::from_secs(5)))
            .unwrap();
        assert!(ready.is_empty(), "a wakeup reports no key");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the wakeup was seen"
        );
        waking.join().unwrap();
        let start = std::time::Instant::now();
        poller
            .wait(
                &mut Vec::new(),
                &mut Vec::new(),
                Some(Duration::from_millis(30)),
            )
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
        a.write_all(b"y").unwrap();
        ready.clear();
        poller.wait(&mut ready, &mut Vec::new(), None).unwrap();
        assert_eq!(ready, [7]);
        poller.delete(b.source());
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(whole_millis(Duration::ZERO), 0);
        assert_eq!(whole_millis(Duration::from_micros(1)), 1);
        assert_eq!(whole_millis(Duration::from_millis(2)), 2);
        assert_eq!(whole_millis(Duration::MAX), u64::MAX);
    }
}
