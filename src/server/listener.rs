//! Where `wsx listen` accepts clients: a TCP address, or a Unix domain socket (`unix:PATH`).
//!
//! A Unix socket's file is created at start-up (a stale one, which nothing listens on any
//! more, is replaced; a live one is an error) and removed when the listener is dropped.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use crate::stream::Transport;

/// What `wsx listen` was told to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Who connected: an address, or a process on this machine (a Unix socket's peers have
/// none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    #[cfg(unix)]
    Unix,
}

impl Peer {
    /// The peer's address; `None` for a process on a Unix socket.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Peer::Tcp(addr) => Some(*addr),
            #[cfg(unix)]
            Peer::Unix => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            Peer::Unix => f.write_str("a local process (unix socket)"),
        }
    }
}

/// A bound, non-blocking listener.
pub enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix {
        listener: std::os::unix::net::UnixListener,
        path: PathBuf,
    },
}

impl Listener {
    /// Binds `addr`, non-blocking.
    ///
    /// # Errors
    /// The address is taken or not allowed; for `unix:PATH`, something listens there already,
    /// or the platform has no Unix sockets.
    pub fn bind(addr: &ListenAddr) -> io::Result<Listener> {
        let listener = match addr {
            ListenAddr::Tcp(addr) => Listener::Tcp(TcpListener::bind(addr)?),
            #[cfg(unix)]
            ListenAddr::Unix(path) => bind_unix(path)?,
            #[cfg(not(unix))]
            ListenAddr::Unix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "Unix sockets are not supported on this platform",
                ))
            }
        };
        match &listener {
            Listener::Tcp(l) => l.set_nonblocking(true)?,
            #[cfg(unix)]
            Listener::Unix { listener, .. } => listener.set_nonblocking(true)?,
        }
        Ok(listener)
    }

    /// Accepts one waiting client, non-blocking: its handshake is tried at once on the engine's
    /// thread (on Linux an accepted socket starts blocking; on Windows, macOS and the BSDs it
    /// inherits the listener's mode, which is set again all the same).
    ///
    /// # Errors
    /// `WouldBlock` when nobody waits; out of descriptors; and so on.
    pub fn accept(&self) -> io::Result<(Transport, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (tcp, addr) = l.accept()?;
                tcp.set_nonblocking(true)?;
                Ok((Transport::from(tcp), Peer::Tcp(addr)))
            }
            #[cfg(unix)]
            Listener::Unix { listener, .. } => {
                let (unix, _) = listener.accept()?;
                unix.set_nonblocking(true)?;
                Ok((Transport::from(unix), Peer::Unix))
            }
        }
    }

    /// The URL clients connect to, for the readiness line: `ws://127.0.0.1:8080`, or
    /// `ws+unix:/run/app.sock` (`wss` with TLS).
    ///
    /// # Errors
    /// The bound address cannot be read.
    pub fn url(&self, tls: bool) -> io::Result<String> {
        let scheme = if tls { "wss" } else { "ws" };
        Ok(match self {
            Listener::Tcp(l) => format!("{scheme}://{}", l.local_addr()?),
            #[cfg(unix)]
            Listener::Unix { path, .. } => format!("{scheme}+unix:{}", path.display()),
        })
    }

    /// The TCP port (`SERVER_PORT` for `--exec` programs); `None` on a Unix socket.
    pub fn port(&self) -> Option<u16> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            #[cfg(unix)]
            Listener::Unix { .. } => None,
        }
    }
}

/// Binds a Unix socket at `path`, replacing a stale socket file that nothing listens on.
#[cfg(unix)]
fn bind_unix(path: &std::path::Path) -> io::Result<Listener> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    let listener = match UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let is_socket =
                std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
            if !is_socket {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another server listens on {}", path.display()),
                ));
            }
            // A leftover of a server that is gone: take its place.
            std::fs::remove_file(path)?;
            UnixListener::bind(path)?
        }
        Err(e) => return Err(e),
    };
    Ok(Listener::Unix {
        listener,
        path: path.to_path_buf(),
    })
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix { listener, .. } => listener.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Listener {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Listener::Tcp(l) => l.as_socket(),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let addr = ListenAddr::Unix(path.clone());
        let first = Listener::bind(&addr).unwrap();
        assert_eq!(
            first.url(false).unwrap(),
            format!("ws+unix:{}", path.display())
        );
        let err = Listener::bind(&addr).err().unwrap();
        assert!(err.to_string().contains("another server listens"), "{err}");
        drop(first);
        assert!(!path.exists(), "removed when dropped");
        // A socket file whose server died without removing it.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(path.exists());
        let again = Listener::bind(&addr).unwrap();
        drop(again);
        std::fs::write(&path, "not a socket").unwrap();
        let err = Listener::bind(&addr).err().unwrap();
        assert!(err.to_string().contains("is not a socket"), "{err}");
    }
}
