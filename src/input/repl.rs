//! The REPL: rustyline line editing and history on a thread of its own; frames arriving while
//! the user types go through rustyline's external printer, above the prompt.
//!
//! Ctrl-D, or Ctrl-C on an empty line, closes gracefully. The terminal mode is saved before
//! the editor first runs and restored by [`TerminalGuard`] whichever way wsx ends, because
//! the session can end (the peer closed) while rustyline holds the terminal raw
//! (rustyline#780).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::thread;

use anyhow::{Context, Result};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{
    Cmd, ConditionalEventHandler, Config, Editor, Event, EventContext, EventHandler, KeyEvent,
    Movement, RepeatCount,
};

use super::{Batch, Input};
use crate::command::{self, Command, LineMode};
use crate::engine::Waker;

const PROMPT: &str = "> ";

/// The line editor, before its thread starts.
pub struct Repl {
    editor: Editor<(), FileHistory>,
    history: Option<PathBuf>,
    mode: LineMode,
}

/// Restores the terminal mode saved at start-up when dropped.
pub struct TerminalGuard {
    saved: Option<rustix::termios::Termios>,
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
            // The prompt may still stand on the last line: clear it.
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\r\x1b[K");
            let _ = out.flush();
        }
    }
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
    pub fn new(history: Option<PathBuf>, mode: LineMode) -> Result<Repl> {
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
        })
    }

    /// Saves the current terminal mode, to be restored when the guard drops.
    pub fn guard(&self) -> TerminalGuard {
        TerminalGuard {
            saved: rustix::termios::tcgetattr(std::io::stdin()).ok(),
        }
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
            let sent = tx.send(vec![Input::Command { cmd, typed: true }]).is_ok();
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
                    eprintln!("wsx: reading the terminal: {e}");
                    send(Command::Quit);
                    return;
                }
            };
            if line.is_empty() {
                continue;
            }
            self.remember(&line);
            match command::parse(line.as_bytes(), self.mode) {
                Ok(Command::Help) => println!("{}", command::help(self.mode.server)),
                Ok(cmd) => {
                    let ends = matches!(cmd, Command::Quit | Command::Close { .. });
                    if !send(cmd) || ends {
                        return;
                    }
                }
                Err(reason) => eprintln!("wsx: {reason}"),
            }
        }
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
