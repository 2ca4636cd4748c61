//! The operator's console, the same for `wsx connect` and `wsx listen`: where input comes from
//! (the REPL, or piped stdin read by the engine or by a thread), where events go (the
//! printer), interrupts, diagnostics, and how the run ends.
//!
//! Every platform difference about stdin lives here (in [`stdin`]) and every one about the
//! terminal in [`crate::term`]; the client's session and the server keep only their protocol
//! rules.

pub mod lines;
pub mod repl;
mod stdin;

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use crate::command::Command;
use crate::engine::{Handler, Incoming, Net, Waker};
use crate::error::Failure;
use crate::event::{Dir, Event, Kind};
use crate::output::Format;
use crate::output::{Printer, Sink};
use crate::record::Recorder;
use lines::{Splitter, READ_SIZE};
use repl::Repl;

/// How many batches may wait for the engine before a producer blocks. Together with the
/// batch size this bounds the memory held for a peer that reads slowly.
const CHANNEL_BOUND: usize = 16;

/// The engine key under which a full stdout is watched for writability.
const STDOUT: usize = usize::MAX - 2;

/// One thing from the operator, in the order it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Something to send or do.
    Command(Command),
    /// A line that cannot be sent, with the reason (reported, counted, never silently lost).
    Rejected(String),
    /// Piped stdin reached its end.
    Eof,
}

/// Lines read together, sent to the engine with one wakeup.
pub type Batch = Vec<Input>;

/// The operator's side, the same for both roles: how input is read and output shown
/// (resolved by `settings.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How lines become frames (slash commands on in the REPL, or with `--slash`).
    pub line_mode: crate::command::LineMode,
    /// Empty lines typed at a terminal send nothing; in a pipe they are empty frames.
    pub skip_empty_lines: bool,
    /// `--stream`: stdin is bytes, not lines (each read is one binary frame).
    pub stream: bool,
    /// The REPL's history file, unless `--no-history` or no data directory is known.
    pub history: Option<PathBuf>,
    /// stdin and stdout are both terminals: run the line editor.
    pub repl: bool,
    pub close_timeout: Duration,
    pub output: crate::output::Settings,
    pub quiet: bool,
    pub verbose: bool,
    /// `--record FILE`.
    pub record: Option<crate::record::Settings>,
    /// `--replay FILE`.
    pub replay: Option<crate::replay::Settings>,
}

#[cfg(test)]
impl Settings {
    /// A pipe's settings, with output in `format` and no timestamps.
    pub fn for_test(format: Format, server: bool) -> Settings {
        use crate::output::{BinaryOutput, Timestamps, View};
        Settings {
            line_mode: crate::command::LineMode {
                slash: true,
                binary: false,
                server,
            },
            skip_empty_lines: false,
            stream: false,
            history: None,
            repl: false,
            close_timeout: Duration::from_secs(2),
            output: crate::output::Settings {
                format,
                view: View {
                    timestamps: Timestamps::None,
                    show_ping_pong: false,
                    pretty: false,
                    wire_sizes: false,
                    start: SystemTime::now(),
                    utc_offset: 0,
                },
                binary_output: BinaryOutput::Raw,
                tty: false,
                stream: false,
                relay: false,
                color: false,
            },
            quiet: false,
            verbose: false,
            record: None,
            replay: None,
        }
    }
}

/// The reader that [`Console::start`] sets going.
enum Reader {
    Repl(Box<Repl>),
    Lines(Splitter),
}

/// Piped stdin that the engine reads itself when it is readable: no thread hand-off.
struct Direct {
    key: usize,
    splitter: Splitter,
    /// Reports are paused because the input cannot go out yet (backpressure).
    paused: bool,
    buf: Vec<u8>,
}

