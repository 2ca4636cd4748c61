//! `--exec CMD`: one program per client, run with `sh -c`. Each text frame from the client is
//! a line on the program's stdin; each line of its stdout is a text frame back; its stderr goes
//! to wsx's stderr tagged with the client id.
//!
//! The engine never blocks on a program: a thread writes its stdin (through a bounded queue) and
//! a thread reads each of its outputs. When the program ends, its client is closed; when the
//! client goes, the program is killed. Either way it is reaped: no zombies.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Sender, SyncSender, TrySendError};
use std::thread;

use crate::engine::Waker;

/// How many lines may wait for a program that is slow to read its stdin.
const STDIN_QUEUE: usize = 1024;

/// What a program did, reported to the engine.
#[derive(Debug, PartialEq, Eq)]
pub enum ProgramEvent {
    /// A line of its stdout, for client `id`.
    Line(u64, String),
    /// Its stdout closed: it ended (or will not write again).
    Ended(u64),
}

/// A running program for one client.
pub struct Program {
    child: Child,
    stdin: Option<SyncSender<Vec<u8>>>,
}

/// Why a line could not be handed to the program.
pub enum Refused {
    /// Its stdin queue is full: it does not keep up.
    Slow,
    /// It no longer reads its stdin.
    Gone,
}

impl Program {
    /// Starts `sh -c cmd` for client `id`. `WSX_CLIENT_ID` and `WSX_PEER` are set for it.
    ///
    /// # Errors
    /// The shell could not be started.
    pub fn spawn(
        cmd: &str,
        id: u64,
        peer: &str,
        events: Sender<ProgramEvent>,
        waker: Waker,
    ) -> std::io::Result<Program> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("WSX_CLIENT_ID", id.to_string())
            .env("WSX_PEER", peer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(STDIN_QUEUE);
        thread::Builder::new()
            .name(format!("exec-{id}-in"))
            .spawn(move || {
                for line in rx {
                    if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
                        return; // the program closed its stdin
                    }
                }
                // Dropping stdin here closes the program's input.
            })?;
        thread::Builder::new()
            .name(format!("exec-{id}-out"))
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = line.strip_suffix(b"\n").unwrap_or(&line);
                            let text = text.strip_suffix(b"\r").unwrap_or(text);
                            let text = String::from_utf8_lossy(text).into_owned();
                            if events.send(ProgramEvent::Line(id, text)).is_err() {
                                return;
                            }
                            waker.wake();
                        }
                    }
                }
                let _ = events.send(ProgramEvent::Ended(id));
                waker.wake();
            })?;
        thread::Builder::new()
            .name(format!("exec-{id}-err"))
            .spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    let text = String::from_utf8_lossy(&line);
                    eprintln!(
                        "#{id} {}",
                        crate::term::escape(text.trim_end_matches(['\n', '\r']))
                    );
                    line.clear();
                }
            })?;
        Ok(Program {
            child,
            stdin: Some(tx),
        })
    }

    /// Queues one line for the program's stdin (a newline is added). Never blocks.
    ///
    /// # Errors
    /// The program is not keeping up, or no longer reads.
    pub fn send_line(&self, text: &[u8]) -> Result<(), Refused> {
        let Some(stdin) = &self.stdin else {
            return Err(Refused::Gone);
        };
        let mut line = Vec::with_capacity(text.len() + 1);
        line.extend_from_slice(text);
        line.push(b'\n');
        stdin.try_send(line).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Slow,
            TrySendError::Disconnected(_) => Refused::Gone,
        })
    }

    /// Ends the program: closes its stdin, kills it if it still runs, and reaps it.
    pub fn stop(mut self) {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
