//! The REPL: rustyline line editing and history on a thread of its own; frames arriving while
//! the user types go through rustyline's external printer, above the prompt.
//!
//! Ctrl-D, or Ctrl-C on an empty line, closes gracefully. The terminal mode is saved before
//! the editor first runs and restored by [`crate::term::TerminalGuard`] whichever way wsx
//! ends.
//!
//! A message typed and sent is shown like every other event: once Enter is pressed, the typed
//! line is replaced by the `>` event the engine prints for it, so the session log shows when
//! each message went out, and no line appears twice.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::thread;

use anyhow::{Context, Result};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{
    Cmd, ConditionalEventHandler, Config, Editor, Event, EventContext, EventHandler, KeyCode,
    KeyEvent, Modifiers, Movement, RepeatCount,
};

use unicode_width::UnicodeWidthStr;

use super::{Batch, Input};
use crate::command::{self, Command, LineMode};
use crate::engine::Waker;

const PROMPT: &str = "> ";

/// The line editor, before its thread starts.
pub struct Repl {
    editor: Editor<(), FileHistory>,
    history: Option<PathBuf>,
    mode: LineMode,
    /// Sent messages are shown as events (human and jsonl output): erase the typed line.
    replace_sent: bool,
}

/// Ctrl-C clears a non-empty line (as shells do) and interrupts on an empty one.
struct CtrlC;

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            None
        } else {
            Some(Cmd::Kill(Movement::WholeLine))
        }
    }
}

impl Repl {
    /// Sets up the editor and loads the history file, if any.
    ///
    /// # Errors
    /// The terminal could not be set up.
    pub fn new(history: Option<PathBuf>, mode: LineMode, replace_sent: bool) -> Result<Repl> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(10_000)
            .context("configuring the line editor")?
            .build();
        let mut editor: Editor<(), FileHistory> =
            Editor::with_config(config).context("setting up the terminal")?;
        editor.bind_sequence(
            KeyEvent::ctrl('C'),
            EventHandler::Conditional(Box::new(CtrlC)),
        );
        // Alt+Enter starts a new line in the same message; Enter sends it whole.
        editor.bind_sequence(
            KeyEvent(KeyCode::Enter, Modifiers::ALT),
            EventHandler::Simple(Cmd::Newline),
        );
        if let Some(path) = &history {
            // A missing file is a first run; an unreadable one only costs the old entries.
            let _ = editor.load_history(path);
        }
        Ok(Repl {
            editor,
            history,
            mode: LineMode {
                slash: true,
                ..mode
            },
            replace_sent,
        })
    }

    /// Creates the printer through which the engine writes while the prompt is shown.
    ///
    /// # Errors
    /// The terminal does not support it (rustyline refuses on a non-terminal).
    pub fn with_printer(mut self) -> Result<(Repl, Box<dyn rustyline::ExternalPrinter + Send>)> {
        let printer = self
            .editor
            .create_external_printer()
            .context("setting up the terminal")?;
        Ok((self, Box::new(printer)))
    }

    /// Starts reading lines on a thread of its own.
    pub fn spawn(self, tx: SyncSender<Batch>, waker: Waker) {
        thread::Builder::new()
            .name("repl".into())
            .spawn(move || self.run(&tx, &waker))
            .expect("spawning the REPL thread");
    }

    fn run(mut self, tx: &SyncSender<Batch>, waker: &Waker) {
        let send = |cmd: Command| {
            let sent = tx.send(vec![Input::Command(cmd)]).is_ok();
            waker.wake();
            sent
        };
        loop {
            let line = match self.editor.readline(PROMPT) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => {
                    send(Command::Quit);
                    return;
                }
                Err(e) => {
                    crate::diag::say(&format!("wsx: reading the terminal: {e}"));
                    send(Command::Quit);
                    return;
                }
            };
            if line.is_empty() {
                continue;
            }
            self.remember(&line);
            match command::parse(line.as_bytes(), self.mode) {
                Ok(Command::Help) => {
                    let _ = writeln!(std::io::stdout(), "{}", command::help(self.mode.server));
                }
                Ok(cmd) => {
                    if self.replace_sent && matches!(cmd, Command::Text(_) | Command::Binary(_)) {
                        self.erase_typed(&line);
                    }
                    let ends = matches!(cmd, Command::Quit | Command::Close { .. });
                    if !send(cmd) || ends {
                        return;
                    }
                }
                Err(reason) => crate::diag::say(&format!("wsx: {reason}")),
            }
        }
    }

    /// Erases the line just typed (the prompt and the text, over as many rows as they took),
    /// so that the event the engine prints for it takes its place.
    fn erase_typed(&mut self, line: &str) {
        let Some((cols, _)) = self.editor.dimensions() else {
            return;
        };
        // A message typed over several lines (Alt+Enter) takes rows for each; only the first
        // has the prompt.
        let cols = usize::from(cols.max(1));
        let rows: usize = line
            .split('\n')
            .enumerate()
            .map(|(i, part)| {
                let prompt = if i == 0 { PROMPT.len() } else { 0 };
                (prompt + UnicodeWidthStr::width(part))
                    .div_ceil(cols)
                    .max(1)
            })
            .sum();
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\x1b[{rows}A\r\x1b[J");
        let _ = out.flush();
    }

    /// Adds a line to the history and appends it to the file at once, so that no exit path
    /// loses it.
    fn remember(&mut self, line: &str) {
        let _ = self.editor.add_history_entry(line);
        if let Some(path) = &self.history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = self.editor.append_history(path);
        }
    }
}
