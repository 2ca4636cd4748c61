//! Name resolution within a time limit.
//!
//! The system resolver (`getaddrinfo`) blocks with no timeout of its own, so a name is
//! resolved on a thread and waited for only as long as the dial may still take (curl's
//! threaded resolver does the same). An IP address needs no lookup and no thread.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// The addresses of `host` (a name, or an IP address without brackets) on `port`, within
/// `limit` (`None`: the time is up already).
///
/// # Errors
/// The name does not resolve, or not within `limit` (`TimedOut`; the lookup is left to
/// finish on its own and its answer dropped).
pub fn resolve(host: &str, port: u16, limit: Option<Duration>) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let limit = limit.ok_or(io::ErrorKind::TimedOut)?;
    let (tx, rx) = mpsc::sync_channel(1);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(io::ErrorKind::TimedOut.into()),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(io::Error::other("the resolver thread ended"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_no_lookup_and_no_time() {
        let v6 = resolve("::1", 9, None).unwrap();
        assert_eq!(v6, ["[::1]:9".parse().unwrap()]);
        assert_eq!(
            resolve("127.0.0.1", 80, None).unwrap(),
            ["127.0.0.1:80".parse().unwrap()]
        );
    }

    #[test]
    fn a_name_with_no_time_left_times_out() {
        let err = resolve("localhost", 80, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(!resolve("localhost", 80, Some(Duration::from_secs(10)))
            .unwrap()
            .is_empty());
    }
}