/// The operator's side of a run; see the module docs.
pub struct Console {
    printer: Printer,
    input: Receiver<Batch>,
    /// Input taken from the channel or from stdin and not yet handed out.
    queued: VecDeque<Input>,
    /// A `/file` being read on a thread (a FIFO or a slow mount may take any time): what it
    /// sends arrives here, and the input queued after it waits for it.
    loading: Option<Receiver<Input>>,
    direct: Option<Direct>,
    /// The reader, its channel and the engine's waker, until [`Console::start`].
    idle_reader: Option<(Reader, SyncSender<Batch>, Waker)>,
    /// Wakes the loop this console runs in.
    waker: Waker,
    interrupts: &'static AtomicUsize,
    interrupts_seen: usize,
    /// After Ctrl-C: when output that stdout will not take is dropped, so that wsx exits even
    /// if nobody reads it (`--close-timeout` after the first interrupt, at once on the next).
    give_up_at: Option<Instant>,
    close_timeout: Duration,
    repl: bool,
    quiet: bool,
    outcome: Option<Result<ExitCode>>,
    /// `--record`: every event shown is written there too.
    recorder: Option<Recorder>,
}

impl Console {
    /// Sets up the printer and the input side (the line editor, or piped stdin) without
    /// reading yet, and starts counting Ctrl-C (and Ctrl-Break, and SIGTERM).
    ///
    /// # Errors
    /// The terminal could not be set up, or the interrupt handler installed.
    pub fn new(s: &Settings, waker: Waker) -> Result<Console> {
        let (tx, input) = std::sync::mpsc::sync_channel(CHANNEL_BOUND);
        let (printer, reader) = if s.repl {
            let repl = Repl::new(
                s.history.clone(),
                s.line_mode,
                s.output.format != Format::Raw,
            )?;
            // The guard restores the mode saved before the editor ever ran, whichever way
            // the run ends: a peer can end it while the line editor holds the terminal raw.
            let guard = crate::term::TerminalGuard::save();
            let (repl, external) = repl.with_printer()?;
            let sink = Sink::Repl {
                printer: external,
                _terminal: guard,
            };
            (
                Printer::new(s.output.clone(), sink),
                Reader::Repl(Box::new(repl)),
            )
        } else {
            let splitter = if s.stream {
                Splitter::bytes()
            } else {
                Splitter::new(s.line_mode, s.skip_empty_lines, s.quiet)
            };
            let printer = Printer::stdout(s.output.clone(), &waker);
            (printer, Reader::Lines(splitter))
        };
        let idle_reader = Some((reader, tx, waker.clone()));
        Console::with(s, printer, input, idle_reader, waker)
    }

    fn with(
        s: &Settings,
        printer: Printer,
        input: Receiver<Batch>,
        idle_reader: Option<(Reader, SyncSender<Batch>, Waker)>,
        waker: Waker,
    ) -> Result<Console> {
        let interrupts = on_interrupt(waker.clone())?;
        Ok(Console {
            printer,
            input,
            queued: VecDeque::new(),
            loading: None,
            direct: None,
            idle_reader,
            waker,
            interrupts_seen: interrupts.load(Ordering::SeqCst),
            interrupts,
            give_up_at: None,
            close_timeout: s.close_timeout,
            repl: s.repl,
            quiet: s.quiet,
            outcome: None,
            recorder: None,
        })
    }

    /// A console for tests: what it prints is kept in memory, and its input is what is sent
    /// on the channel it returns (with a wakeup of `waker`); stdin is never read.
    #[cfg(test)]
    pub fn captured(
        s: &Settings,
        waker: Waker,
    ) -> (
        Console,
        std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
        SyncSender<Batch>,
    ) {
        let (tx, input) = std::sync::mpsc::sync_channel(CHANNEL_BOUND);
        let (stdout, printed) = crate::output::Stdout::memory();
        let printer = Printer::new(s.output.clone(), crate::output::Sink::Stdout(stdout));
        let console = Console::with(s, printer, input, None, waker).expect("the interrupt handler");
        (console, printed, tx)
    }

    /// Starts reading input. With `direct_key`, piped stdin that the engine can poll (a pipe
    /// or a socket on Unix) is watched under that key and read by [`Console::read_stdin`];
    /// any other stdin, and every stdin on Windows, is read on a thread.
    pub fn start(&mut self, net: &mut Net, direct_key: Option<usize>) {
        let Some((reader, tx, waker)) = self.idle_reader.take() else {
            return;
        };
        match reader {
            Reader::Repl(repl) => repl.spawn(tx, waker),
            Reader::Lines(splitter) => {
                let watched = direct_key.filter(|&key| {
                    stdin::pollable().is_some_and(|source| net.watch(source, key).is_ok())
                });
                match watched {
                    Some(key) => {
                        self.direct = Some(Direct {
                            key,
                            splitter,
                            paused: false,
                            buf: Vec::new(),
                        });
                    }
                    None => lines::spawn(splitter, tx, waker),
                }
            }
        }
    }

