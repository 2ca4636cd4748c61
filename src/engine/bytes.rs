//! A byte stream beside the WebSockets (the far side of `wsx listen --forward tcp:…`, the
//! near side of `wsx connect --tcp-listen`), read and written without blocking. What the
//! stream cannot take yet waits here; the handler holds the WebSocket that feeds it back while
//! too much waits ([`ByteStream::full`]), so memory stays bounded.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::{AsSource, Net};
use crate::stream::Transport;

/// How much is read from the stream at a time: one binary frame each.
const READ_SIZE: usize = 64 * 1024;

/// Past this many bytes waiting for the stream, the client is not read.
const FULL: usize = 1 << 20;

/// What one read of the stream gave.
pub enum Chunk {
    Data(Vec<u8>),
    /// Its end: the other side will send nothing more.
    Eof,
    /// Nothing until it is readable again.
    Idle,
    Failed(io::Error),
}

/// A byte stream and what waits to be written to it.
pub struct ByteStream {
    stream: Transport,
    pending: VecDeque<u8>,
    /// What it is connected to (`tcp:HOST:PORT`, `unix:PATH`, a peer's address), for messages.
    pub target: String,
    /// Bytes written to it (from the WebSocket), and read from it (to the WebSocket).
    pub from_client: u64,
    pub to_client: u64,
    /// Not read while its WebSocket cannot take more.
    paused: bool,
    /// Its WebSocket is gone: what waits is written, then the stream is shut down.
    pub closing: bool,
}

impl ByteStream {
    /// Takes over a connected stream, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The socket refused the options.
    pub fn new(stream: Transport, target: String) -> io::Result<ByteStream> {
        stream.set_nonblocking()?;
        stream.set_nodelay()?;
        Ok(ByteStream {
            stream,
            pending: VecDeque::new(),
            target,
            from_client: 0,
            to_client: 0,
            paused: false,
            closing: false,
        })
    }

    /// A handle on the stream for the poller.
    ///
    /// # Errors
    /// Out of file descriptors.
    pub fn source(&self) -> io::Result<Box<dyn AsSource>> {
        Ok(Box::new(self.stream.try_clone()?))
    }

    /// One read, of at most 64 KiB.
    pub fn read(&mut self) -> Chunk {
        let mut buf = vec![0; READ_SIZE];
        loop {
            return match self.stream.read(&mut buf) {
                Ok(0) => Chunk::Eof,
                Ok(n) => {
                    buf.truncate(n);
                    self.to_client += n as u64;
                    Chunk::Data(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Chunk::Idle,
                Err(e) => Chunk::Failed(e),
            };
        }
    }

    /// Writes what the client sent as far as the stream takes it, and queues the rest.
    ///
    /// # Errors
    /// The stream failed.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.from_client += bytes.len() as u64;
        let mut rest = bytes;
        // Straight to the stream when nothing waits before it: the common case, no copy.
        while self.pending.is_empty() && !rest.is_empty() {
            match self.stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // Behind what already waits: written when the stream is next ready, not tried now.
        self.pending.extend(rest);
        Ok(())
    }

    /// Writes what waits, as far as the stream takes it.
    ///
    /// # Errors
    /// The stream failed.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            let (front, _) = self.pending.as_slices();
            match self.stream.write(front) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether bytes wait for the stream (it should be watched for writability).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether so much waits that the client should not be read.
    pub fn full(&self) -> bool {
        self.pending.len() >= FULL
    }

    /// Shuts both directions down.
    pub fn shutdown(&self) {
        self.stream.shutdown();
    }
}

/// What a turn of a bridge's byte stream gave its handler.
pub enum Step {
    /// Bytes for the WebSocket; then [`Bridge::sent`].
    Data(Vec<u8>),
    /// Its end: the WebSocket is to close with 1000 once what the stream sent is delivered.
    Eof,
    /// It was closing and has taken everything that waited: it is shut down and unwatched.
    Drained,
    Idle,
    Failed(io::Error),
}

/// A byte stream on the engine under `key`, paired with the WebSocket under `ws`: the one
/// place that keeps the poller's interest in the stream and the backpressure between the two
/// (the WebSocket is held while the stream cannot take more, and the stream is not read while
/// the WebSocket cannot).
pub struct Bridge {
    pub bytes: ByteStream,
    key: usize,
    ws: usize,
}

impl Bridge {
    /// Takes over `stream` and watches it for reading under `key`.
    ///
    /// # Errors
    /// The socket refused its options, or out of file descriptors.
    pub fn watch(
        net: &mut Net,
        stream: Transport,
        target: String,
        key: usize,
        ws: usize,
    ) -> io::Result<Bridge> {
        let bytes = ByteStream::new(stream, target)?;
        net.watch_for(bytes.source()?, key, true, false)?;
        Ok(Bridge { bytes, key, ws })
    }

    /// The stream is readable or writable: writes what waits, then reads once.
    pub fn ready(&mut self, net: &mut Net) -> Step {
        if let Err(e) = self.bytes.flush() {
            return Step::Failed(e);
        }
        if self.bytes.closing {
            if self.bytes.has_pending() {
                return Step::Idle;
            }
            self.close(net);
            return Step::Drained;
        }
        let step = match if self.bytes.paused {
            Chunk::Idle
        } else {
            self.bytes.read()
        } {
            Chunk::Data(bytes) => return Step::Data(bytes),
            Chunk::Eof => {
                self.bytes.paused = true;
                Step::Eof
            }
            Chunk::Idle => Step::Idle,
            Chunk::Failed(e) => Step::Failed(e),
        };
        self.interest(net);
        step
    }

    /// What [`Step::Data`] gave has gone to the WebSocket: the stream waits while the
    /// WebSocket's output is backed up (`held` gets the pair, for [`Bridge::resume`]).
    pub fn sent(&mut self, net: &mut Net, held: &mut Vec<(usize, usize)>) {
        if net.get(self.ws).is_some_and(|c| c.is_blocked()) && !self.bytes.paused {
            self.bytes.paused = true;
            held.push((self.key, self.ws));
        }
        self.interest(net);
    }

    /// Writes what the WebSocket sent; holds the WebSocket while too much waits.
    ///
    /// # Errors
    /// The stream failed.
    pub fn deliver(
        &mut self,
        net: &mut Net,
        bytes: &[u8],
        held: &mut Vec<(usize, usize)>,
    ) -> io::Result<()> {
        self.bytes.write(bytes)?;
        self.interest(net);
        if self.bytes.full() && !net.is_held(self.ws) {
            net.hold(self.ws, true);
            held.push((self.ws, self.key));
        }
        Ok(())
    }

    /// Reads the stream again once its WebSocket has drained.
    pub fn resume(&mut self, net: &mut Net) {
        if !self.bytes.closing {
            self.bytes.paused = false;
            self.interest(net);
        }
    }

    /// Its WebSocket is gone: what waits is written first. Whether something waits (the
    /// handler gives it until a deadline, then [`Bridge::close`]); if not, it is closed now.
    pub fn finish(&mut self, net: &mut Net) -> bool {
        self.bytes.closing = true;
        if self.bytes.has_pending() {
            net.want(self.key, false, true);
            return true;
        }
        self.close(net);
        false
    }

    /// Shuts the stream down and stops watching it.
    pub fn close(&self, net: &mut Net) {
        self.bytes.shutdown();
        net.unwatch(self.key);
    }

    /// Whether so much waits that its WebSocket is not read.
    pub fn full(&self) -> bool {
        self.bytes.full()
    }

    fn interest(&self, net: &mut Net) {
        net.want(self.key, !self.bytes.paused, self.bytes.has_pending());
    }
}
