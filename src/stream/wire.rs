//! What tungstenite reads and writes: the byte stream, and on a connection that agreed on
//! permessage-deflate, the codec at its two ends (see [`crate::deflate`]).

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use tungstenite::protocol::Role;
use tungstenite::{Bytes, Message};

use super::frames::{self, Bounds};
use super::{Stream, Transport};
use crate::deflate::{Compressor, Inflater, Params};

/// A stream under tungstenite.
pub struct Wire {
    stream: Stream,
    ext: Ext,
    /// What is left of frames written past tungstenite ([`Wire::send_direct`]), in order:
    /// it goes out before anything tungstenite writes after them. `None` when nothing is
    /// left (boxed: 8 bytes on each of 10,000 idle clients, not 32).
    #[allow(clippy::box_collection)] // the box is the point: see above
    unsent: Option<Box<VecDeque<Bytes>>>,
}

enum Ext {
    /// Bytes pass as they are (no extension, the fast path).
    Plain,
    /// A server's plain socket without an extension: whole simple frames are read past
    /// tungstenite ([`Wire::take_frame`]), and it is given the rest a frame at a time.
    Server(Bounds),
    /// A client's handshake: bytes pass as they are, and those after the end of the response
    /// head are kept, since tungstenite holds them before anyone knows whether they are
    /// compressed.
    Head(HeadScan),
    Deflate(Box<Deflate>),
}

/// permessage-deflate, as agreed.
struct Deflate {
    params: Params,
    inflater: Inflater,
    /// `None` when our side cannot compress with the agreed window (messages go out as they
    /// are, which the RFC allows).
    compressor: Option<Compressor>,
}

/// How much a client's read gathers while the response head is incomplete (tungstenite's
/// smallest average read before it suspects an attack).
const GATHER: usize = 128;

/// Finds where an HTTP response head ends and keeps what follows.
#[derive(Default)]
struct HeadScan {
    /// The last byte was a line feed (carriage returns in between do not count).
    newline: bool,
    ended: bool,
    after: Vec<u8>,
}

impl HeadScan {
    fn feed(&mut self, bytes: &[u8]) {
        if self.ended {
            self.after.extend_from_slice(bytes);
            return;
        }
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' if self.newline => {
                    self.ended = true;
                    self.after.extend_from_slice(&bytes[i + 1..]);
                    return;
                }
                b'\n' => self.newline = true,
                b'\r' => {}
                _ => self.newline = false,
            }
        }
    }
}

impl Wire {
    /// A connection without extensions (tests stand in for a client with it).
    #[cfg(test)]
    pub fn plain(stream: Stream) -> Wire {
        Wire {
            stream,
            ext: Ext::Plain,
            unsent: None,
        }
    }

    /// A server's connection without extensions; `tail` is what was read past the handshake.
    /// On a plain socket the tail goes back to the socket, and frames can be read and written
    /// past tungstenite ([`Wire::take_frame`], [`Wire::send_direct`]); under TLS it comes back,
    /// for tungstenite to read first.
    pub fn server(mut stream: Stream, tail: Vec<u8>) -> (Wire, Vec<u8>) {
        let (ext, tail) = match &mut stream {
            Stream::Plain(socket) => {
                socket.unread(tail);
                (Ext::Server(Bounds::default()), Vec::new())
            }
            _ => (Ext::Plain, tail),
        };
        let wire = Wire {
            stream,
            ext,
            unsent: None,
        };
        (wire, tail)
    }

    /// A client about to send its handshake: the response head is read in reads of a fair
    /// size however it comes, and, when compression was offered, what follows the head is
    /// kept: see [`Wire::agree`].
    pub fn handshake(stream: Stream) -> Wire {
        Wire {
            stream,
            ext: Ext::Head(HeadScan::default()),
            unsent: None,
        }
    }

