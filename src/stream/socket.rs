//! A socket with a deadline while it blocks, and a shortcut once it does not.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::Transport;

/// How much is read at once from a socket that streams (see [`Socket`]).
const AHEAD: usize = 64 * 1024;

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
///
/// Non-blocking, it reads ahead: every read asks the kernel for up to [`AHEAD`] bytes, into a
/// buffer the thread keeps for its sockets, and hands out what the caller asked for. A server
/// gives tungstenite a 512-byte buffer per client (so that 10,000 idle clients stay small),
/// yet one system call takes in a 64 KiB frame or a burst of small ones. Whatever does not fit
/// the caller's buffer stays with the socket, in that buffer, until it has all been handed
/// out; then the buffer goes back to the thread (it is zeroed once, not at every read). The
/// engine reads a connection until it would block, or comes back to it (its `unread` list),
/// so bytes held here never wait for a readiness that will not come.
///
/// Writing is the mirror image: once a write would block, the next ones answer `WouldBlock`
/// (and after a short write, which filled the kernel's buffer) without a system call until the
/// engine reports the socket ready again
/// ([`Socket::may_write`]); a peer slow to read then costs no failing `sendto` per turn.
pub struct Socket {
    io: Transport,
    nonblocking: bool,
    drained: bool,
    /// A write would have blocked, and the socket has not been reported ready since.
    stuck: bool,
    /// Read ahead and not yet handed out: `ahead[at..end]`.
    ahead: Vec<u8>,
    at: usize,
    end: usize,
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
            stuck: false,
            ahead: Vec::new(),
            at: 0,
            end: 0,
            written: 0,
            deadline: Some(deadline),
        }
    }

    /// A socket already in non-blocking mode (a server's client whose handshake is answered on
    /// the engine's thread): no deadline, no timeouts to undo.
    pub fn nonblocking(io: impl Into<Transport>) -> Socket {
        Socket {
            nonblocking: true,
            deadline: None,
            ..Socket::with_deadline(io, Instant::now())
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

    /// Switches to non-blocking mode for the engine: the deadline and the timeouts it set no
    /// longer apply. Nothing to do for a socket that is non-blocking already.
    ///
    /// # Errors
    /// The socket refused the option.
    pub fn set_nonblocking(&mut self) -> io::Result<()> {
        if !self.nonblocking {
            self.io.set_nonblocking()?;
            self.io.set_timeouts(None)?;
            self.nonblocking = true;
            self.deadline = None;
        }
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

    /// The poller reported the socket (readable or writable): writing is worth a try again.
    pub fn may_write(&mut self) {
        self.stuck = false;
    }

    /// Starts counting written bytes afresh (after a connection's complete flush).
    pub fn reset_written(&mut self) {
        self.written = 0;
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < self.end {
            return Ok(self.hand_out(buf));
        }
        if std::mem::take(&mut self.drained) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if !self.nonblocking {
            if let Some(left) = self.left()? {
                self.io.set_read_timeout(Some(left))?;
            }
        } else if buf.len() < AHEAD {
            return self.read_ahead(buf);
        }
        let n = self.io.read(buf)?;
        self.drained = self.nonblocking && n > 0 && n < buf.len();
        Ok(n)
    }
}

thread_local! {
    /// The read-ahead buffer of this thread's sockets, while none of them holds it.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Socket {
    /// Reads up to [`AHEAD`] bytes into the thread's buffer and hands out what fits `buf`;
    /// the socket keeps the buffer while it holds the rest.
    fn read_ahead(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ahead = SPARE.take();
        ahead.resize(AHEAD, 0); // once per thread: the buffer comes back whole
        let n = match self.io.read(&mut ahead) {
            Ok(n) => n,
            Err(e) => {
                give_back(ahead);
                return Err(e);
            }
        };
        // Less than asked for emptied the kernel's receive queue.
        self.drained = n > 0 && n < AHEAD;
        self.ahead = ahead;
        self.at = 0;
        self.end = n;
        Ok(self.hand_out(buf))
    }

    /// What is read ahead and not yet handed out; when nothing is, up to [`AHEAD`] bytes are
    /// read first (empty at the end of the stream). Non-blocking sockets only.
    ///
    /// # Errors
    /// As for a read: `WouldBlock` when nothing has come.
    pub fn ahead(&mut self) -> io::Result<&[u8]> {
        if self.at == self.end {
            if std::mem::take(&mut self.drained) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.read_ahead(&mut [])?;
        }
        Ok(&self.ahead[self.at..self.end])
    }

    /// Marks `n` bytes of [`Socket::ahead`] as handed out.
    pub fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.end);
        if self.at == self.end {
            give_back(std::mem::take(&mut self.ahead));
            self.at = 0;
            self.end = 0;
        }
    }

    /// Puts bytes read past a handshake back in front of what the socket reads next.
    pub fn unread(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let mut ahead = bytes;
        ahead.extend_from_slice(&self.ahead[self.at..self.end]);
        give_back(std::mem::take(&mut self.ahead));
        self.end = ahead.len();
        self.at = 0;
        self.ahead = ahead;
    }

    /// Copies what was read ahead into `buf`; gives the buffer back once all of it is out.
    fn hand_out(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.end - self.at);
        buf[..n].copy_from_slice(&self.ahead[self.at..self.at + n]);
        self.consume(n);
        n
    }
}

/// Returns a read-ahead buffer to the thread, unless another socket already has (then the
/// thread keeps one, and this one is freed).
fn give_back(ahead: Vec<u8>) {
    SPARE.with(|spare| {
        let kept = spare.take();
        spare.set(if kept.len() >= ahead.len() {
            kept
        } else {
            ahead
        });
    });
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    /// One `writev`: a frame's head and its payload go out together without being copied
    /// into one buffer first.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if !self.nonblocking {
            if let Some(left) = self.left()? {
                self.io.set_write_timeout(Some(left))?;
            }
        } else if self.stuck {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = match bufs {
            [one] => self.io.write(one),
            _ => self.io.write_vectored(bufs),
        }
        .inspect_err(|e| {
            self.stuck = self.nonblocking && e.kind() == io::ErrorKind::WouldBlock;
        })?;
        // A short write filled the kernel's buffer: the next one would only say so.
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.stuck = self.nonblocking && n < len;
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

    #[test]
    fn what_is_read_ahead_comes_out_whole_and_in_order_through_small_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let sent: Vec<u8> = (0..3 * AHEAD + 123).map(|i| (i % 251) as u8).collect();
        let writer = {
            let sent = sent.clone();
            std::thread::spawn(move || peer.write_all(&sent))
        };
        let mut socket = Socket::with_deadline(tcp, Instant::now() + Duration::from_secs(10));
        socket.set_nonblocking().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < sent.len() {
            assert!(
                Instant::now() < deadline,
                "{} of {} bytes",
                got.len(),
                sent.len()
            );
            match socket.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(got == sent, "the bytes came out changed");
        // All handed out: the buffer went back to the thread.
        assert!(socket.ahead.is_empty());
        writer.join().unwrap().unwrap();
    }
}
