//! A socket with a deadline while it blocks, and a shortcut once it does not.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::Transport;

/// A socket: blocking, with a deadline, while a connection is set up; non-blocking once the
/// engine owns it.
///
/// Blocking, every read and write first sets the socket's timeout to what is left before the
/// deadline (`TimedOut` once it has passed): a peer that sends a byte at a time cannot make
/// setting up last longer than it may. A per-read timeout alone would start again at each
/// byte.
///
/// Non-blocking, it skips the system call that would only say "empty": a read that returns
/// less than asked for emptied the kernel's receive queue, so the next read would fail with
/// `WouldBlock`; this answers that at once instead. It is safe because the engine polls
/// level-triggered: bytes that arrive meanwhile make the next wait return. On a line-by-line
/// round trip this removes one of the seven system calls.
pub struct Socket {
    io: Transport,
    nonblocking: bool,
    drained: bool,
    /// Bytes the kernel accepted since the connection's last complete flush.
    written: u64,
    /// While blocking: when every read and write must have ended.
    deadline: Option<Instant>,
}

impl Socket {
    /// A blocking socket whose reads and writes end by `deadline`.
    pub fn with_deadline(io: impl Into<Transport>, deadline: Instant) -> Socket {
        Socket {
            io: io.into(),
            nonblocking: false,
            drained: false,
            written: 0,
            deadline: Some(deadline),
        }
    }

    /// The time left before the deadline, for a blocking read or write.
    ///
    /// # Errors
    /// `TimedOut` once the deadline has passed.
    fn left(&self) -> io::Result<Option<Duration>> {
        match self.deadline {
            None => Ok(None),
            Some(deadline) => deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .map(Some)
                .ok_or_else(|| io::ErrorKind::TimedOut.into()),
        }
    }

    /// Switches to non-blocking mode for the engine: the deadline no longer applies.
    ///
    /// # Errors
    /// The socket refused the option.
    pub fn set_nonblocking(&mut self) -> io::Result<()> {
        self.io.set_nonblocking()?;
        self.nonblocking = true;
        self.deadline = None;
        Ok(())
    }

    /// The socket underneath, for readiness registration and socket options.
    pub fn transport(&self) -> &Transport {
        &self.io
    }

    /// Bytes the kernel accepted since [`Socket::reset_written`].
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Starts counting written bytes afresh (after a connection's complete flush).
    pub fn reset_written(&mut self) {
        self.written = 0;
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.drained) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if !self.nonblocking {
            if let Some(left) = self.left()? {
                self.io.set_read_timeout(Some(left))?;
            }
        }
        let n = self.io.read(buf)?;
        self.drained = self.nonblocking && n > 0 && n < buf.len();
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.nonblocking {
            if let Some(left) = self.left()? {
                self.io.set_write_timeout(Some(left))?;
            }
        }
        let n = self.io.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_blocking_read_ends_at_the_deadline_however_the_peer_trickles() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut socket = Socket::with_deadline(tcp, deadline);
        let mut buf = [0u8; 1];
        // A byte every 100 ms: each read gets one, until the deadline.
        let writer = std::thread::spawn(move || {
            while peer.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(100)); // a slow peer, the case
            }
        });
        let err = loop {
            match socket.read(&mut buf) {
                Ok(n) => assert_eq!(n, 1, "the peer is still writing"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        assert!(Instant::now() >= deadline);
        // Past it, at once.
        assert_eq!(
            socket.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        drop(socket);
        let _ = writer.join();
    }
}
