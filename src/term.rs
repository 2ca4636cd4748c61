//! The terminal: facts read once at start-up, colors, saving and restoring its mode, and the
//! escaping of remote text bound for it.
//!
//! Nothing else in wsx asks whether a stream is a terminal or reads `NO_COLOR`: decisions are
//! made here and passed on as plain values, so the formatters stay testable. The terminal's
//! platform differences (termios on Unix, console modes on Windows) live here too.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

/// What the process was started with: which standard streams are terminals, and the
/// environment variables that change output.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub stdin_tty: bool,
    pub stdout_tty: bool,
    /// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
    pub no_color_env: bool,
    /// `TERM=dumb`: a terminal that understands no escape sequences.
    pub dumb: bool,
    /// `CLICOLOR_FORCE` is set to something other than `0`: colour even into a pipe.
    pub force_color: bool,
}

impl Facts {
    /// Reads the facts from the real process.
    pub fn read() -> Facts {
        Facts {
            stdin_tty: std::io::stdin().is_terminal(),
            stdout_tty: std::io::stdout().is_terminal(),
            no_color_env: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            dumb: std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
            force_color: std::env::var_os("CLICOLOR_FORCE")
                .is_some_and(|v| !v.is_empty() && v != "0"),
        }
    }

    /// Whether output gets colors: never with `--no-color` or `NO_COLOR`; otherwise with
    /// `CLICOLOR_FORCE`, or on a terminal that is not `TERM=dumb`.
    pub fn color(&self, no_color_flag: bool) -> bool {
        !no_color_flag
            && !self.no_color_env
            && (self.force_color || (!self.dumb && self.stdout_tty))
    }
}

/// Makes `colored` follow our decision instead of guessing from its own environment checks.
/// On Windows, colors and the REPL's line clearing need the console's virtual terminal mode:
/// it is turned on whenever stdout is a console.
pub fn apply_color(enabled: bool) {
    // Fails harmlessly when stdout is not a console; a console too old for the mode shows
    // escape codes, and nothing better can be done there.
    #[cfg(windows)]
    let _ = colored::control::set_virtual_terminal(true);
    colored::control::set_override(enabled);
}

/// A standard output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Std {
    Out,
    Err,
}

/// Whether writing to a stream can block, as far as its kind tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// A terminal, a regular file: a write completes at once.
    Never,
    /// `/dev/null`: a write completes at once and nothing is kept, so nothing need be
    /// written at all (on Unix; on Windows `NUL` counts as `Other`).
    #[cfg(unix)]
    Null,
    /// A pipe, which blocks while full (on Windows, pipes count as `Other`).
    #[cfg(unix)]
    Pipe,
    /// Anything else (a socket, or on Windows a pipe or a file).
    Other,
}

/// What `stream` is, as far as blocking goes.
#[cfg(unix)]
pub fn blocking(stream: Std) -> Blocking {
    use rustix::fs::FileType;
    let stat = match stream {
        Std::Out => rustix::fs::fstat(rustix::stdio::stdout()),
        Std::Err => rustix::fs::fstat(rustix::stdio::stderr()),
    };
    let Ok(stat) = stat else {
        return Blocking::Never;
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Fifo => Blocking::Pipe,
        FileType::Socket => Blocking::Other,
        FileType::CharacterDevice
            if rustix::fs::stat("/dev/null").is_ok_and(|null| {
                FileType::from_raw_mode(null.st_mode) == FileType::CharacterDevice
                    && null.st_rdev == stat.st_rdev
            }) =>
        {
            Blocking::Null
        }
        _ => Blocking::Never,
    }
}

/// What `stream` is, as far as blocking goes.
#[cfg(windows)]
pub fn blocking(stream: Std) -> Blocking {
    let terminal = match stream {
        Std::Out => std::io::stdout().is_terminal(),
        Std::Err => std::io::stderr().is_terminal(),
    };
    if terminal {
        Blocking::Never
    } else {
        Blocking::Other
    }
}

/// Restores the terminal mode saved at start-up when dropped, whichever way wsx ends: the run
/// can end (the peer closed) while the line editor holds the terminal raw (rustyline#780).
pub struct TerminalGuard {
    saved: Option<sys::Mode>,
}

impl TerminalGuard {
    /// Saves the current mode of the terminal on stdin.
    pub fn save() -> TerminalGuard {
        TerminalGuard { saved: sys::save() }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            sys::restore(saved);
            // The prompt may still stand on the last line: clear it.
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\r\x1b[K");
            let _ = out.flush();
        }
    }
}

#[cfg(unix)]
mod sys {
    use rustix::termios::{tcgetattr, tcsetattr, OptionalActions, Termios};

    pub type Mode = Termios;

    pub fn save() -> Option<Mode> {
        tcgetattr(std::io::stdin()).ok()
    }

    pub fn restore(mode: &Mode) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, mode);
    }
}

#[cfg(windows)]
mod sys {
    use windows_sys::Win32::System::Console::{
        GetConsoleMode, GetStdHandle, SetConsoleMode, CONSOLE_MODE, STD_INPUT_HANDLE,
    };

    pub type Mode = CONSOLE_MODE;

    pub fn save() -> Option<Mode> {
        let mut mode = 0;
        // SAFETY: GetStdHandle has no preconditions; GetConsoleMode writes one u32 and fails
        // cleanly (returns 0) on a handle that is not a console.
        let ok = unsafe { GetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), &mut mode) };
        (ok != 0).then_some(mode)
    }

    pub fn restore(mode: &Mode) {
        // SAFETY: as above; SetConsoleMode only reads its arguments.
        unsafe {
            SetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), *mode);
        }
    }
}

/// Escapes what a remote peer could use to drive a terminal: C0 and C1 control characters, DEL,
/// and the Unicode bidirectional overrides. Printable text, including non-ASCII, is unchanged.
///
/// `\n`, `\r` and `\t` become their usual backslash forms; others become `\xHH` or `\u{HHHH}`.
/// A backslash itself is left alone: the output is for reading, not for parsing back.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("héllo wörld ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("a\x1b[31mred\x07"), "a\\x1b[31mred\\x07");
        assert_eq!(escape("line\r\nnext\tx\x7f"), "line\\r\\nnext\\tx\\x7f");
        assert_eq!(escape("\u{9b}2J"), "\\x9b2J");
        assert_eq!(escape("abc\u{202e}cba"), "abc\\u{202e}cba");
    }

    #[test]
    fn color_decision() {
        let tty = Facts {
            stdin_tty: true,
            stdout_tty: true,
            no_color_env: false,
            dumb: false,
            force_color: false,
        };
        assert!(tty.color(false));
        assert!(!tty.color(true));
        assert!(!Facts {
            no_color_env: true,
            ..tty
        }
        .color(false));
        assert!(!Facts { dumb: true, ..tty }.color(false));
        assert!(!Facts {
            stdout_tty: false,
            ..tty
        }
        .color(false));
        // CLICOLOR_FORCE colours a pipe; NO_COLOR and --no-color still win.
        let forced = Facts {
            stdout_tty: false,
            force_color: true,
            ..tty
        };
        assert!(forced.color(false));
        assert!(!forced.color(true));
        assert!(!Facts {
            no_color_env: true,
            ..forced
        }
        .color(false));
    }
}
