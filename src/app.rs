//! Wiring: resolve the command line, then hand over to the client, the server, the
//! completions or the manual. Owns no logic of its own.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::Cli;
use crate::settings::{self, Settings};
use crate::{client, completions, output, server, term};

/// Runs the command and returns its exit status.
///
/// # Errors
/// Whatever the command failed with; `main` prints it and picks the status.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let facts = term::Facts::read();
    // The zone offset is read here, before any thread exists.
    let settings = settings::resolve(cli, &facts, output::local_utc_offset());
    match settings {
        Settings::Completions(shell) => {
            let mut out = std::io::stdout().lock();
            completions::generate(shell, &mut out);
            out.flush().context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Settings::Man(command) => {
            let mut out = std::io::stdout().lock();
            completions::man(command.as_deref(), &mut out)?;
            out.flush().context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Settings::Connect(s) => {
            term::apply_color(s.console.output.color);
            client::run(*s)
        }
        Settings::Listen(s) => {
            term::apply_color(s.console.output.color);
            server::run(*s)
        }
    }
}