    /// Shows an event; a failed write to stdout ends the run with that error.
    pub fn show(&mut self, client: Option<u64>, dir: Dir, kind: Kind) {
        self.show_sized(client, dir, kind, None);
    }

    /// Shows a data message with its compressed size, when it went or came compressed.
    pub fn show_sized(&mut self, client: Option<u64>, dir: Dir, kind: Kind, wire: Option<usize>) {
        self.show_event(Event {
            at: SystemTime::now(),
            client,
            dir,
            kind,
            wire,
            replayed: false,
        });
    }

    /// Shows a message `--replay` sent, marked as such.
    pub fn show_replayed(&mut self, client: Option<u64>, kind: Kind, wire: Option<usize>) {
        self.show_event(Event {
            at: SystemTime::now(),
            client,
            dir: Dir::Out,
            kind,
            wire,
            replayed: true,
        });
    }

    /// Shows an event and records it (`--record`).
    fn show_event(&mut self, ev: Event) {
        // Recorded first: what is shown is in the file by then.
        self.record(&ev);
        if let Err(e) = self.printer.event(&ev) {
            self.finish(Err(anyhow::Error::new(e).context("writing to stdout")));
        }
    }

    /// Records an event without showing it (a bridged payload, which human format counts).
    pub fn record_only(&mut self, client: Option<u64>, dir: Dir, kind: Kind) {
        if self.recorder.is_some() {
            self.record(&Event {
                at: SystemTime::now(),
                client,
                dir,
                kind,
                wire: None,
                replayed: false,
            });
        }
    }

    fn record(&mut self, ev: &Event) {
        let Some(recorder) = self.recorder.as_mut() else {
            return;
        };
        if let Err(e) = recorder.event(ev) {
            // Recording stops with its first failure, which ends the run.
            self.recorder = None;
            self.finish(Err(e));
        }
    }

