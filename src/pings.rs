//! Pings we sent and the pongs that answer them: matched by payload, oldest first, so that
//! each answer shows its round trip. The same for `wsx connect` and for each client of
//! `wsx listen`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Pings waiting for their pongs, oldest first.
#[derive(Debug, Default)]
pub struct Pings {
    sent: VecDeque<Sent>,
}

#[derive(Debug)]
struct Sent {
    payload: Vec<u8>,
    at: Instant,
    /// Sent on a timer (`--ping-interval`), not asked for (`/ping`).
    auto: bool,
}

/// What a pong answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub rtt: Duration,
    /// It answered a ping sent on a timer.
    pub auto: bool,
}

impl Pings {
    /// Notes a ping sent at `at`.
    pub fn sent(&mut self, payload: Vec<u8>, at: Instant, auto: bool) {
        self.sent.push_back(Sent { payload, at, auto });
    }

    /// A pong with `payload` answers the oldest ping with the same payload; `None` when
    /// none waits (an unsolicited pong).
    pub fn answered(&mut self, payload: &[u8], now: Instant) -> Option<Answer> {
        let i = self.sent.iter().position(|p| p.payload == payload)?;
        let ping = self.sent.remove(i)?;
        Some(Answer {
            rtt: now.saturating_duration_since(ping.at),
            auto: ping.auto,
        })
    }

    /// When the oldest unanswered ping sent on a timer went out.
    pub fn oldest_auto(&self) -> Option<Instant> {
        self.sent.iter().filter(|p| p.auto).map(|p| p.at).min()
    }

    /// Forgets them all (the connection they went out on is gone).
    pub fn clear(&mut self) {
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pong_answers_the_oldest_ping_with_its_payload() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut pings = Pings::default();
        pings.sent(b"a".to_vec(), ms(0), false);
        pings.sent(b"b".to_vec(), ms(10), true);
        pings.sent(b"a".to_vec(), ms(20), false);
        assert_eq!(pings.oldest_auto(), Some(ms(10)));
        let answer = pings.answered(b"a", ms(25)).unwrap();
        assert_eq!(
            (answer.rtt, answer.auto),
            (Duration::from_millis(25), false)
        );
        let answer = pings.answered(b"b", ms(30)).unwrap();
        assert_eq!((answer.rtt, answer.auto), (Duration::from_millis(20), true));
        assert_eq!(pings.oldest_auto(), None);
        assert_eq!(pings.answered(b"zzz", ms(40)), None, "unsolicited");
        assert_eq!(
            pings.answered(b"a", ms(40)).map(|a| a.rtt),
            Some(Duration::from_millis(20))
        );
        pings.sent(b"c".to_vec(), ms(50), true);
        pings.clear();
        assert_eq!(pings.answered(b"c", ms(60)), None);
    }
}
