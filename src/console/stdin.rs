//! Reading piped stdin on the engine thread, where the platform allows it.
//!
//! On Unix a pipe or a socket on stdin is watched by the poller and read with one `read(2)`
//! per readiness report; it is never switched to non-blocking mode, which would leak into
//! the parent shell through the shared file description. Regular files and `/dev/null` are
//! read on a thread (epoll refuses them; kqueue would never report their end), and so are
//! terminals except on Linux's epoll (kqueue refuses them). On Windows only sockets can be polled, so stdin is always read on a
//! thread.

use std::io;

use crate::engine::AsSource;

/// Stdin as a source the engine can watch, when it is a pipe or a socket.
#[cfg(unix)]
pub fn pollable() -> Option<Box<dyn AsSource>> {
    use rustix::fs::FileType;
    let stdin = rustix::stdio::stdin();
    let stat = rustix::fs::fstat(stdin).ok()?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Fifo | FileType::Socket => Some(Box::new(stdin)),
        // epoll takes a terminal (and refuses `/dev/null`, which then goes to a thread).
        #[cfg(all(target_os = "linux", not(feature = "portable-poll")))]
        FileType::CharacterDevice => Some(Box::new(stdin)),
        _ => None,
    }
}

/// Stdin as a source the engine can watch: never on Windows.
#[cfg(not(unix))]
pub fn pollable() -> Option<Box<dyn AsSource>> {
    None
}

/// One read from stdin, which the poller reported readable.
///
/// # Errors
/// The read failed.
#[cfg(unix)]
pub fn read(buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::io::read(rustix::stdio::stdin(), buf)?)
}

/// One read from stdin: never called on Windows, where [`pollable`] is always `None`.
#[cfg(not(unix))]
pub fn read(_buf: &mut [u8]) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}
