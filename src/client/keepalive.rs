//! `--ping-interval` and `--ping-timeout`: a ping on a timer, and the verdict on a connection
//! whose pong is too late.

use std::time::{Duration, Instant};

use crate::pings::Pings;

/// When the next automatic ping goes out, and how late its pong may be.
#[derive(Debug)]
pub struct KeepAlive {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    next: Option<Instant>,
    /// Automatic pings sent so far, for unique payloads.
    sent: u64,
}

impl KeepAlive {
    /// Pings every `interval` from `now` (none without it); a pong later than `timeout` ends
    /// the connection.
    pub fn new(interval: Option<Duration>, timeout: Option<Duration>, now: Instant) -> KeepAlive {
        KeepAlive {
            interval,
            timeout,
            next: interval.map(|every| now + every),
            sent: 0,
        }
    }

    /// Starts the timer again, on a new connection.
    pub fn restart(&mut self, now: Instant) {
        self.next = self.interval.map(|every| now + every);
    }

    /// The payload of the ping due at `now`, if one is (the next is then scheduled).
    pub fn due(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (due, every) = (self.next?, self.interval?);
        if now < due {
            return None;
        }
        self.sent += 1;
        self.next = Some(now + every);
        Some(format!("wsx-{}", self.sent).into_bytes())
    }

    /// Why the connection is dead, when the oldest automatic ping has waited for its pong
    /// longer than `--ping-timeout`.
    pub fn dead(&self, pings: &Pings, now: Instant) -> Option<String> {
        let timeout = self.timeout?;
        let sent = pings.oldest_auto()?;
        (now >= sent + timeout).then(|| {
            let secs = timeout.as_secs_f64();
            format!("no pong within {secs}s (--ping-timeout): the connection is dead")
        })
    }

    /// When keep-alive must act next: a ping due (only while `open`), or a pong late.
    pub fn deadline(&self, pings: &Pings, open: bool) -> Option<Instant> {
        let ping = self.next.filter(|_| open);
        let pong = self
            .timeout
            .zip(pings.oldest_auto())
            .map(|(t, sent)| sent + t);
        ping.into_iter().chain(pong).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_go_out_on_the_interval_and_a_late_pong_is_death() {
        let start = Instant::now();
        let s = |n| start + Duration::from_secs(n);
        let mut keep = KeepAlive::new(
            Some(Duration::from_secs(10)),
            Some(Duration::from_secs(3)),
            start,
        );
        let mut pings = Pings::default();
        assert_eq!(keep.deadline(&pings, true), Some(s(10)));
        assert_eq!(keep.deadline(&pings, false), None, "no ping while not open");
        assert_eq!(keep.due(s(9)), None);
        let payload = keep.due(s(10)).expect("due");
        assert_eq!(payload, b"wsx-1");
        pings.sent(payload, s(10), true);
        assert_eq!(
            keep.deadline(&pings, true),
            Some(s(13)),
            "the pong is due first"
        );
        assert_eq!(keep.dead(&pings, s(12)), None);
        assert!(keep
            .dead(&pings, s(13))
            .unwrap()
            .starts_with("no pong within 3s"));
        pings.answered(b"wsx-1", s(11));
        assert_eq!(keep.dead(&pings, s(20)), None);
        assert_eq!(keep.due(s(20)).as_deref(), Some(&b"wsx-2"[..]));
        keep.restart(s(100));
        assert_eq!(keep.deadline(&pings, true), Some(s(110)));
    }

    #[test]
    fn without_an_interval_nothing_is_due() {
        let now = Instant::now();
        let mut keep = KeepAlive::new(None, None, now);
        assert_eq!(keep.due(now + Duration::from_secs(1000)), None);
        assert_eq!(keep.deadline(&Pings::default(), true), None);
    }
}
