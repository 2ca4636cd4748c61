//! wsx: a terminal tool for WebSocket (RFC 6455).
//!
//! `main` parses the command line, hands it to [`app::run`] and turns the outcome into an exit
//! status. It holds no logic of its own.

mod app;
mod cli;
mod client;
mod command;
mod completions;
mod console;
mod cookies;
mod deflate;
mod engine;
mod error;
mod event;

mod output;
mod proxy;
mod server;
mod settings;
mod socks;
mod target;
mod term;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (`wsx connect ... | head -1`) is the reader's choice, not our
            // failure: exit quietly and successfully, as ripgrep and bat do.
            if error::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            term::say(&format!("wsx: {err:#}"));
            ExitCode::from(error::exit_code(&err))
        }
    }
}
