//! What is generated from the clap definition: `wsx completions <shell>` (a shell's completion
//! script) and `wsx man [COMMAND]` (the manual pages).
//!
//! Both are committed (under `completions/` and `man/`); `tests/it/completions.rs` fails when
//! they drift from the CLI.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn generate(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "wsx", out);
}

/// Writes the manual page of `wsx`, or of `wsx COMMAND` (`wsx-COMMAND(1)`, as git names
/// them), to `out`.
///
/// # Errors
/// `command` is not one of wsx's commands, or writing failed.
pub fn man(command: Option<&str>, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match command {
        None => cmd,
        Some(name) => {
            let sub = cmd
                .find_subcommand(name)
                .ok_or_else(|| anyhow::anyhow!("no such command: {name}"))?
                .clone();
            // `wsx-connect`, as its page is named, with the binary's version.
            let version = cmd.get_version().unwrap_or_default().to_string();
            sub.name(format!("wsx-{name}")).version(version)
        }
    };
    clap_mangen::Man::new(page).render(out)?;
    Ok(())
}
