//! The file-descriptor limit: raised at start-up, and recognised when it is reached.
//!
//! A server runs out of descriptors with enough clients; the default soft limit (often 1024)
//! is far below the hard one, so it is raised to the hard limit at start-up, as the Go
//! runtime does for every program. When accepting still fails for want of a descriptor, the
//! server stops accepting for a moment instead of retrying at full speed.

use std::io;

/// Raises the soft limit on open files to the hard limit; returns the limit now in force, if
/// known. Failure leaves the limit as it was.
#[cfg(unix)]
pub fn raise_open_files() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if limit.current != limit.maximum && setrlimit(Resource::Nofile, wanted).is_err() {
        // macOS refuses "unlimited" as a soft limit: take the most a process may have.
        if cfg!(target_vendor = "apple") {
            let capped = Rlimit {
                current: Some(limit.maximum.map_or(10_240, |max| max.min(10_240))),
                ..wanted
            };
            let _ = setrlimit(Resource::Nofile, capped);
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Windows has no such per-process limit to raise.
#[cfg(not(unix))]
pub fn raise_open_files() -> Option<u64> {
    None
}

/// Whether `err` means the process (or the system) has no descriptor left for a new socket.
pub fn out_of_descriptors(err: &io::Error) -> bool {
    #[cfg(unix)]
    let codes = [
        rustix::io::Errno::MFILE.raw_os_error(),
        rustix::io::Errno::NFILE.raw_os_error(),
        rustix::io::Errno::NOBUFS.raw_os_error(),
        rustix::io::Errno::NOMEM.raw_os_error(),
    ];
    // WSAEMFILE, WSAENOBUFS
    #[cfg(windows)]
    let codes = [10024, 10055];
    err.raw_os_error().is_some_and(|code| codes.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_is_recognised() {
        #[cfg(unix)]
        let emfile = rustix::io::Errno::MFILE.raw_os_error();
        #[cfg(windows)]
        let emfile = 10024;
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(emfile)));
        assert!(!out_of_descriptors(&io::ErrorKind::WouldBlock.into()));
    }
}
