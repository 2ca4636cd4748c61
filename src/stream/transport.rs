//! The connection under the bytes: a TCP socket, or a Unix domain socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

    pub(super) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.set_read_timeout(timeout),
            #[cfg(unix)]
            Transport::Unix(u) => u.set_read_timeout(timeout),
        }
    }

    pub(super) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
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

    pub fn set_nonblocking(&self) -> io::Result<()> {
        self.set_mode(true)
    }

    /// Back to blocking mode, for a handshake that goes on on a thread of its own.
    ///
    /// # Errors
    /// The socket refused the option.
    pub fn set_blocking(&self) -> io::Result<()> {
        self.set_mode(false)
    }

    fn set_mode(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.set_nonblocking(nonblocking),
            #[cfg(unix)]
            Transport::Unix(u) => u.set_nonblocking(nonblocking),
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

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(t) => t.write_vectored(bufs),
            #[cfg(unix)]
            Transport::Unix(u) => u.write_vectored(bufs),
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
