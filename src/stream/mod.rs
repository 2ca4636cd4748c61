//! Byte streams: what a WebSocket runs over, from the socket up.
//!
//! - [`Transport`]: a TCP or Unix domain socket.
//! - [`Socket`]: a transport with a deadline while it blocks (dialling, a server's
//!   handshake) and a shortcut for empty reads once the engine owns it, non-blocking.
//! - [`Stream`]: the socket, plain or under TLS (client or server).
//! - [`Wire`]: what tungstenite reads and writes: the stream, and permessage-deflate's codec
//!   on a connection that agreed on it.
//!
//! Setting up a connection (TLS, dialling, the listener, a server's handshake) uses these
//! without the event loop; the engine takes the finished [`Wire`].

mod frames;
mod socket;
mod transport;
mod wire;

use std::io::{self, Read, Write};

pub use socket::Socket;
pub use transport::Transport;
pub use wire::Wire;

/// A tungstenite read buffer is also what tungstenite asks for in one read, and it zero-fills
/// the part it reads into: at its default of 128 KiB that was about 3 µs of every message's
/// round trip. A [`Socket`] reads up to 64 KiB from the kernel at once and hands them out from
/// memory, so a smaller buffer costs calls, not system calls.
///
/// A server's clients hold one each for as long as they are connected: 10,000 idle clients
/// took 92 MB at 8 KiB, 33 MB at 2 KiB and 18 MB at 512 bytes (with the engine's slots
/// boxed).
pub const SERVER_READ_BUFFER: usize = 512;

/// A client's (and a relay's upstream): one connection, where fewer calls per large message
/// matter more than the memory.
pub const CLIENT_READ_BUFFER: usize = 2 * 1024;

/// The byte stream under a WebSocket: plain, or TLS over the socket.
pub enum Stream {
    Plain(Socket),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
    TlsServer(Box<rustls::StreamOwned<rustls::ServerConnection, Socket>>),
}

impl Stream {
    /// The socket under TLS, if any.
    pub fn socket(&self) -> &Socket {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
            Stream::TlsServer(s) => &s.sock,
        }
    }

    pub fn socket_mut(&mut self) -> &mut Socket {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &mut s.sock,
            Stream::TlsServer(s) => &mut s.sock,
        }
    }

    /// The socket underneath, for readiness registration and socket options.
    pub fn transport(&self) -> &Transport {
        self.socket().transport()
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

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
            Stream::TlsServer(s) => s.write_vectored(bufs),
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
