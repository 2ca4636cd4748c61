//! The failures that choose an exit status, and the mapping from an error chain to that status.
//!
//! Everything else travels as a plain `anyhow::Error` with context and exits 1. Only
//! [`exit_code`] looks inside an error to pick a status (after xh's `error_reporting.rs`).

use std::io;

/// A failure with an exit status of its own (see the table in `--help` and the README).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The TCP connection, name resolution or TLS setup failed (exit 3).
    #[error("{0}")]
    Connect(String),
    /// The server answered the upgrade request with something other than 101 (exit 4).
    #[error("{0}")]
    Rejected(String),
    /// The connection ended without a proper close handshake, or broke the protocol (exit 5).
    #[error("{0}")]
    Lost(String),
    /// The peer closed with a code other than 1000/1001 (exit 6).
    #[error("{0}")]
    PeerClosed(String),
    /// `--max-time` passed (exit 7).
    #[error("{0}")]
    TimedOut(String),
    /// A second Ctrl-C or SIGINT while closing (exit 130).
    #[error("interrupted")]
    Interrupted,
}

impl Failure {
    /// The process exit status for this failure.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Connect(_) => 3,
            Failure::Rejected(_) => 4,
            Failure::Lost(_) => 5,
            Failure::PeerClosed(_) => 6,
            Failure::TimedOut(_) => 7,
            Failure::Interrupted => 130,
        }
    }
}

/// The exit status for an error that reached `main`: the first [`Failure`] in the chain
/// decides, anything else is 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(1, Failure::code)
}

/// Whether a broken pipe (the reader of stdout went away) is anywhere in the chain.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn failures_choose_their_status_through_context() {
        let err = anyhow::Error::new(Failure::Rejected("HTTP/1.1 404 Not Found".into()))
            .context("connecting to ws://h/");
        assert_eq!(exit_code(&err), 4);
        assert_eq!(
            exit_code(&anyhow::Error::new(Failure::Connect("x".into()))),
            3
        );
        assert_eq!(exit_code(&anyhow::Error::new(Failure::Lost("x".into()))), 5);
        assert_eq!(
            exit_code(&anyhow::Error::new(Failure::PeerClosed("x".into()))),
            6
        );
        assert_eq!(
            exit_code(&anyhow::Error::new(Failure::TimedOut("x".into()))),
            7
        );
        assert_eq!(exit_code(&anyhow::Error::new(Failure::Interrupted)), 130);
    }

    #[test]
    fn other_errors_are_1() {
        let err: anyhow::Error = Err::<(), _>(io::Error::other("disk"))
            .context("reading history")
            .unwrap_err();
        assert_eq!(exit_code(&err), 1);
        assert!(!is_broken_pipe(&err));
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("stdout");
        assert!(is_broken_pipe(&err));
    }
}