    /// Records what follows in `recorder` (`--record`).
    pub fn record_to(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// Completes the recording, if any, once the run is over: a failure to write it is the
    /// run's error, or reported beside the error the run already has.
    ///
    /// # Errors
    /// The run's, or writing the recording failed.
    pub fn end_recording(&mut self, outcome: Result<ExitCode>) -> Result<ExitCode> {
        let Some(mut recorder) = self.recorder.take() else {
            return outcome;
        };
        match (recorder.finish(), outcome) {
            (Ok(()), outcome) => outcome,
            (Err(e), Ok(_)) => Err(e),
            (Err(e), Err(first)) => {
                crate::diag::say(&format!("wsx: {e:#}"));
                Err(first)
            }
        }
    }

    /// A one-line diagnostic: above the prompt in the REPL, on stderr otherwise, nowhere
    /// with `-q`.
    pub fn notice(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        if self.repl {
            let _ = self.printer.notice(text);
        } else {
            crate::diag::say(text);
        }
    }

    /// Records how the run ends; the first ending wins. What is shown from here on is
    /// written directly, not above a prompt.
    pub fn finish(&mut self, outcome: Result<ExitCode>) {
        if self.outcome.is_none() {
            self.printer.leave_repl();
            self.outcome = Some(outcome);
        }
    }

    /// Whether [`Console::finish`] was called and its outcome not yet taken.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// The outcome, once every byte of output is written (for
    /// [`crate::engine::Handler::finished`]). Output that stdout does not take is dropped
    /// only after an interrupt (see `give_up_at`), and then the run ends as interrupted.
    pub fn take_outcome(&mut self) -> Option<Result<ExitCode>> {
        self.outcome.as_ref()?;
        if self.printer.unwritten() > 0 {
            if self.give_up_at.is_none_or(|t| Instant::now() < t) {
                return None;
            }
            let lost = self.printer.give_up();
            let why = format!("{lost} bytes of output were not written: stdout is not being read");
            return Some(Err(anyhow::Error::new(Failure::Interrupted).context(why)));
        }
        self.outcome.take()
    }

    /// Whether Ctrl-C or SIGTERM arrived since the last call.
    pub fn interrupted(&mut self) -> bool {
        let count = self.interrupts.load(Ordering::SeqCst);
        let new = count != self.interrupts_seen;
        self.interrupts_seen = count;
        if new {
            let now = Instant::now();
            self.give_up_at = Some(match self.give_up_at {
                None => now + self.close_timeout,
                Some(_) => now,
            });
        }
        new
    }

    /// When the loop must come round for the console (the handler's deadline includes it):
    /// at once when the run is over and its output written, so that it ends; when unwritten
    /// output is to be dropped after an interrupt; otherwise never.
    pub fn deadline(&self) -> Option<Instant> {
        if self.printer.unwritten() == 0 {
            return self.outcome.is_some().then(Instant::now);
        }
        self.give_up_at
    }

    /// Whether stdout is full: the handler reads nothing more (from peers or stdin) until it
    /// takes what waits.
    pub fn output_blocked(&self) -> bool {
        self.printer.blocked()
    }

    /// Whether `key` is one of the console's sources: stdin read by the engine, or a full
    /// stdout.
    pub fn watches(&self, key: usize) -> bool {
        key == STDOUT || self.direct.as_ref().is_some_and(|d| d.key == key)
    }

    /// A source the console watches is ready: stdin (read it) or a full stdout (write more).
    pub fn ready(&mut self, net: &mut Net, key: usize) {
        if key == STDOUT {
            if let Err(e) = self.printer.flush() {
                self.finish(Err(anyhow::Error::new(e).context("writing to stdout")));
            }
            self.watch_output(net);
        } else {
            self.read_stdin(net);
        }
    }

    /// Watches a full stdout for writability exactly while output waits for it.
    fn watch_output(&mut self, net: &mut Net) {
        let waiting = self.printer.blocked() || self.printer.unwritten() > 0;
        let watched = net.is_watched(STDOUT);
        if waiting && !watched {
            // Without a source to watch, the writer thread wakes the engine itself.
            if let Some(source) = self.printer.when_writable() {
                let _ = net.watch_writable(source, STDOUT);
            }
        } else if !waiting && watched {
            net.unwatch(STDOUT);
        }
    }

    /// The next input, from what was queued or what a reader thread sent. A `/file` is read
    /// on a thread of its own and handed out as the message it sends (or as a rejected line)
    /// once it is read; until then nothing after it is handed out, and the loop goes on.
    pub fn next_input(&mut self) -> Option<Input> {
        if let Some(loading) = &self.loading {
            match loading.try_recv() {
                Ok(input) => {
                    self.loading = None;
                    return Some(input);
                }
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    self.loading = None;
                    return Some(Input::Rejected("/file: the reading thread ended".into()));
                }
            }
        }
        loop {
            if let Some(input) = self.queued.pop_front() {
                let Input::Command(Command::File { path, binary }) = input else {
                    return Some(input);
                };
                return match self.load(path, binary) {
                    Ok(()) => None,
                    Err(reason) => Some(Input::Rejected(reason)),
                };
            }
            match self.input.try_recv() {
                Ok(batch) => self.queued.extend(batch),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// Starts reading a `/file` on a thread, which wakes the loop when it is done.
    ///
    /// # Errors
    /// The thread could not be started (the reason, for the rejected line).
    fn load(&mut self, path: std::path::PathBuf, binary: bool) -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let waker = self.waker.clone();
        std::thread::Builder::new()
            .name("file".into())
            .spawn(move || {
                let input = match crate::command::load_file(&path, binary) {
                    Ok(cmd) => Input::Command(cmd),
                    Err(reason) => Input::Rejected(reason),
                };
                // The run may be over: then nobody waits for it.
                if tx.send(input).is_ok() {
                    waker.wake();
                }
            })
            .map_err(|e| format!("/file: cannot start reading it: {e}"))?;
        self.loading = Some(rx);
        Ok(())
    }

    /// Puts messages before any waiting input (`-x`, sent first on every connection).
    pub fn push_front(&mut self, commands: impl DoubleEndedIterator<Item = Command>) {
        for cmd in commands.rev() {
            self.queued.push_front(Input::Command(cmd));
        }
    }

    /// Whether input already read is waiting to be handed out (or for a `/file` to be read).
    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty() || self.loading.is_some()
    }

    /// Pauses or resumes reading stdin directly, so that a full socket leaves lines in the
    /// pipe and the writer upstream waits. Nothing is dropped.
    pub fn pause_stdin(&mut self, net: &mut Net, paused: bool) {
        if let Some(direct) = self.direct.as_mut() {
            if direct.paused != paused {
                direct.paused = paused;
                net.pause(direct.key, paused);
            }
        }
    }

    /// Stdin is readable (the engine reported the key given to [`Console::start`]): one read,
    /// which does not block, split into lines.
    fn read_stdin(&mut self, net: &mut Net) {
        let Some(direct) = self.direct.as_mut() else {
            return;
        };
        if direct.paused {
            return;
        }
        direct.buf.resize(READ_SIZE, 0);
        match stdin::read(&mut direct.buf) {
            Ok(0) => direct.splitter.finish(&mut self.queued),
            Ok(n) => return direct.splitter.feed(&direct.buf[..n], &mut self.queued),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                return
            }
            Err(e) => {
                self.queued
                    .push_back(Input::Rejected(format!("reading stdin: {e}")));
                direct.splitter.finish(&mut self.queued);
            }
        }
        // The end of stdin, or an error: stop watching it for good.
        net.unwatch(direct.key);
        self.direct = None;
    }

