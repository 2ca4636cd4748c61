//! One WebSocket over a non-blocking stream: queue frames, flush, drain reads, close.
//!
//! A `Conn` never blocks and never decides policy: it reports what happened and whether its
//! output is backed up, and the engine's handler decides what to do.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::wire::Wire;

/// The connection under the bytes: TCP, or a Unix domain socket (`--unix-socket`).
pub enum Transport {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Transport {
    /// Sets both the read and the write timeout (`None`: block as long as it takes).
    ///
    /// # Errors
    /// The socket refused the option.
    pub fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => {
                t.set_read_timeout(timeout)?;
                t.set_write_timeout(timeout)
            }
            #[cfg(unix)]
            Transport::Unix(u) => {
                u.set_read_timeout(timeout)?;
                u.set_write_timeout(timeout)
            }
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.set_read_timeout(timeout),
            #[cfg(unix)]
            Transport::Unix(u) => u.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.set_write_timeout(timeout),
            #[cfg(unix)]
            Transport::Unix(u) => u.set_write_timeout(timeout),
        }
    }

    /// Another handle on the same socket.
    ///
    /// # Errors
    /// Out of file descriptors.
    pub fn try_clone(&self) -> io::Result<Transport> {
        Ok(match self {
            Transport::Tcp(t) => Transport::Tcp(t.try_clone()?),
            #[cfg(unix)]
            Transport::Unix(u) => Transport::Unix(u.try_clone()?),
        })
    }

    /// Shuts both directions down: whoever blocks reading it wakes up with an error.
    pub fn shutdown(&self) {
        let _ = match self {
            Transport::Tcp(t) => t.shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            Transport::Unix(u) => u.shutdown(std::net::Shutdown::Both),
        };
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.set_nonblocking(true),
            #[cfg(unix)]
            Transport::Unix(u) => u.set_nonblocking(true),
        }
    }

    /// Every frame is a message the peer is waiting for: never hold it back (Nagle). Unix
    /// sockets have nothing to turn off.
    ///
    /// # Errors
    /// The socket refused the option.
    pub fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.set_nodelay(true),
            #[cfg(unix)]
            Transport::Unix(_) => Ok(()),
        }
    }
}