    /// A connection that agreed on permessage-deflate as `role`; `tail` is what was read past
    /// the handshake. `max_message`: the largest inflated message accepted.
    pub fn deflate(
        stream: Stream,
        params: Params,
        role: Role,
        tail: Vec<u8>,
        max_message: usize,
    ) -> Wire {
        Wire {
            stream,
            ext: Ext::Deflate(Box::new(Deflate {
                params,
                inflater: Inflater::new(tail, max_message, params.receiving(role)),
                compressor: Compressor::new(&params, role),
            })),
            unsent: None,
        }
    }

    /// After a client's handshake: `Some` switches compression on (tungstenite must then be
    /// made afresh over this stream, since it has read what followed the head without
    /// inflating it: that is given to the inflater instead). Returns whether it did.
    pub fn agree(&mut self, params: Option<Params>, max_message: usize) -> bool {
        let Ext::Head(scan) = std::mem::replace(&mut self.ext, Ext::Plain) else {
            return false;
        };
        let Some(params) = params else {
            return false;
        };
        self.ext = Ext::Deflate(Box::new(Deflate {
            params,
            inflater: Inflater::new(scan.after, max_message, params.receiving(Role::Client)),
            compressor: Compressor::new(&params, Role::Client),
        }));
        true
    }

    /// The stream, for socket options and readiness.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// The socket underneath.
    pub fn transport(&self) -> &Transport {
        self.stream.transport()
    }

    /// The agreed extension, as the server stated it.
    pub fn extension(&self) -> Option<String> {
        match &self.ext {
            Ext::Deflate(d) => Some(d.params.to_string()),
            _ => None,
        }
    }

    /// Whether this connection agreed on compression.
    #[inline]
    pub fn compresses(&self) -> bool {
        matches!(self.ext, Ext::Deflate(_))
    }

    /// Our compressor, on a connection that compresses what it sends.
    pub fn compressor(&mut self) -> Option<&mut Compressor> {
        match &mut self.ext {
            Ext::Deflate(d) => d.compressor.as_mut(),
            _ => None,
        }
    }

    /// Whether frames can be read and written past tungstenite ([`Wire::take_frame`],
    /// [`Wire::send_direct`]): a server's plain socket without an extension, where the bytes
    /// of a frame are the bytes on the wire.
    pub fn sends_direct(&self) -> bool {
        matches!(self.ext, Ext::Server(_))
    }

    /// The next message, when it is one final, masked text or binary frame of at most `max`
    /// bytes, with no message in pieces before it ([`frames::take`]); `None` when it is for
    /// tungstenite to read. A frame whose head has come but not all its payload is read on
    /// here, straight into its message's buffer ([`frames::start`]): until it is whole, this
    /// says `WouldBlock` and tungstenite is given nothing. Servers only (see [`Wire::server`]).
    ///
    /// # Errors
    /// As for a read: `WouldBlock` when nothing has come; a text frame that is not UTF-8.
    pub fn take_frame(&mut self, max: usize) -> tungstenite::Result<Option<Message>> {
        let (Ext::Server(bounds), Stream::Plain(socket)) = (&mut self.ext, &mut self.stream) else {
            return Ok(None);
        };
        let mut partial = match bounds.taking.take() {
            Some(partial) => partial,
            None => {
                if !bounds.at_message() {
                    return Ok(None);
                }
                let ahead = socket.ahead()?;
                if let Some((msg, used)) = frames::take(ahead, max) {
                    socket.consume(used);
                    return Ok(Some(msg));
                }
                let Some(partial) = frames::start(ahead, max) else {
                    return Ok(None);
                };
                let used = ahead.len();
                socket.consume(used);
                partial
            }
        };
        match partial.fill(socket) {
            Ok(true) => partial.message().map(Some),
            // The stream ended inside the frame: tungstenite, reading on, finds the end where
            // a frame would start, and says so as it would have.
            Ok(false) => Ok(None),
            Err(e) => {
                bounds.taking = Some(partial);
                Err(e.into())
            }
        }
    }

    /// Whether a frame is being read past tungstenite ([`Wire::take_frame`]), which must go
    /// on reading it.
    pub fn taking(&self) -> bool {
        matches!(&self.ext, Ext::Server(bounds) if bounds.taking.is_some())
    }

