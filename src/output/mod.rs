//! The printer: picks the formatter for `--format`, owns the one output buffer and stdout
//! (or the REPL's external printer), and decides when to flush. It never blocks on a full
//! stdout: what stdout does not take waits, and the caller reads no more until it clears.
//!
//! Formatters are pure functions of an [`Event`] and a [`View`]; only this module writes.

mod human;
mod json;
mod jsonl;
mod raw;
mod stdout;

use std::io;
use std::time::SystemTime;

use crate::engine::{AsSource, Waker};
use crate::event::{Dir, Event};
use crate::term::TerminalGuard;
pub use stdout::Stdout;

/// `--format`: how events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line per event with time, direction and type.
    Human,
    /// Only the payload of each received data frame, one per line.
    Raw,
    /// One JSON object per event.
    Jsonl,
}

/// `--timestamps`: how event times are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// Local wall-clock time, HH:MM:SS.mmm.
    Local,
    /// UTC wall-clock time, HH:MM:SS.mmm.
    Utc,
    /// Seconds since wsx started, +S.mmm.
    Elapsed,
    /// No time at all.
    None,
}

/// `--binary-output`: how binary frames are written in raw format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOutput {
    /// The bytes exactly, no newline added.
    Raw,
    /// Lowercase hex pairs separated by spaces, one frame per line.
    Hex,
    /// Standard base64, one frame per line.
    Base64,
}

/// How events are rendered, resolved once from the command line and the terminal.
#[derive(Debug, Clone)]
pub struct View {
    pub timestamps: Timestamps,
    pub show_ping_pong: bool,
    /// `--pretty`: JSON payloads over several lines.
    pub pretty: bool,
    /// `-v`: a compressed message's size on the wire beside its size.
    pub wire_sizes: bool,
    /// When wsx started, for `--timestamps elapsed`.
    pub start: SystemTime,
    /// The local zone's offset from UTC in seconds, read once before any thread starts.
    pub utc_offset: i32,
}

/// Everything the printer needs to know, resolved by `settings.rs`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub format: Format,
    pub view: View,
    pub binary_output: BinaryOutput,
    /// stdout is a terminal: escape raw output and flush after every event.
    pub tty: bool,
    /// `--stream`: raw output is the payloads' bytes, with no newline after a text frame
    /// (unless stdout is a terminal).
    pub stream: bool,
    /// `wsx listen --forward`: raw output is what arrives from the upstreams (the messages
    /// sent to clients), not what clients send.
    pub relay: bool,
    /// Color human output (`--no-color`, `NO_COLOR`, `TERM=dumb` and pipes turn it off).
    pub color: bool,
}

/// Where rendered bytes go.
pub enum Sink {
    /// stdout, for pipes, files and terminals without a REPL; never blocks the engine.
    Stdout(Stdout),
    /// rustyline's external printer: lines appear above the prompt without clobbering it.
    /// The guard restores the terminal when the printer leaves the REPL or is dropped.
    Repl {
        printer: Box<dyn rustyline::ExternalPrinter + Send>,
        /// Held for its `Drop`.
        _terminal: TerminalGuard,
    },
}

/// Renders events and writes them; see the module docs.
pub struct Printer {
    settings: Settings,
    sink: Sink,
    /// Bytes rendered, the one buffer between the formatters and stdout: those from
    /// `written` on are not written yet.
    pending: Vec<u8>,
    /// How much of `pending` a flush wrote (stdout took part of it). The written part is
    /// dropped once it is half the buffer, not after each write: a full pipe taking 64 KiB
    /// at a time would otherwise have the rest moved again on every write.
    written: usize,
    /// The last flush left output behind: stdout is full.
    stalled: bool,
    scratch: String,
}

/// How much is rendered before it is written, even before the engine waits.
const FLUSH_AT: usize = 64 * 1024;

impl Printer {
    /// A printer writing to stdout; `waker` wakes the engine when stdout, once full, has
    /// taken what waited (where stdout is written by a thread).
    pub fn stdout(settings: Settings, waker: &Waker) -> Printer {
        Printer::new(settings, Sink::Stdout(Stdout::open(waker)))
    }

