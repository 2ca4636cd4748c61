//! The command line resolved into validated settings: the only reader of [`Cli`].
//!
//! Terminal facts come in as values, so every decision here is testable.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use url::Url;

use crate::cli::{Action, Cli, ConnectArgs, Format, Wait};
use crate::command::LineMode;
use crate::output::{OutputSettings, View};
use crate::term::Facts;

/// What to do, with everything resolved.
pub enum Settings {
    Connect(Box<ConnectSettings>),
    Completions(clap_complete::Shell),
}

/// `wsx connect`, resolved.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub url: Url,
    /// How lines become frames (slash commands on in the REPL, or with `--slash`).
    pub line_mode: LineMode,
    /// Empty lines typed at a terminal send nothing; in a pipe they are empty frames.
    pub skip_empty_lines: bool,
    pub execute: Vec<String>,
    pub wait: Wait,
    pub close_timeout: Duration,
    /// The REPL's history file, unless `--no-history` or no data directory is known.
    pub history: Option<PathBuf>,
    /// stdin and stdout are both terminals: run the line editor.
    pub repl: bool,
    pub count: Option<u64>,
    pub max_message_size: usize,
    pub connect_timeout: Option<Duration>,
    pub output: OutputSettings,
    pub quiet: bool,
    pub verbose: bool,
}

/// Resolves the command line against the terminal facts.
pub fn resolve(cli: Cli, facts: &Facts, utc_offset: i32) -> Settings {
    match cli.action {
        Action::Connect(args) => Settings::Connect(Box::new(connect(args, facts, utc_offset))),
        Action::Completions { shell } => Settings::Completions(shell),
    }
}

fn connect(args: ConnectArgs, facts: &Facts, utc_offset: i32) -> ConnectSettings {
    let ConnectArgs {
        url,
        input,
        output,
        net,
    } = args;
    // rustyline only when both ends are terminals: on piped input it keeps the newline
    // (rustyline#532), and it would write its prompt into a piped stdout.
    let repl = facts.stdin_tty && facts.stdout_tty;
    let format = output.format.unwrap_or(if facts.stdout_tty {
        Format::Human
    } else {
        Format::Raw
    });
    let history = (!input.no_history)
        .then(dirs::data_dir)
        .flatten()
        .map(|dir| dir.join("wsx").join("history"));
    ConnectSettings {
        url,
        line_mode: LineMode {
            slash: input.slash || facts.stdin_tty,
            binary: input.binary,
        },
        skip_empty_lines: facts.stdin_tty,
        execute: input.execute,
        wait: input.wait,
        close_timeout: input.close_timeout,
        history,
        repl,
        count: net.count,
        max_message_size: net.max_message_size,
        connect_timeout: net.connect_timeout,
        output: OutputSettings {
            format,
            view: View {
                timestamps: output.timestamps,
                show_ping_pong: output.show_ping_pong,
                start: SystemTime::now(),
                utc_offset,
            },
            binary_output: output.binary_output,
            tty: facts.stdout_tty,
            color: facts.color(output.no_color),
        },
        quiet: output.quiet,
        verbose: output.verbose,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve_connect(args: &[&str], facts: Facts) -> ConnectSettings {
        let cli = Cli::try_parse_from(args).unwrap();
        match resolve(cli, &facts, 0) {
            Settings::Connect(s) => *s,
            Settings::Completions(_) => panic!("expected connect"),
        }
    }

    const PIPE: Facts = Facts {
        stdin_tty: false,
        stdout_tty: false,
        no_color_env: false,
        dumb: false,
    };
    const TTY: Facts = Facts {
        stdin_tty: true,
        stdout_tty: true,
        no_color_env: false,
        dumb: false,
    };

    #[test]
    fn pipes_get_raw_output_and_no_repl() {
        let s = resolve_connect(&["wsx", "connect", "ws://h/"], PIPE);
        assert_eq!(s.output.format, Format::Raw);
        assert!(!s.repl && !s.line_mode.slash && !s.skip_empty_lines);
        assert_eq!(s.wait, Wait::After(Duration::from_secs(1)));
        assert_eq!(s.close_timeout, Duration::from_secs(2));
        assert_eq!(s.max_message_size, 64 << 20);
    }

    #[test]
    fn terminals_get_human_output_and_the_repl() {
        let s = resolve_connect(&["wsx", "connect", "ws://h/"], TTY);
        assert_eq!(s.output.format, Format::Human);
        assert!(s.repl && s.line_mode.slash && s.skip_empty_lines);
        let s = resolve_connect(&["wsx", "connect", "ws://h/", "--format", "jsonl"], TTY);
        assert_eq!(s.output.format, Format::Jsonl);
    }

    #[test]
    fn negative_wait_and_no_history() {
        let s = resolve_connect(
            &["wsx", "connect", "ws://h/", "-w", "-1", "--no-history"],
            PIPE,
        );
        assert_eq!(s.wait, Wait::Forever);
        assert!(s.history.is_none());
    }
}
