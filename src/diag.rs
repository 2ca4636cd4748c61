//! Diagnostics: one line each on stderr, written without ever blocking the caller.
//!
//! A stderr that nobody reads (a full pipe) must not stall the event loop, the handshake
//! threads or the REPL: on a terminal or a file a line is written at once; anywhere else it
//! goes to a thread that writes it, with at most [`BOUND`] bytes waiting. Past that, lines are
//! dropped and counted, and the count is written in their place once the stream takes more.
//! The line that says how the run ended is never dropped ([`last`]), and `main` waits a moment
//! for what is queued before it exits ([`flush`]).

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::term::{Blocking, Std};

/// How many bytes of diagnostics may wait for a stderr that takes nothing.
const BOUND: usize = 64 * 1024;

/// Writes one line to stderr, or queues it (see the module docs). A closed or broken stderr is
/// ignored: a diagnostic must never bring wsx down.
pub fn say(line: &str) {
    write(line, false);
}

/// [`say`] for the line that says how the run ended: never dropped, however full the queue.
pub fn last(line: &str) {
    write(line, true);
}

fn write(line: &str, always: bool) {
    match sink() {
        Sink::Direct => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
            let _ = err.write_all(b"\n");
        }
        Sink::Queue(queue) => queue.push(line, always),
    }
}

/// Waits until what is queued is written, for at most `limit` (a stderr that never drains
/// must not keep wsx from exiting).
pub fn flush(limit: Duration) {
    if let Sink::Queue(queue) = sink() {
        queue.wait_empty(Instant::now() + limit);
    }
}

enum Sink {
    Direct,
    Queue(Arc<Queue>),
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| match crate::term::blocking(Std::Err) {
        Blocking::Never => Sink::Direct,
        #[cfg(unix)]
        Blocking::Null => Sink::Direct,
        _ => Queue::spawn().map_or(Sink::Direct, Sink::Queue),
    })
}

/// Lines waiting for the writer thread.
struct Queue {
    state: Mutex<State>,
    /// Signalled when lines are queued, and when the thread has written what it took.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    waiting: Vec<u8>,
    /// Taken by the thread and being written.
    writing: bool,
    /// Lines dropped since the last count was queued.
    dropped: u64,
}

impl State {
    /// Queues `line`, unless [`BOUND`] bytes wait already (and it is not `always`): then it
    /// is counted as dropped. Returns whether it was queued.
    fn push(&mut self, line: &str, always: bool) -> bool {
        if !always && self.waiting.len() + line.len() + 1 > BOUND {
            self.dropped += 1;
            return false;
        }
        self.queue_dropped();
        self.waiting.extend_from_slice(line.as_bytes());
        self.waiting.push(b'\n');
        true
    }

    /// Queues the count of dropped lines, where they would have been.
    fn queue_dropped(&mut self) {
        let text = match std::mem::take(&mut self.dropped) {
            0 => return,
            1 => "wsx: 1 diagnostic line dropped: stderr was full\n".to_string(),
            n => format!("wsx: {n} diagnostic lines dropped: stderr was full\n"),
        };
        self.waiting.extend_from_slice(text.as_bytes());
    }
}

impl Queue {
    /// The queue and its writer thread; `None` when no thread can be started.
    fn spawn() -> Option<Arc<Queue>> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let writer = queue.clone();
        std::thread::Builder::new()
            .name("stderr".into())
            .spawn(move || writer.run())
            .ok()?;
        Some(queue)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; the state is consistent either way.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: &str, always: bool) {
        if self.lock().push(line, always) {
            self.changed.notify_all();
        }
    }

    fn run(&self) {
        let mut err = std::io::stderr();
        let mut chunk = Vec::new();
        loop {
            let mut state = self.lock();
            // Room again: the count of what was dropped goes first.
            state.queue_dropped();
            while state.waiting.is_empty() {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::swap(&mut state.waiting, &mut chunk);
            state.writing = true;
            drop(state);
            let _ = err.write_all(&chunk);
            let _ = err.flush();
            chunk.clear();
            self.lock().writing = false;
            self.changed.notify_all();
        }
    }

    fn wait_empty(&self, until: Instant) {
        let mut state = self.lock();
        state.queue_dropped();
        while !state.waiting.is_empty() || state.writing {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_lines_are_counted_and_the_count_takes_their_place() {
        let mut state = State::default();
        let line = "x".repeat(1000);
        let mut queued = 0;
        while state.push(&line, false) {
            queued += 1;
        }
        assert_eq!(queued, BOUND / 1001);
        assert!(!state.push(&line, false));
        assert_eq!(state.dropped, 2);
        // The last line goes in anyway, after the count.
        assert!(state.push("wsx: the end", true));
        let text = String::from_utf8(state.waiting.clone()).unwrap();
        assert!(
            text.ends_with("\nwsx: 2 diagnostic lines dropped: stderr was full\nwsx: the end\n"),
            "{}",
            &text[text.len() - 100..]
        );
        // Once written, there is room again.
        state.waiting.clear();
        assert!(state.push(&line, false));
        assert_eq!(state.dropped, 0);
    }
}