    pub fn new(settings: Settings, sink: Sink) -> Printer {
        Printer {
            settings,
            sink,
            pending: Vec::with_capacity(FLUSH_AT),
            written: 0,
            stalled: false,
            scratch: String::new(),
        }
    }

    /// Renders one event. On a terminal it is written at once; in a pipe, and above the
    /// REPL's prompt, it waits in the buffer until [`Printer::flush`], which the engine calls
    /// before it blocks (one prompt redraw per batch, not per frame).
    ///
    /// # Errors
    /// Writing to stdout failed (a broken pipe, for one).
    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        if self.discards() {
            return Ok(()); // stdout is /dev/null: rendering a 16 KiB message was a copy for nothing
        }
        match self.settings.format {
            Format::Raw => raw::render(
                ev,
                if self.settings.relay {
                    Dir::Out
                } else {
                    Dir::In
                },
                self.settings.binary_output,
                self.settings.tty,
                self.settings.stream,
                &mut self.pending,
            ),
            Format::Jsonl => jsonl::render(ev, &self.settings.view, &mut self.pending),
            Format::Human => {
                self.scratch.clear();
                human::render(ev, &self.settings.view, &mut self.scratch);
                self.pending.extend_from_slice(self.scratch.as_bytes());
            }
        }
        let direct_tty = self.settings.tty && matches!(self.sink, Sink::Stdout(_));
        if !self.stalled && (direct_tty || self.pending.len() - self.written >= FLUSH_AT) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes a local message (the `/clients` list) where events go, as is.
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn notice(&mut self, text: &str) -> io::Result<()> {
        if self.discards() {
            return Ok(());
        }
        self.pending.extend_from_slice(text.as_bytes());
        if !text.ends_with('\n') {
            self.pending.push(b'\n');
        }
        self.flush()
    }

    /// Stops printing above the prompt: restores the terminal and writes to stdout directly
    /// from now on. Called when the session ends, so that its last events are written by
    /// this thread rather than left in rustyline's queue when the process exits.
    pub fn leave_repl(&mut self) {
        if let Sink::Repl { .. } = self.sink {
            // The terminal, restored: plain writes.
            let stdout = Sink::Stdout(Stdout::Direct(io::stdout()));
            // Dropping the old sink drops its terminal guard.
            self.sink = stdout;
        }
    }

    /// Writes out what was rendered, as far as stdout takes it without blocking; the rest
    /// waits for the next flush (see [`Printer::blocked`]).
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(out) => {
                let mut result = Ok(());
                while self.written < self.pending.len() {
                    match out.write(&self.pending[self.written..]) {
                        Ok(0) => break,
                        Ok(n) => self.written += n,
                        Err(e) => {
                            // Nothing more can be written: what waits is dropped with it.
                            self.written = self.pending.len();
                            result = Err(e);
                        }
                    }
                }
                if self.written == self.pending.len() {
                    self.pending.clear();
                    self.written = 0;
                } else if self.written >= self.pending.len() / 2 {
                    self.pending.drain(..self.written);
                    self.written = 0;
                }
                self.stalled = self.written < self.pending.len();
                result
            }
            Sink::Repl { printer, .. } => {
                if self.written == self.pending.len() {
                    return Ok(());
                }
                let text = String::from_utf8_lossy(&self.pending[self.written..]).into_owned();
                self.pending.clear();
                self.written = 0;
                printer.print(text).map_err(io::Error::other)
            }
        }
    }
}

impl Printer {
    /// Whether what is written goes nowhere (stdout is `/dev/null`).
    fn discards(&self) -> bool {
        #[cfg(unix)]
        return matches!(self.sink, Sink::Stdout(Stdout::Discard));
        #[cfg(not(unix))]
        false
    }

    /// Whether stdout is full (its reader is slow or has stopped): the caller takes in
    /// nothing more until a flush clears it.
    pub fn blocked(&self) -> bool {
        self.stalled
    }

    /// Bytes rendered and not yet written, including those a writer thread holds.
    pub fn unwritten(&self) -> usize {
        let in_flight = match &self.sink {
            Sink::Stdout(out) => out.in_flight(),
            Sink::Repl { .. } => 0,
        };
        self.pending.len() - self.written + in_flight
    }

