//! Line input (piped stdin, or a terminal when stdout is not one): one frame per line.
//!
//! [`Splitter`] strips `\n` and `\r\n`, keeps the last line even without a newline, and turns
//! each line into an [`Input`]. The engine feeds it straight from stdin when stdin can be
//! polled (a pipe or a socket on Unix); [`spawn`] runs it on a thread for stdin that cannot
//! (a regular file, `/dev/null`, and any stdin on Windows).

use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc::SyncSender;
use std::thread;

use crate::command::{self, Command, LineMode};
use crate::engine::Waker;

use super::{Batch, Input};

/// The most lines the thread reader sends to the engine with one wakeup.
const BATCH_LINES: usize = 1024;

/// How much is read from stdin at a time.
pub const READ_SIZE: usize = 64 * 1024;

/// Cuts a byte stream into lines and parses each one, or with `--stream` passes each read on
/// as it came.
pub struct Splitter {
    mode: LineMode,
    /// `--stream`: no lines at all; every read is one binary frame, byte for byte.
    bytes: bool,
    /// Empty lines typed at a terminal send nothing.
    skip_empty: bool,
    quiet: bool,
    /// The unfinished last line of what was fed so far.
    partial: Vec<u8>,
    /// Lines seen so far, for error messages.
    number: u64,
}

impl Splitter {
    pub fn new(mode: LineMode, skip_empty: bool, quiet: bool) -> Splitter {
        Splitter {
            mode,
            bytes: false,
            skip_empty,
            quiet,
            partial: Vec::new(),
            number: 0,
        }
    }

    /// `--stream`: every read of stdin becomes one binary frame, nothing split or stripped.
    pub fn bytes() -> Splitter {
        Splitter {
            bytes: true,
            ..Splitter::new(
                LineMode {
                    slash: false,
                    binary: true,
                    server: false,
                },
                false,
                true,
            )
        }
    }

    /// Turns every complete line in `bytes` into an [`Input`]; keeps the rest for later.
    pub fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Input>) {
        if self.bytes {
            if !bytes.is_empty() {
                out.push_back(Input::Command(Command::Binary(bytes.to_vec())));
            }
            return;
        }
        let mut rest = bytes;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.partial.is_empty() {
                self.line(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, out);
            }
        }
        self.partial.extend_from_slice(rest);
    }

    /// The input ended: the last line counts even without a newline, then [`Input::Eof`].
    pub fn finish(&mut self, out: &mut VecDeque<Input>) {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.line(&last, out);
        }
        out.push_back(Input::Eof);
    }

    fn line(&mut self, line: &[u8], out: &mut VecDeque<Input>) {
        self.number += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.skip_empty && line.is_empty() {
            return;
        }
        match command::parse(line, self.mode) {
            Ok(Command::Help) => {
                if !self.quiet {
                    crate::diag::say(&command::help(self.mode.server));
                }
            }
            Ok(cmd) => out.push_back(Input::Command(cmd)),
            Err(reason) => {
                let number = self.number;
                out.push_back(Input::Rejected(format!(
                    "stdin line {number}: {reason}; not sent"
                )));
            }
        }
    }
}

/// Reads stdin on a thread until EOF or until the engine goes away, for stdin the engine
/// cannot poll.
pub fn spawn(splitter: Splitter, tx: SyncSender<Batch>, waker: Waker) {
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_all(std::io::stdin(), splitter, &tx, &waker))
        .expect("spawning the stdin thread");
}

/// Reads `reader` to its end, sending batches of at most [`BATCH_LINES`] lines.
pub fn read_all(
    mut reader: impl Read,
    mut splitter: Splitter,
    tx: &SyncSender<Batch>,
    waker: &Waker,
) {
    let mut buf = vec![0; READ_SIZE];
    let mut lines = VecDeque::new();
    loop {
        let eof = match reader.read(&mut buf) {
            Ok(0) => {
                splitter.finish(&mut lines);
                true
            }
            Ok(n) => {
                splitter.feed(&buf[..n], &mut lines);
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                lines.push_back(Input::Rejected(format!("reading stdin: {e}")));
                splitter.finish(&mut lines);
                true
            }
        };
        while !lines.is_empty() {
            let take = lines.len().min(BATCH_LINES);
            let batch: Batch = lines.drain(..take).collect();
            if tx.send(batch).is_err() {
                return;
            }
            waker.wake();
        }
        if eof {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], mode: LineMode, skip_empty: bool) -> Vec<Input> {
        let mut splitter = Splitter::new(mode, skip_empty, true);
        let mut out = VecDeque::new();
        for chunk in chunks {
            splitter.feed(chunk, &mut out);
        }
        splitter.finish(&mut out);
        out.into()
    }

    fn text(s: &str) -> Input {
        Input::Command(Command::Text(s.into()))
    }

    const PIPE: LineMode = LineMode {
        slash: false,
        binary: false,
        server: false,
    };

    #[test]
    fn a_stream_passes_each_read_on_as_one_binary_frame() {
        let mut splitter = Splitter::bytes();
        let mut out = VecDeque::new();
        for chunk in [&b"no\r\nlines"[..], b"", b"\xff\n"] {
            splitter.feed(chunk, &mut out);
        }
        splitter.finish(&mut out);
        let binary = |b: &[u8]| Input::Command(Command::Binary(b.to_vec()));
        let got: Vec<Input> = out.into();
        assert_eq!(
            got,
            vec![binary(b"no\r\nlines"), binary(b"\xff\n"), Input::Eof]
        );
    }

    #[test]
    fn line_endings_are_stripped_and_the_last_line_is_kept() {
        let got = split(&[b"a\r\nb\n\nlast"], PIPE, false);
        assert_eq!(
            got,
            vec![text("a"), text("b"), text(""), text("last"), Input::Eof]
        );
    }

    #[test]
    fn lines_may_span_reads() {
        let got = split(&[b"hel", b"lo\r", b"\nwor", b"ld\n"], PIPE, false);
        assert_eq!(got, vec![text("hello"), text("world"), Input::Eof]);
    }

    #[test]
    fn terminal_input_skips_empty_lines() {
        assert_eq!(
            split(&[b"a\n\nb\n"], PIPE, true),
            vec![text("a"), text("b"), Input::Eof]
        );
    }

    #[test]
    fn bad_lines_are_rejected_with_their_number() {
        let slash = LineMode {
            slash: true,
            binary: false,
            server: false,
        };
        let got = split(&[b"ok\n/bin 123\n\xff\n"], slash, false);
        assert_eq!(got[0], text("ok"));
        assert!(matches!(&got[1], Input::Rejected(r) if r.starts_with("stdin line 2: odd number")));
        assert!(
            matches!(&got[2], Input::Rejected(r) if r.starts_with("stdin line 3: not valid UTF-8"))
        );
        assert_eq!(got[3], Input::Eof);
    }

    #[test]
    fn the_thread_reader_sends_everything_then_eof() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        let engine = crate::engine::Engine::new().unwrap();
        let input: Vec<u8> = (0..3000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        read_all(
            &input[..],
            Splitter::new(PIPE, false, true),
            &tx,
            &engine.waker(),
        );
        drop(tx);
        let got: Vec<Input> = rx.iter().flatten().collect();
        assert_eq!(got.len(), 3001);
        assert_eq!(got[2999], text("2999"));
        assert_eq!(got[3000], Input::Eof);
    }
}
