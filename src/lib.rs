//! wsx: a terminal tool for WebSocket (RFC 6455).
//!
//! The binary (`src/main.rs`) calls [`main`], which parses the command line, hands it to
//! `app::run` and turns the outcome into an exit status. Everything lives in this library so
//! that the fuzz targets under `fuzz/` can reach the parsers, through [`fuzz`] alone.

mod app;
mod cli;
mod client;
mod command;
mod completions;
mod console;
mod deflate;
mod diag;
mod engine;
mod error;
mod event;
pub mod fuzz;
mod output;
mod pings;
mod record;
mod replay;
mod server;
mod settings;
mod stream;
mod target;
mod term;
mod tls;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// How long wsx waits at exit for diagnostics that stderr has not taken yet.
const STDERR_AT_EXIT: Duration = Duration::from_secs(2);

/// The whole program: what `wsx` does with its command line, as an exit status.
#[must_use]
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let code = match app::run(cli) {
        Ok(code) => code,
        // A closed stdout (`wsx connect ... | head -1`) is the reader's choice, not our
        // failure: exit quietly and successfully, as ripgrep and bat do.
        Err(err) if error::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            diag::last(&format!("wsx: {err:#}"));
            ExitCode::from(error::exit_code(&err))
        }
    };
    diag::flush(STDERR_AT_EXIT);
    code
}
