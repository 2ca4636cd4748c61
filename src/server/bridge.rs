//! The far side of `wsx listen --forward tcp:…|unix:…`: one client's byte stream, read and
//! written without blocking. What the stream cannot take yet waits here; the server holds the
//! client back while too much waits ([`Bridge::full`]), so memory stays bounded.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use crate::engine::AsSource;
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

/// One client's byte stream and what waits to be written to it.
pub struct Bridge {
    stream: Transport,
    pending: VecDeque<u8>,
    /// `tcp:HOST:PORT` or `unix:PATH`, for messages.
    pub target: String,
    /// Bytes from the client, and to it.
    pub from_client: u64,
    pub to_client: u64,
    /// Not read while the client cannot take more.
    pub paused: bool,
    /// The client is gone: what waits is written, then the stream is shut down.
    pub closing: bool,
}

impl Bridge {
    /// Takes over a connected stream, switching it to non-blocking mode.
    ///
    /// # Errors
    /// The socket refused the options.
    pub fn new(stream: Transport, target: String) -> io::Result<Bridge> {
        stream.set_nonblocking()?;
        stream.set_nodelay()?;
        Ok(Bridge {
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

    /// Queues what the client sent and writes as much as the stream takes.
    ///
    /// # Errors
    /// The stream failed.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.from_client += bytes.len() as u64;
        self.pending.extend(bytes);
        self.flush()
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