    /// Writes out what is buffered, as far as stdout takes it (the engine calls it before it
    /// waits), and watches stdout when it is full.
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn idle(&mut self, net: &mut Net) -> io::Result<()> {
        if let Some(recorder) = self.recorder.as_mut() {
            if let Err(e) = recorder.flush() {
                self.recorder = None;
                self.finish(Err(e));
            }
        }
        let was_blocked = self.printer.blocked();
        self.printer.flush()?;
        if was_blocked && !self.printer.blocked() {
            // Input and reads held back while stdout was full are taken on the next turn:
            // come round at once, as nothing else may ever wake the loop for them.
            self.waker.wake();
        }
        self.watch_output(net);
        Ok(())
    }

    /// Writes what the last turn rendered when the run is over (stdout took everything
    /// before the run could end; see [`Console::take_outcome`]).
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.printer.flush()
    }
}

/// A role on the engine (the client's session, the server): its protocol rules, with the
/// operator's [`Console`] doing the engine's other duties, the same for both roles (stdin,
/// a full stdout, writing output before the loop waits, the run's outcome).
pub trait Role {
    fn console(&self) -> &Console;
    fn console_mut(&mut self) -> &mut Console;
    /// See [`Handler::turn`].
    fn turn(&mut self, net: &mut Net, now: Instant);
    /// See [`Handler::incoming`].
    fn incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant);
    /// The role's nearest deadline (the console's own is added to it).
    fn deadline(&self) -> Option<Instant>;
    /// A source the role watches is ready (the server's listener); the console's own sources
    /// never come here.
    fn ready(&mut self, _net: &mut Net, _key: usize) {}
}

impl<R: Role> Handler for R {
    type Outcome = Result<ExitCode>;

    fn turn(&mut self, net: &mut Net, now: Instant) {
        Role::turn(self, net, now);
    }

    fn incoming(&mut self, net: &mut Net, key: usize, what: Incoming, now: Instant) {
        Role::incoming(self, net, key, what, now);
    }

