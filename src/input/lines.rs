//! Piped stdin (or a terminal when stdout is not one): one frame per line.
//!
//! Strips `\n` and `\r\n`, sends the last line even without a newline, batches what is
//! already buffered so a fast pipe costs one wakeup per batch, and reports EOF.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::SyncSender;
use std::thread;

use crate::command::{self, Command, LineMode, HELP};
use crate::engine::Waker;

use super::{Batch, Input};

/// The most lines sent to the engine with one wakeup.
const BATCH_LINES: usize = 1024;

/// Starts a thread that reads stdin until EOF or until the engine goes away.
pub fn spawn(mode: LineMode, skip_empty: bool, quiet: bool, tx: SyncSender<Batch>, waker: Waker) {
    let reader = BufReader::with_capacity(64 * 1024, std::io::stdin());
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_lines(reader, mode, skip_empty, quiet, &tx, &waker))
        .expect("spawning the stdin thread");
}

/// Reads `reader` to its end, sending [`Input`] batches; returns when the reader is done or
/// the receiving side is gone.
pub fn read_lines<R: Read>(
    mut reader: BufReader<R>,
    mode: LineMode,
    skip_empty: bool,
    quiet: bool,
    tx: &SyncSender<Batch>,
    waker: &Waker,
) {
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        let mut batch = Vec::new();
        let mut eof = false;
        while batch.len() < BATCH_LINES {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    batch.push(Input::Rejected(format!("reading stdin: {e}")));
                    eof = true;
                    break;
                }
            }
            number += 1;
            strip_line_ending(&mut line);
            if skip_empty && line.is_empty() {
                continue;
            }
            match command::parse(&line, mode) {
                Ok(Command::Help) => {
                    if !quiet {
                        eprintln!("{HELP}");
                    }
                }
                Ok(cmd) => batch.push(Input::Command { cmd, typed: false }),
                Err(reason) => batch.push(Input::Rejected(format!(
                    "stdin line {number}: {reason}; not sent"
                ))),
            }
            // Hand over what we have as soon as nothing more is already buffered: a line
            // written alone goes out at once, a flood goes out in batches.
            if reader.buffer().is_empty() {
                break;
            }
        }
        if eof {
            batch.push(Input::Eof);
        }
        if !batch.is_empty() {
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

fn strip_line_ending(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], mode: LineMode, skip_empty: bool) -> Vec<Input> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        let engine = crate::engine::Engine::new().unwrap();
        read_lines(
            BufReader::new(text),
            mode,
            skip_empty,
            true,
            &tx,
            &engine.waker(),
        );
        drop(tx);
        rx.iter().flatten().collect()
    }

    fn text(s: &str) -> Input {
        Input::Command {
            cmd: Command::Text(s.into()),
            typed: false,
        }
    }

    const PIPE: LineMode = LineMode {
        slash: false,
        binary: false,
    };

    #[test]
    fn line_endings_are_stripped_and_the_last_line_is_kept() {
        let got = read_all(b"a\r\nb\n\nlast", PIPE, false);
        assert_eq!(
            got,
            vec![text("a"), text("b"), text(""), text("last"), Input::Eof]
        );
    }

    #[test]
    fn terminal_input_skips_empty_lines() {
        assert_eq!(
            read_all(b"a\n\nb\n", PIPE, true),
            vec![text("a"), text("b"), Input::Eof]
        );
    }

    #[test]
    fn bad_lines_are_rejected_with_their_number() {
        let slash = LineMode {
            slash: true,
            binary: false,
        };
        let got = read_all(b"ok\n/bin 123\n\xff\n", slash, false);
        assert_eq!(got[0], text("ok"));
        assert!(matches!(&got[1], Input::Rejected(r) if r.starts_with("stdin line 2: odd number")));
        assert!(
            matches!(&got[2], Input::Rejected(r) if r.starts_with("stdin line 3: not valid UTF-8"))
        );
        assert_eq!(got[3], Input::Eof);
    }
}