    /// What to watch for writability while output waits; `None` where a writer thread
    /// wakes the engine instead (it is asked to here).
    pub fn when_writable(&self) -> Option<Box<dyn AsSource>> {
        match &self.sink {
            Sink::Stdout(out) => out.when_writable(),
            Sink::Repl { .. } => None,
        }
    }

    /// Drops what was not written (a writer thread may still finish its write); returns how
    /// many bytes that was.
    pub fn give_up(&mut self) -> usize {
        let lost = self.unwritten();
        self.pending.clear();
        self.written = 0;
        self.stalled = false;
        lost
    }
}

/// One event as a `--format jsonl` line, shown as `view` says (`--record` writes these).
pub fn jsonl(ev: &Event, view: &View, out: &mut Vec<u8>) {
    jsonl::render(ev, view, out);
}

/// `00 ff 10`: each byte as two lowercase hex digits, separated by spaces (human format's
/// preview, raw format's `--binary-output hex`).
fn spaced_hex(bytes: &[u8], out: &mut Vec<u8>) {
    let mut pair = [0u8; 2];
    out.reserve(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        hex::encode_to_slice([b], &mut pair).expect("a byte is two hex digits");
        out.extend_from_slice(&pair);
    }
}

/// The time column of human format, or `None` with `--timestamps none`.
fn render_time(at: SystemTime, view: &View) -> Option<String> {
    match view.timestamps {
        Timestamps::None => None,
        Timestamps::Elapsed => {
            let d = at.duration_since(view.start).unwrap_or_default();
            Some(format!("+{}.{:03}", d.as_secs(), d.subsec_millis()))
        }
        Timestamps::Utc | Timestamps::Local => {
            Some(zoned(at, view).format("%H:%M:%S%.3f").to_string())
        }
    }
}

/// `at` in the zone `--timestamps` asks for: UTC, or the local offset read at start-up
/// (`elapsed` and `none` use local time where a wall clock is still wanted, as jsonl's `ts`).
fn zoned(at: SystemTime, view: &View) -> chrono::DateTime<chrono::FixedOffset> {
    use chrono::{DateTime, FixedOffset, Utc};
    let utc: DateTime<Utc> = at.into();
    let offset = match view.timestamps {
        Timestamps::Utc => 0,
        _ => view.utc_offset,
    };
    let zone = FixedOffset::east_opt(offset).unwrap_or(FixedOffset::east_opt(0).expect("UTC"));
    utc.with_timezone(&zone)
}

/// The local zone's current offset from UTC in seconds.
pub fn local_utc_offset() -> i32 {
    use chrono::{Local, Offset};
    Local::now().offset().fix().local_minus_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Dir, Event, Kind};

    #[test]
    fn a_slow_stdout_gets_every_byte_in_order() {
        let (out, kept) = Stdout::cramped(1000, true);
        let settings = Settings {
            format: Format::Raw,
            view: View {
                timestamps: Timestamps::None,
                show_ping_pong: false,
                pretty: false,
                wire_sizes: false,
                start: SystemTime::UNIX_EPOCH,
                utc_offset: 0,
            },
            binary_output: BinaryOutput::Raw,
            tty: false,
            stream: true,
            relay: false,
            color: false,
        };
        let mut printer = Printer::new(settings, Sink::Stdout(out));
        let mut expected = Vec::new();
        for n in 0..200u32 {
            let payload: Vec<u8> = (0..700u32).map(|i| (n * 7 + i) as u8).collect();
            expected.extend_from_slice(&payload);
            let ev = Event {
                at: SystemTime::UNIX_EPOCH,
                client: None,
                dir: Dir::In,
                kind: Kind::Binary(payload.into()),
                wire: None,
                replayed: false,
            };
            printer.event(&ev).unwrap();
            // A few events a turn, some while stdout is still full; one flush a turn.
            if n % 3 == 2 {
                printer.flush().unwrap();
            }
            if n % 9 == 8 {
                while printer.blocked() {
                    assert!(printer.unwritten() > 0);
                    printer.flush().unwrap();
                }
            }
        }
        for _ in 0..10 {
            printer.flush().unwrap();
        }
        assert_eq!(printer.unwritten(), 0);
        assert!(!printer.blocked());
        assert_eq!(*kept.lock().unwrap(), expected);
    }
}
