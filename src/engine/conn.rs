//! One WebSocket over a non-blocking stream: queue frames, flush, drain reads, close.
//!
//! A `Conn` never blocks and never decides policy: it reports what happened and whether its
//! output is backed up, and the engine's handler decides what to do.

use std::io;
use std::time::Instant;

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use crate::stream::{Transport, Wire};

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
    /// Large data frames go out past tungstenite ([`Conn::send_directly`]).
    direct: bool,
}

/// The smallest payload a [`Conn::send_directly`] connection writes past tungstenite: below
/// it, copying is cheap and tungstenite gathers the turn's frames into one write.
const DIRECT_FROM: usize = 8 * 1024;

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
        ws.get_ref().transport().set_nodelay()?;
        Ok(Conn {
            ws,
            blocked: false,
            dirty: false,
            queued: 0,
            direct: false,
        })
    }

    /// A server's connection on a plain socket without an extension: from here on, a text or
    /// binary message of [`DIRECT_FROM`] bytes or more goes out as one `writev` of its frame
    /// head and its payload, when tungstenite holds nothing to send first, instead of being
    /// copied into tungstenite's write buffer (an echo of 16 KiB copied its payload once more
    /// than it needed to, and 500 clients kept 500 write buffers warm). Servers only: their
    /// frames are not masked, so the payload goes out as it is.
    pub fn send_directly(&mut self) {
        self.direct = self.ws.get_ref().sends_direct();
    }

    /// The socket, for the poller.
    pub fn socket(&self) -> &Transport {
        self.ws.get_ref().transport()
    }

    /// Gives up the compressor's zlib state if it has been quiet for a while
    /// ([`crate::deflate::QUIET`]); returns whether one is still held.
    pub fn shed_if_quiet(&mut self, now: Instant) -> bool {
        self.ws
            .get_mut()
            .compressor()
            .is_some_and(|c| c.shed_if_quiet(now))
    }

    /// The poller reported the connection: a write that would have blocked may go through.
    pub fn may_write(&mut self) {
        self.ws.get_mut().stream_mut().socket_mut().may_write();
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
        if self.direct && !self.dirty && len >= DIRECT_FROM && self.ws.can_write() {
            let (first, payload) = match msg {
                Message::Text(text) => (0x81, Bytes::from(text)),
                Message::Binary(bytes) => (0x82, bytes),
                other => return self.write_through(other, len),
            };
            return self.write_direct(first, payload);
        }
        self.write_through(msg, len)
    }

    /// Queues a message in tungstenite's buffer.
    fn write_through(&mut self, msg: Message, len: usize) -> Result<(), WsError> {
        self.dirty = true;
        let (_, used) = frame_head(0, len as u64);
        self.queued += (used + len) as u64;
        match self.ws.write(msg) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => {
                self.blocked = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes a whole unmasked frame (FIN and the opcode in `first`) past tungstenite; what
    /// the socket does not take waits in the [`Wire`], and the connection counts as blocked.
    fn write_direct(&mut self, first: u8, payload: Bytes) -> Result<(), WsError> {
        let (head, used) = frame_head(first, payload.len() as u64);
        self.queued += (used + payload.len()) as u64;
        if !self.ws.get_mut().send_direct(&head[..used], payload)? {
            self.blocked = true;
        }
        Ok(())
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
            .saturating_sub(self.ws.get_ref().stream().socket().written())
    }

    /// Queues a Close frame with `code` and `reason` (tungstenite refuses to queue a second
    /// one).
    ///
    /// # Errors
    /// As for [`Conn::send`].
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        self.dirty = true;
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.into(),
        };
        match self.ws.close(Some(frame)) {
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
                self.ws.get_mut().stream_mut().socket_mut().reset_written();
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
        // Once a frame is begun past tungstenite it is finished there, whatever tungstenite's
        // state has become since.
        if self.direct && (self.ws.can_write() || self.ws.get_ref().taking()) {
            match self.take_frame() {
                Ok(Some(msg)) => return Incoming::Message(msg, None),
                Ok(None) => {}
                Err(e) if would_block(&e) => return Incoming::Idle,
                Err(e) => return Incoming::Failed(e),
            }
        }
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

    /// A whole simple data frame read past tungstenite ([`Wire::take_frame`]), within
    /// tungstenite's limits; `None` for anything it must read.
    fn take_frame(&mut self) -> tungstenite::Result<Option<Message>> {
        let config = self.ws.get_config();
        let max = config
            .max_message_size
            .unwrap_or(usize::MAX)
            .min(config.max_frame_size.unwrap_or(usize::MAX));
        self.ws.get_mut().take_frame(max)
    }
}

/// An unmasked frame's head for a payload of `len` bytes, `first` its first byte (FIN, RSV and
/// opcode), and how many of its bytes are used (RFC 6455 5.2).
fn frame_head(first: u8, len: u64) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = first;
    match len {
        0..=125 => {
            head[1] = len as u8;
            (head, 2)
        }
        126..=65_535 => {
            head[1] = 126;
            head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (head, 4)
        }
        _ => {
            head[1] = 127;
            head[2..10].copy_from_slice(&len.to_be_bytes());
            (head, 10)
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
        let _ = self.close(code, "").and_then(|()| self.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Socket, Stream};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;
    use tungstenite::protocol::Role;

    /// A server's connection that sends large frames directly, and its client, blocking.
    fn pair() -> (Conn, WebSocket<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let socket = Socket::with_deadline(server, Instant::now() + Duration::from_secs(10));
        let (wire, _) = Wire::server(Stream::Plain(socket), Vec::new());
        let mut conn = Conn::new(WebSocket::from_raw_socket(wire, Role::Server, None)).unwrap();
        conn.send_directly();
        assert!(conn.direct);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (conn, WebSocket::from_raw_socket(client, Role::Client, None))
    }

    /// Frames written past tungstenite and through it reach the peer whole and in the order
    /// they were sent, also when the peer is slow to read and both kinds wait at once.
    #[test]
    fn direct_and_buffered_frames_keep_their_order_when_the_peer_is_slow() {
        let (mut conn, mut client) = pair();
        let mut sent = Vec::new();
        // Past tungstenite until the socket is full: the last of them waits, uncopied.
        for i in 0.. {
            let msg = match i % 2 {
                0 => Message::binary(vec![i as u8; 64 * 1024 + i]),
                _ => Message::text("t".repeat(DIRECT_FROM + i)),
            };
            sent.push(msg.clone());
            conn.send(msg).unwrap();
            assert!(!conn.dirty, "went past tungstenite");
            if conn.is_blocked() {
                break;
            }
            assert!(i < 10_000, "the peer reads nothing: the socket fills");
        }
        // Then tungstenite's: they must wait behind what is left of those.
        for i in 0..200usize {
            let msg = match i % 3 {
                0 => Message::text(format!("small {i}")),
                1 => Message::binary(vec![i as u8; 64 * 1024]),
                _ => Message::text("t".repeat(DIRECT_FROM)),
            };
            sent.push(msg.clone());
            conn.send(msg).unwrap();
            assert!(conn.dirty, "went through tungstenite, behind the others");
        }
        conn.close(1000, "done").unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match client.read().unwrap() {
                    Message::Close(frame) => return (got, frame.map(|f| u16::from(f.code))),
                    msg => got.push(msg),
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while conn.is_blocked() || conn.dirty {
            assert!(
                Instant::now() < deadline,
                "the peer reads: everything goes out"
            );
            conn.may_write();
            conn.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1)); // the test stands for the poller
        }
        let (got, code) = reader.join().unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "every message whole, in order");
        assert_eq!(code, Some(1000));
    }

    #[test]
    fn frame_heads_use_the_shortest_length() {
        assert_eq!(frame_head(0x81, 5).0[..2], [0x81, 5]);
        assert_eq!(frame_head(0x82, 125).1, 2);
        assert_eq!(frame_head(0x82, 126).0[..4], [0x82, 126, 0, 126]);
        assert_eq!(frame_head(0x82, 65_535).1, 4);
        let (head, used) = frame_head(0x82, 65_536);
        assert_eq!(
            (used, head[1], &head[2..10]),
            (10, 127, &[0, 0, 0, 0, 0, 1, 0, 0][..])
        );
    }
}