    fn ready(&mut self, net: &mut Net, key: usize) {
        if self.console().watches(key) {
            self.console_mut().ready(net, key);
        } else {
            Role::ready(self, net, key);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        [Role::deadline(self), self.console().deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn output_blocked(&self) -> bool {
        self.console().output_blocked()
    }

    fn idle(&mut self, net: &mut Net) -> io::Result<()> {
        self.console_mut().idle(net)
    }

    fn finished(&mut self) -> Option<Result<ExitCode>> {
        self.console_mut().take_outcome()
    }
}

/// Counts SIGINT and SIGTERM (on Windows, Ctrl-C, Ctrl-Break and closing the console) and
/// wakes `waker`'s engine on each; the handler decides what a count means (the first closes
/// gracefully, the next one while closing exits 130).
///
/// The handler is installed once per process (the platform allows one) and wakes the engine
/// of the console made last.
fn on_interrupt(waker: Waker) -> Result<&'static AtomicUsize> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static WAKER: Mutex<Option<Waker>> = Mutex::new(None);
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let lock = || WAKER.lock().unwrap_or_else(|e| e.into_inner());
    *lock() = Some(waker);
    let installed = INSTALLED.get_or_init(|| {
        // ctrlc runs this on a thread of its own, not in the signal handler: it may lock.
        ctrlc::set_handler(move || {
            COUNT.fetch_add(1, Ordering::SeqCst);
            if let Some(waker) = lock().as_ref() {
                waker.wake();
            }
        })
        .map_err(|e| e.to_string())
    });
    match installed {
        Ok(()) => Ok(&COUNT),
        Err(e) => Err(anyhow::anyhow!("installing the Ctrl-C handler: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    fn console() -> (Console, SyncSender<Batch>, Engine) {
        let engine = Engine::new().unwrap();
        let settings = Settings::for_test(Format::Raw, false);
        let (console, _, input) = Console::captured(&settings, engine.waker());
        (console, input, engine)
    }

    fn text(s: &str) -> Input {
        Input::Command(Command::Text(s.into()))
    }

    /// The next input, waiting (bounded) while a `/file` is read.
    fn next(console: &mut Console) -> Option<Input> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let input = console.next_input();
            if input.is_some() || !console.has_queued() {
                return input;
            }
            assert!(Instant::now() < deadline, "the file was never read");
            std::thread::sleep(Duration::from_millis(1)); // the reading thread's result
        }
    }

    #[test]
    fn a_file_is_read_off_the_loop_and_keeps_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "contents").unwrap();
        let (mut console, input, _engine) = console();
        let file = Input::Command(Command::File {
            path,
            binary: false,
        });
        input.send(vec![text("a"), file, text("b")]).unwrap();
        assert_eq!(console.next_input(), Some(text("a")));
        // While the file is read, nothing after it is handed out, and input counts as queued
        // (so stdin pauses).
        assert_eq!(console.next_input(), None);
        assert!(console.has_queued());
        assert_eq!(next(&mut console), Some(text("contents")));
        assert_eq!(next(&mut console), Some(text("b")));
        assert_eq!(next(&mut console), None);
        assert!(!console.has_queued());
    }

    #[test]
    fn a_file_that_cannot_be_read_is_a_rejected_line() {
        let (mut console, input, _engine) = console();
        let file = Input::Command(Command::File {
            path: "/no/such/file".into(),
            binary: true,
        });
        input.send(vec![file]).unwrap();
        match next(&mut console) {
            Some(Input::Rejected(reason)) => {
                assert!(reason.starts_with("/file /no/such/file: "), "{reason}")
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn execute_messages_go_before_waiting_input() {
        let (mut console, input, _engine) = console();
        input.send(vec![text("typed")]).unwrap();
        assert_eq!(console.next_input(), Some(text("typed")));
        input.send(vec![text("later")]).unwrap();
        console.push_front(
            ["x1".to_string(), "x2".to_string()]
                .into_iter()
                .map(Command::Text),
        );
        assert_eq!(console.next_input(), Some(text("x1")));
        assert_eq!(console.next_input(), Some(text("x2")));
        assert_eq!(console.next_input(), Some(text("later")));
    }

    #[test]
    fn the_first_ending_wins_and_is_taken_once_output_is_written() {
        let (mut console, _input, _engine) = console();
        assert!(!console.is_finished());
        assert_eq!(console.deadline(), None, "nothing to come round for");
        console.show(None, Dir::In, Kind::Text("shown".into()));
        console.finish(Ok(ExitCode::from(3)));
        console.finish(Ok(ExitCode::SUCCESS));
        assert!(console.is_finished());
        // Rendered output is written when the loop is idle; only then is the outcome taken.
        assert!(
            console.take_outcome().is_none(),
            "output is still unwritten"
        );
        console.flush().unwrap();
        assert!(console.deadline().is_some(), "come round at once to end");
        assert_eq!(console.take_outcome().unwrap().unwrap(), ExitCode::from(3));
        assert!(console.take_outcome().is_none());
    }
}
