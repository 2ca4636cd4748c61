//! The failures that choose an exit status, the mapping from an error chain to that status,
//! and each command's table of statuses.
//!
//! Everything else travels as a plain `anyhow::Error` with context and exits 1. Only
//! [`exit_code`] looks inside an error to pick a status (after xh's `error_reporting.rs`).
//! The tables ([`CONNECT`], [`LISTEN`]) are the one definition behind `--help`, the manual
//! pages and the README's tables (a test checks that the README's copy is this one).

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
    /// What the command line names cannot be used: a `--replay` file that does not parse
    /// (exit 2, as for clap's own usage errors).
    #[error("{0}")]
    Usage(String),
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
            Failure::Usage(_) => 2,
        }
    }
}

/// One row of an exit-status table: the status, and when a command ends with it (Markdown:
/// `code` spans are plain text in `--help`).
pub struct Status {
    pub code: u8,
    pub meaning: &'static str,
}

/// How `wsx connect` ends.
pub const CONNECT: &[Status] = &[
    Status {
        code: 0,
        meaning: "finished normally: Close 1000/1001 from either side, stdin EOF handled, `--count` reached or `--until` matched, a `--tcp-listen` tunnel stopped by Ctrl-C / SIGTERM",
    },
    Status {
        code: 1,
        meaning: "other runtime failure (a file that cannot be read, an internal error, input lines that could not be sent, a `--tcp-listen` address that cannot be bound)",
    },
    Status {
        code: 2,
        meaning: "usage error, or a `--replay` file that cannot be used (it does not parse, has no WebSocket connection, or a payload does not decode)",
    },
    Status {
        code: 3,
        meaning: "could not connect: name not resolved, refused, timed out (`--connect-timeout`), TLS failure, proxy failure",
    },
    Status {
        code: 4,
        meaning: "handshake rejected: the server answered with a non-101 status (the status line and the start of the body are shown), or a 101 that chose a subprotocol or an extension that was not offered, or redirects looped or went past `--max-redirects`",
    },
    Status {
        code: 5,
        meaning: "connection lost: no Close frame (1006), protocol error (answered with 1002), invalid UTF-8 (1007), a message over `--max-message-size` (1009), no answer to our Close within `--close-timeout`, no pong within `--ping-timeout`",
    },
    Status {
        code: 6,
        meaning: "the server started a close with a code other than 1000/1001 (its code and reason are shown)",
    },
    Status {
        code: 7,
        meaning: "timed out: `-m/--max-time` passed (wsx closed cleanly, or gave up connecting)",
    },
    Status {
        code: 130,
        meaning: "interrupted: a second Ctrl-C / SIGINT while closing, or a Ctrl-C / SIGTERM after which stdout, full, could not take the rest of the output",
    },
];

/// How `wsx listen` ends.
pub const LISTEN: &[Status] = &[
    Status {
        code: 0,
        meaning: "stopped normally: Ctrl-C, SIGTERM, `/quit` or Ctrl-D in the REPL (every client closed with 1001), or `--once` after its client left",
    },
    Status {
        code: 1,
        meaning: "could not start: the address cannot be bound (or another server listens on the Unix socket), the TLS files cannot be used, the terminal cannot be set up",
    },
    Status {
        code: 2,
        meaning: "usage error, or a `--replay` file that cannot be used (it does not parse, has no WebSocket connection, or a payload does not decode)",
    },
    Status {
        code: 130,
        meaning: "interrupted: a second Ctrl-C / SIGINT while closing, or a Ctrl-C / SIGTERM after which stdout, full, could not take the rest of the output",
    },
];

/// The table as `--help` shows it after the options: `Exit status:`, then one row per
/// status, wrapped at 80 columns under its meaning.
pub fn help_text(table: &[Status]) -> String {
    const WIDTH: usize = 80;
    const INDENT: usize = 7;
    let mut out = String::from("Exit status:");
    for status in table {
        let mut line = format!("  {:<5}", status.code);
        let mut column = line.len();
        for word in status.meaning.replace('`', "").split(' ') {
            if column + 1 + word.len() > WIDTH && column > INDENT {
                out.push('\n');
                out.push_str(line.trim_end());
                line = " ".repeat(INDENT);
                column = INDENT;
            } else if column > INDENT {
                line.push(' ');
                column += 1;
            }
            line.push_str(word);
            column += word.chars().count();
        }
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The table as the README has it: a Markdown table (checked by a test).
#[cfg(test)]
pub fn markdown(table: &[Status]) -> String {
    let mut out = String::from("| status | meaning |\n|---|---|\n");
    for status in table {
        out.push_str(&format!("| {} | {} |\n", status.code, status.meaning));
    }
    out
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
    fn the_failures_statuses_are_in_the_table() {
        let codes: Vec<u8> = CONNECT.iter().map(|s| s.code).collect();
        for failure in [
            Failure::Connect(String::new()),
            Failure::Rejected(String::new()),
            Failure::Lost(String::new()),
            Failure::PeerClosed(String::new()),
            Failure::TimedOut(String::new()),
            Failure::Interrupted,
        ] {
            assert!(codes.contains(&failure.code()), "{failure:?}");
        }
        assert!(LISTEN.iter().all(|s| codes.contains(&s.code)));
    }

    #[test]
    fn the_readme_has_each_table_as_defined() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        for (command, table) in [("wsx connect", CONNECT), ("wsx listen", LISTEN)] {
            let heading = format!("### `{command}`\n\n");
            let at = readme
                .find(&heading)
                .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
            let copy = &readme[at + heading.len()..];
            let expected = markdown(table);
            assert!(
                copy.starts_with(&expected),
                "README.md's table under {heading:?} is not error.rs's; it should read:\n{expected}"
            );
        }
    }

    #[test]
    fn help_rows_wrap_under_their_meaning() {
        let text = help_text(&[Status {
            code: 130,
            meaning: "a `long` meaning that goes on and on and on, well past the eightieth column of the terminal",
        }]);
        assert_eq!(
            text,
            "Exit status:\n  130  a long meaning that goes on and on and on, well past the eightieth column\n       of the terminal"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 80));
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("stdout");
        assert!(is_broken_pipe(&err));
    }
}
