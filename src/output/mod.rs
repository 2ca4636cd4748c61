//! The printer: picks the formatter for `--format`, owns buffered stdout (or the REPL's
//! external printer), and decides when to flush.
//!
//! Formatters are pure functions of an [`Event`] and a [`View`]; only this module writes.

mod human;
mod jsonl;
mod raw;

use std::io::{self, Write};
use std::time::SystemTime;

use crate::cli::{BinaryOutput, Format, Timestamps};
use crate::event::Event;
use crate::term::TerminalGuard;

/// How events are rendered, resolved once from the command line and the terminal.
#[derive(Debug, Clone)]
pub struct View {
    pub timestamps: Timestamps,
    pub show_ping_pong: bool,
    /// When wsx started, for `--timestamps elapsed`.
    pub start: SystemTime,
    /// The local zone's offset from UTC in seconds, read once before any thread starts.
    pub utc_offset: i32,
}

/// Everything the printer needs to know, resolved by `settings.rs`.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    pub format: Format,
    pub view: View,
    pub binary_output: BinaryOutput,
    /// stdout is a terminal: escape raw output and flush after every event.
    pub tty: bool,
    /// Color human output (`--no-color`, `NO_COLOR`, `TERM=dumb` and pipes turn it off).
    pub color: bool,
}

/// Where rendered bytes go.
pub enum Sink {
    /// Buffered stdout, for pipes and for terminals without a REPL.
    Stdout(io::BufWriter<io::Stdout>),
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
    settings: OutputSettings,
    sink: Sink,
    /// Bytes rendered since the last flush.
    pending: Vec<u8>,
    scratch: String,
}

impl Printer {
    /// A printer writing to buffered stdout.
    pub fn stdout(settings: OutputSettings) -> Printer {
        Printer::new(
            settings,
            Sink::Stdout(io::BufWriter::with_capacity(64 * 1024, io::stdout())),
        )
    }

    pub fn new(settings: OutputSettings, sink: Sink) -> Printer {
        Printer {
            settings,
            sink,
            pending: Vec::with_capacity(64 * 1024),
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
        match self.settings.format {
            Format::Raw => raw::render(
                ev,
                self.settings.binary_output,
                self.settings.tty,
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
        if direct_tty || self.pending.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes a local message (the `/clients` list) where events go, as is.
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn notice(&mut self, text: &str) -> io::Result<()> {
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
            let stdout = Sink::Stdout(io::BufWriter::with_capacity(64 * 1024, io::stdout()));
            // Dropping the old sink drops its terminal guard.
            self.sink = stdout;
        }
    }

    /// Writes out everything rendered so far.
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(out) => {
                if !self.pending.is_empty() {
                    out.write_all(&self.pending)?;
                    self.pending.clear();
                }
                out.flush()
            }
            Sink::Repl { printer, .. } => {
                if self.pending.is_empty() {
                    return Ok(());
                }
                let text = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                printer.print(text).map_err(io::Error::other)
            }
        }
    }
}

/// The time column of human format, or `None` with `--timestamps none`.
fn render_time(at: SystemTime, view: &View) -> Option<String> {
    let since = |t: SystemTime| at.duration_since(t).unwrap_or_default();
    match view.timestamps {
        Timestamps::None => None,
        Timestamps::Elapsed => {
            let d = since(view.start);
            Some(format!("+{}.{:03}", d.as_secs(), d.subsec_millis()))
        }
        Timestamps::Utc | Timestamps::Local => {
            let d = since(SystemTime::UNIX_EPOCH);
            let offset = if view.timestamps == Timestamps::Local {
                i64::from(view.utc_offset)
            } else {
                0
            };
            let secs = (d.as_secs() as i64 + offset).rem_euclid(86_400);
            Some(format!(
                "{:02}:{:02}:{:02}.{:03}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                d.subsec_millis()
            ))
        }
    }
}

/// The local zone's current offset from UTC in seconds.
pub fn local_utc_offset() -> i32 {
    use chrono::{Local, Offset};
    Local::now().offset().fix().local_minus_utc()
}
