//! Operator input: producers that each own one blocking reader (the REPL or piped stdin) and
//! hand [`Input`] batches to the engine, waking it once per batch.
//!
//! The engine never waits on stdin; producers never touch a socket.

pub mod lines;
pub mod repl;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::command::Command;
use crate::engine::Waker;

/// How many batches may wait for the engine before a producer blocks. Together with the
/// batch size this bounds the memory held for a peer that reads slowly.
pub const CHANNEL_BOUND: usize = 16;

/// One thing from the operator, in the order it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Something to send or do; `typed` when it was typed at the REPL (already on screen).
    Command { cmd: Command, typed: bool },
    /// A line that cannot be sent, with the reason (reported, counted, never silently lost).
    Rejected(String),
    /// Piped stdin reached its end.
    Eof,
}

/// Lines read together, sent to the engine with one wakeup.
pub type Batch = Vec<Input>;

/// Counts SIGINT and SIGTERM and wakes the engine on each; the engine decides what a count
/// means (the first closes gracefully, the next one while closing exits 130).
///
/// # Errors
/// The handler could not be installed.
pub fn on_interrupt(waker: Waker) -> Result<Arc<AtomicUsize>> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    ctrlc::set_handler(move || {
        seen.fetch_add(1, Ordering::SeqCst);
        waker.wake();
    })
    .context("installing the Ctrl-C handler")?;
    Ok(count)
}
