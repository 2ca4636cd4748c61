//! `wsx completions <shell>`: the completion script for a shell, from the clap definition.
//!
//! The generated scripts are committed under `completions/`; `tests/completions.rs` fails
//! when they drift from the CLI.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn generate(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "wsx", out);
}