    /// Writes one whole frame (`head` then `payload`) past tungstenite, with one `writev` and
    /// no copy: tungstenite would first copy the payload into its write buffer. What the
    /// socket does not take now waits, the payload still uncopied, and goes out before
    /// anything tungstenite writes later. The caller makes sure tungstenite holds no bytes
    /// of its own that should go first. Returns whether the frame went out whole.
    ///
    /// # Errors
    /// The socket failed.
    pub fn send_direct(&mut self, head: &[u8], payload: Bytes) -> io::Result<bool> {
        if let Some(unsent) = &mut self.unsent {
            unsent.push_back(Bytes::copy_from_slice(head));
            unsent.push_back(payload);
            return Ok(false);
        }
        let slices = [io::IoSlice::new(head), io::IoSlice::new(&payload)];
        let n = match self.stream.write_vectored(&slices) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        if n >= head.len() + payload.len() {
            return Ok(true);
        }
        let unsent = self.unsent.get_or_insert_with(Box::default);
        if n < head.len() {
            unsent.push_back(Bytes::copy_from_slice(&head[n..]));
            unsent.push_back(payload);
        } else {
            unsent.push_back(payload.slice(n - head.len()..));
        }
        Ok(false)
    }

    /// Writes out what is left of the frames written past tungstenite.
    fn drain(&mut self) -> io::Result<()> {
        let Some(unsent) = &mut self.unsent else {
            return Ok(());
        };
        while let Some(front) = unsent.front_mut() {
            let n = self.stream.write(front)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            if n < front.len() {
                let _ = front.split_to(n);
            } else {
                unsent.pop_front();
            }
        }
        self.unsent = None;
        Ok(())
    }

    /// The compressed size of the data message tungstenite just returned, if it came
    /// compressed.
    #[inline]
    pub fn received_size(&mut self) -> Option<usize> {
        match &mut self.ext {
            Ext::Deflate(d) => d.inflater.next_size(),
            _ => None,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.ext {
            Ext::Plain => self.stream.read(buf),
            // Never inside a frame read past it.
            Ext::Server(bounds) if bounds.taking.is_some() => Err(io::ErrorKind::WouldBlock.into()),
            Ext::Server(bounds) => {
                let n = bounds.limit(buf.len());
                let n = self.stream.read(&mut buf[..n])?;
                bounds.feed(&buf[..n]);
                Ok(n)
            }
            Ext::Deflate(d) => d.inflater.read(&mut self.stream, buf),
            Ext::Head(scan) if scan.ended => {
                let n = self.stream.read(buf)?;
                scan.feed(&buf[..n]);
                Ok(n)
            }
            // tungstenite takes a response head that comes in many small reads (64 of them,
            // under 128 bytes on average) for an attack, and a slow link delivers a head a few
            // bytes at a time: until the head is complete, what comes is gathered into reads
            // of a fair size.
            Ext::Head(scan) => {
                let want = GATHER.min(buf.len());
                let mut n = 0;
                while n < want && !scan.ended {
                    let got = match self.stream.read(&mut buf[n..]) {
                        Ok(got) => got,
                        // What was gathered goes first; the failure comes again on the next read.
                        Err(_) if n > 0 => break,
                        Err(e) => return Err(e),
                    };
                    if got == 0 {
                        break;
                    }
                    scan.feed(&buf[n..n + got]);
                    n += got;
                }
                Ok(n)
            }
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.unsent.is_some() {
            // Frames written past tungstenite go first; until they have, tungstenite's bytes
            // wait in its buffer as if the socket were full.
            self.drain()?;
        }
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        let mut scan = HeadScan::default();
        scan.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r");
        scan.feed(b"\n\r");
        assert!(!scan.ended);
        scan.feed(b"\n\x81\x02hi");
        scan.feed(b"\x81\x00");
        assert_eq!(scan.after, b"\x81\x02hi\x81\x00");
        let mut bare = HeadScan::default();
        bare.feed(b"HTTP/1.1 101 OK\nA: b\n\nrest");
        assert_eq!(bare.after, b"rest");
    }
}
