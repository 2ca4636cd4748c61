//! `--reconnect`: after a lost connection, dial again on a thread of its own with pauses that
//! double, so that the loop (and Ctrl-C) never waits for an attempt.

use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;

use super::dial::{Attempt, Dialer};
use crate::engine::Waker;

/// The first wait before reconnecting; it doubles after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The waits between attempts: 0.5 s, then twice as long each time, at most 30 s.
#[derive(Debug)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(FIRST_BACKOFF)
    }
}

impl Backoff {
    /// The wait before the next attempt; the one after it is twice as long.
    pub fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }

    /// A connection succeeded: the next loss starts from the first wait again.
    pub fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }
}

/// Dialing again; see the module docs.
pub struct Reconnect {
    dialer: Arc<Dialer>,
    waker: Waker,
    /// The attempt under way: its result arrives here, with a wakeup.
    dialing: Option<Receiver<Attempt>>,
    pub backoff: Backoff,
    /// Why the connection was lost, while away.
    reason: String,
}

impl Reconnect {
    pub fn new(dialer: Arc<Dialer>, waker: Waker) -> Reconnect {
        Reconnect {
            dialer,
            waker,
            dialing: None,
            backoff: Backoff::default(),
            reason: String::new(),
        }
    }

    /// The dialer's settings.
    pub fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// The connection was lost for `reason`: how long to wait before the next attempt.
    pub fn lost(&mut self, reason: String) -> Duration {
        self.reason = reason;
        self.backoff.next()
    }

    /// Why the connection was lost (for the run's ending, while away).
    pub fn take_reason(&mut self) -> String {
        std::mem::take(&mut self.reason)
    }

    /// Starts an attempt on a thread of its own.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(&mut self) -> std::io::Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        let waker = self.waker.clone();
        let dialer = self.dialer.clone();
        std::thread::Builder::new()
            .name("redial".into())
            .spawn(move || {
                // The session may have ended meanwhile: then nobody waits for the result.
                if tx.send(dialer.dial()).is_ok() {
                    waker.wake();
                }
            })?;
        self.dialing = Some(rx);
        Ok(())
    }

    /// The attempt's result, once it is there.
    pub fn result(&mut self) -> Option<Attempt> {
        let attempt = match self.dialing.as_ref()?.try_recv() {
            Ok(attempt) => attempt,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(anyhow!("the dialing thread ended")),
        };
        self.dialing = None;
        Some(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_thirty_seconds_and_start_again_after_a_success() {
        let mut backoff = Backoff::default();
        let waits: Vec<f64> = (0..9).map(|_| backoff.next().as_secs_f64()).collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(500));
    }
}