impl From<TcpStream> for Transport {
    fn from(tcp: TcpStream) -> Transport {
        Transport::Tcp(tcp)
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixStream> for Transport {
    fn from(unix: std::os::unix::net::UnixStream) -> Transport {
        Transport::Unix(unix)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(t) => t.read(buf),
            #[cfg(unix)]
            Transport::Unix(u) => u.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(t) => t.write(buf),
            #[cfg(unix)]
            Transport::Unix(u) => u.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Transport {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Transport::Tcp(t) => t.as_fd(),
            Transport::Unix(u) => u.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Transport {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Transport::Tcp(t) => t.as_socket(),
        }
    }
}

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

    fn set_nonblocking(&mut self) -> io::Result<()> {
        self.io.set_nonblocking()?;
        self.nonblocking = true;
        Ok(())
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

/// The byte stream under a WebSocket: plain, or TLS over the socket.
pub enum Stream {
    Plain(Socket),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
    TlsServer(Box<rustls::StreamOwned<rustls::ServerConnection, Socket>>),
}

impl Stream {
    pub(super) fn socket(&self) -> &Socket {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
            Stream::TlsServer(s) => &s.sock,
        }
    }

    pub(super) fn socket_mut(&mut self) -> &mut Socket {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &mut s.sock,
            Stream::TlsServer(s) => &mut s.sock,
        }
    }

    /// The socket underneath, for readiness registration and socket options.
    pub fn transport(&self) -> &Transport {
        &self.socket().io
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::TlsServer(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::TlsServer(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::TlsServer(s) => s.flush(),
        }
    }
}

/// The result of one [`Conn::read`].
pub enum Incoming {
    /// A whole message (data, ping, pong or close), and its compressed size when it came
    /// compressed (permessage-deflate).
    Message(Message, Option<usize>),
    /// Nothing more can be read until the socket is readable again.
    Idle,
    /// The close handshake is complete; the connection can be dropped.
    Closed,
    /// The connection failed: a broken protocol, an oversized message, an I/O error.
    Failed(WsError),
}

/// A WebSocket on a non-blocking socket.
pub struct Conn {
    ws: WebSocket<Wire>,
    /// The last write or flush hit `WouldBlock`: bytes wait in tungstenite's or rustls's
    /// buffer until the socket is writable.
    blocked: bool,
    /// Frames were queued since the last successful flush.
    dirty: bool,
    /// Frame bytes handed to tungstenite since the last complete flush; less what the socket
    /// has accepted since, that is what waits in tungstenite's buffer for the peer.
    queued: u64,
}

fn would_block(err: &WsError) -> bool {
    matches!(err, WsError::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Conn {
    /// Wraps a WebSocket whose handshake is done; switches its socket to non-blocking mode.
    ///
    /// # Errors
    /// The socket options could not be set.
    pub fn new(mut ws: WebSocket<Wire>) -> io::Result<Conn> {
        ws.get_mut().stream_mut().socket_mut().set_nonblocking()?;
        let io = ws.get_ref().transport();
        io.set_timeouts(None)?;
        io.set_nodelay()?;
        Ok(Conn {
            ws,
            blocked: false,
            dirty: false,
            queued: 0,
        })
    }

    /// The socket, for the poller.
    pub fn socket(&self) -> &Transport {
        self.ws.get_ref().transport()
    }

    /// Whether output is backed up: the caller should stop queueing frames until a flush
    /// succeeds. This is the backpressure that keeps memory bounded without dropping data.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Queues a message, compressed if the connection agreed on it. Does not block: when the
    /// socket is full the frame stays queued and [`Conn::is_blocked`] turns true. Returns the
    /// compressed size when it was compressed.
    ///
    /// # Errors
    /// The connection is closed or failed.
    pub fn send(&mut self, msg: Message) -> Result<Option<usize>, WsError> {
        if self.ws.get_ref().compresses() {
            return self.send_compressed(msg);
        }
        let len = msg.len();
        self.write(msg, len).map(|()| None)
    }

    /// [`Conn::send`] on a connection that compresses: kept out of the plain path.
    #[inline(never)]
    fn send_compressed(&mut self, msg: Message) -> Result<Option<usize>, WsError> {
        let (msg, compressed) = self.compress(msg);
        let len = match &msg {
            Message::Frame(f) => f.payload().len(),
            m => m.len(),
        };
        self.write(msg, len).map(|()| compressed)
    }

    /// Queues a message whose payload is `len` bytes.
    fn write(&mut self, msg: Message, len: usize) -> Result<(), WsError> {
        self.dirty = true;
        let len = len as u64;
        let header = match len {
            0..=125 => 2,
            126..=65_535 => 4,
            _ => 10,
        };
        self.queued += header + len;
        match self.ws.write(msg) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => {
                self.blocked = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A data message as one compressed frame with RSV1 set, which tungstenite sends as it is
    /// (masking it if we are the client); anything else unchanged.
    fn compress(&mut self, msg: Message) -> (Message, Option<usize>) {
        let Some(compressor) = self.ws.get_mut().compressor() else {
            return (msg, None);
        };
        let (opcode, payload) = match &msg {
            Message::Text(t) => (Data::Text, t.as_bytes()),
            Message::Binary(b) => (Data::Binary, &b[..]),
            _ => return (msg, None),
        };
        let Some(z) = compressor.compress(payload) else {
            return (msg, None);
        };
        let size = z.len();
        let mut frame = Frame::message(z, OpCode::Data(opcode), true);
        frame.header_mut().rsv1 = true;
        (Message::Frame(frame), Some(size))
    }

    /// About how many bytes wait in tungstenite's buffer for a peer that is slow to read
    /// (what the kernel's socket buffer already holds is not counted). Zero after a complete
    /// flush.
    pub fn backlog(&self) -> u64 {
        self.queued
            .saturating_sub(self.ws.get_ref().stream().socket().written)
    }

    /// Queues a Close frame (tungstenite refuses to queue a second one).
    ///
    /// # Errors
    /// As for [`Conn::send`].
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), WsError> {
        self.dirty = true;
        match self.ws.close(frame) {
            Ok(()) => {
                self.blocked = false;
                Ok(())
            }
            Err(e) if would_block(&e) => {
                self.blocked = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes out what is queued, as far as the socket takes it.
    ///
    /// # Errors
    /// The connection failed; `ConnectionClosed` means the close handshake is complete.
    pub fn flush(&mut self) -> Result<(), WsError> {
        if !self.dirty && !self.blocked {
            return Ok(());
        }
        match self.ws.flush() {
            Ok(()) => {
                // Everything is written: start counting afresh, so that small differences
                // (pongs tungstenite sends on its own, TLS overhead) never add up.
                self.blocked = false;
                self.dirty = false;
                self.queued = 0;
                self.ws.get_mut().stream_mut().socket_mut().written = 0;
                Ok(())
            }
            Err(e) if would_block(&e) => {
                self.blocked = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the next message if a whole one is available.
    ///
    /// Call it until it returns anything but [`Incoming::Message`]: whole frames can wait in
    /// tungstenite's or rustls's buffers with no new bytes on the socket. Replies to pings
    /// and to a Close are queued by tungstenite; [`Conn::flush`] sends them.
    pub fn read(&mut self) -> Incoming {
        match self.ws.read() {
            Ok(msg) => {
                let size = match msg {
                    Message::Ping(_) | Message::Close(_) => {
                        self.dirty = true;
                        None
                    }
                    Message::Text(_) | Message::Binary(_) => self.ws.get_mut().received_size(),
                    _ => None,
                };
                Incoming::Message(msg, size)
            }
            Err(e) if would_block(&e) => Incoming::Idle,
            Err(WsError::ConnectionClosed) => Incoming::Closed,
            Err(e) => Incoming::Failed(e),
        }
    }
}

/// How to answer a failed connection: the RFC 6455 close code to send back, if one applies, and
/// a one-line description for the user ("protocol error: …; closed with 1002").
pub fn failure(err: &WsError) -> (Option<u16>, String) {
    use tungstenite::error::ProtocolError;
    if let Some(e) = match err {
        WsError::Io(e) => crate::deflate::Error::of(e),
        _ => None,
    } {
        return (Some(e.code), format!("{e}; closed with {}", e.code));
    }
    match err {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => (
            None,
            "closed the TCP connection without a Close frame (1006)".to_string(),
        ),
        WsError::Capacity(e) => (
            Some(1009),
            format!("message too big: {e}; closed with 1009"),
        ),
        WsError::Utf8(_) => (
            Some(1007),
            "invalid UTF-8 in a text message; closed with 1007".to_string(),
        ),
        WsError::Protocol(e) => (Some(1002), format!("protocol error: {e}; closed with 1002")),
        e => (None, format!("connection lost: {e}")),
    }
}

impl Conn {
    /// Sends `code` to a peer whose connection failed, as far as it still goes (best effort:
    /// the peer may be gone already).
    pub fn close_failed(&mut self, code: u16) {
        let frame = CloseFrame {
            code: code.into(),
            reason: "".into(),
        };
        let _ = self.close(Some(frame)).and_then(|()| self.flush());
    }
}
