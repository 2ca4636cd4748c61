//! One side of a recorded conversation, played again: the same for the mock server and the
//! client. Pure: the caller says when the other side sends, asks what is due and when, and
//! sends it.
//!
//! Each of our messages is sent in its recorded order, once the other side has sent as many
//! messages as it had before it in the recording, and after the recorded gap: counted from
//! the arrival of the other side's message if that came just before it in the recording,
//! from our previous message otherwise, and none at all for a first message. `--replay-speed
//! N` divides every gap by N; 0 sends without gaps. The other side's messages are compared
//! with the recorded ones, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Conversation, Play, Side};

/// When one of our messages may go, and what it waits for.
#[derive(Debug, Clone, PartialEq)]
struct Cue {
    play: Play,
    /// How many of the other side's messages must have arrived.
    needs: usize,
    /// What the gap counts from.
    after: Anchor,
    gap: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Anchor {
    /// The start of the connection (no gap).
    Start,
    /// The arrival of the other side's `needs`-th message.
    Theirs,
    /// Our previous message.
    Ours,
}

/// One side of a conversation, worked out once and shared by every connection it is played
/// on: our messages with what each waits for, and what the other side was recorded sending.
#[derive(Debug)]
pub struct Plan {
    cues: Vec<Cue>,
    /// What the other side was recorded sending (data messages), in order.
    expected: Vec<Play>,
    /// The most of the other side's messages any cue waits for.
    wanted: usize,
}

impl Plan {
    /// `mine`'s side of `conversation`.
    pub fn new(conversation: &Conversation, mine: Side) -> Plan {
        let mut cues = Vec::new();
        let mut expected = Vec::new();
        // The step before, in the recording: whose it was and when.
        let mut before: Option<(Side, Option<i64>)> = None;
        for step in &conversation.steps {
            if step.by == mine {
                let after = match before {
                    None => Anchor::Start,
                    Some((by, _)) if by == mine => Anchor::Ours,
                    // The other side's close is not a message to wait for.
                    Some(_) if expected.is_empty() => Anchor::Start,
                    Some(_) => Anchor::Theirs,
                };
                let gap = match (before.and_then(|(_, at)| at), step.at, after) {
                    (Some(a), Some(b), Anchor::Ours | Anchor::Theirs) if b > a => {
                        Duration::from_micros((b - a) as u64)
                    }
                    _ => Duration::ZERO,
                };
                cues.push(Cue {
                    play: step.play.clone(),
                    needs: expected.len(),
                    after,
                    gap,
                });
            } else if !matches!(step.play, Play::Close { .. }) {
                expected.push(step.play.clone());
            }
            before = Some((step.by, step.at));
        }
        let wanted = cues.iter().map(|c| c.needs).max().unwrap_or(0);
        Plan {
            cues,
            expected,
            wanted,
        }
    }
}

/// A side of a conversation being played on one connection; see the module docs.
#[derive(Debug)]
pub struct Script {
    plan: Arc<Plan>,
    next: usize,
    /// When each of the other side's messages arrived (as many as any cue waits for).
    arrivals: Vec<Instant>,
    /// How many messages the other side has sent.
    seen: usize,
    started: Instant,
    last_sent: Instant,
    speed: f64,
}

impl Script {
    /// Plays `plan` from `now`; `speed` divides the gaps (0: none).
    pub fn new(plan: Arc<Plan>, speed: f64, now: Instant) -> Script {
        Script {
            plan,
            next: 0,
            arrivals: Vec::new(),
            seen: 0,
            started: now,
            last_sent: now,
            speed,
        }
    }

    /// Plays `mine`'s side of `conversation` from `now` (a plan for one connection).
    pub fn of(conversation: &Conversation, mine: Side, speed: f64, now: Instant) -> Script {
        Script::new(Arc::new(Plan::new(conversation, mine)), speed, now)
    }

    /// When the next message is due: `None` when none is left or it waits for the other side.
    pub fn due(&self) -> Option<Instant> {
        let cue = self.plan.cues.get(self.next)?;
        if self.seen < cue.needs {
            return None;
        }
        let from = match cue.after {
            Anchor::Start => return Some(self.started),
            Anchor::Ours => self.last_sent,
            Anchor::Theirs => cue
                .needs
                .checked_sub(1)
                .and_then(|i| self.arrivals.get(i).copied())
                .unwrap_or(self.started),
        };
        Some(from + self.scaled(cue.gap))
    }

    /// The next message if it is due at `now`.
    pub fn take(&mut self, now: Instant) -> Option<Play> {
        if self.due()? > now {
            return None;
        }
        let play = self.plan.cues[self.next].play.clone();
        self.next += 1;
        self.last_sent = now;
        Some(play)
    }

    /// The other side sent a data message: what differs from the recording, if anything
    /// (`message 3 differs from the recording, which has "x"`).
    pub fn theirs(&mut self, got: &Play, now: Instant) -> Option<String> {
        self.seen += 1;
        if self.arrivals.len() < self.plan.wanted {
            self.arrivals.push(now);
        }
        let n = self.seen;
        match self.plan.expected.get(n - 1) {
            Some(recorded) if recorded != got => Some(format!(
                "message {n} differs from the recording, which has {}",
                describe(recorded)
            )),
            _ => None,
        }
    }

    /// Every message of ours has been sent.
    pub fn done(&self) -> bool {
        self.next >= self.plan.cues.len()
    }

    /// The next message waits for the other side: (how many it waits for, how many came).
    pub fn waiting(&self) -> Option<(usize, usize)> {
        let cue = self.plan.cues.get(self.next)?;
        (self.seen < cue.needs).then_some((cue.needs, self.seen))
    }

    fn scaled(&self, gap: Duration) -> Duration {
        if self.speed <= 0.0 || gap.is_zero() {
            return Duration::ZERO;
        }
        // At most a day: a recording's gap never overflows the clock.
        Duration::from_secs_f64((gap.as_secs_f64() / self.speed).min(86_400.0))
    }
}

/// A recorded message in a line: text quoted and escaped (cut after 60 characters), binary
/// by its size.
fn describe(play: &Play) -> String {
    match play {
        Play::Text(t) => {
            let mut shown: String = t.chars().take(60).collect();
            if shown.len() < t.len() {
                shown.push('…');
            }
            format!("\"{}\"", crate::term::escape(&shown))
        }
        Play::Binary(b) => format!("[binary {} B]", b.len()),
        Play::Close { code, .. } => format!("a close ({})", code.unwrap_or(1005)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Step;
    use super::*;

    const S: i64 = 1_000_000;

    fn step(by: Side, at: i64, text: &str) -> Step {
        Step {
            by,
            at: Some(at),
            play: Play::Text(text.into()),
        }
    }

    fn text(t: &str) -> Play {
        Play::Text(t.into())
    }

    /// Recorded: the server greets at 0.5 s, the client asks at 1 s, the server answers 2 s
    /// later, then again 1 s after that, then closes.
    fn conversation() -> Conversation {
        Conversation {
            target: "/".into(),
            steps: vec![
                step(Side::Server, S / 2, "hello"),
                step(Side::Client, S, "question"),
                step(Side::Server, 3 * S, "answer"),
                step(Side::Server, 4 * S, "more"),
                Step {
                    by: Side::Server,
                    at: Some(5 * S),
                    play: Play::Close {
                        code: Some(1000),
                        reason: "done".into(),
                    },
                },
            ],
        }
    }

    #[test]
    fn the_server_side_waits_for_the_client_and_keeps_the_gaps() {
        let t0 = Instant::now();
        let mut s = Script::of(&conversation(), Side::Server, 1.0, t0);
        // The first message goes at once, however late it was recorded.
        assert_eq!(s.due(), Some(t0));
        assert_eq!(s.take(t0), Some(text("hello")));
        // The answer waits for the client's message, and it is not due before.
        assert_eq!(s.due(), None);
        assert_eq!(s.waiting(), Some((1, 0)));
        assert_eq!(s.take(t0 + Duration::from_secs(60)), None);
        let asked = t0 + Duration::from_secs(10);
        assert_eq!(s.theirs(&text("question"), asked), None);
        // Two seconds after the question arrived, then one second after the answer.
        assert_eq!(s.due(), Some(asked + Duration::from_secs(2)));
        assert_eq!(s.take(asked + Duration::from_secs(1)), None);
        let answered = asked + Duration::from_millis(2500);
        assert_eq!(s.take(answered), Some(text("answer")));
        assert_eq!(s.due(), Some(answered + Duration::from_secs(1)));
        let later = answered + Duration::from_secs(1);
        assert_eq!(s.take(later), Some(text("more")));
        assert!(!s.done());
        assert!(matches!(
            s.take(later + Duration::from_secs(1)),
            Some(Play::Close {
                code: Some(1000),
                ..
            })
        ));
        assert!(s.done());
        assert_eq!(s.due(), None);
    }

    #[test]
    fn the_client_side_and_speed() {
        let t0 = Instant::now();
        let mut s = Script::of(&conversation(), Side::Client, 4.0, t0);
        // The question waits for the greeting, then 0.5 s / 4.
        assert_eq!(s.due(), None);
        assert_eq!(s.theirs(&text("hello"), t0), None);
        assert_eq!(s.due(), Some(t0 + Duration::from_millis(125)));
        assert_eq!(s.take(t0 + Duration::from_secs(1)), Some(text("question")));
        assert!(s.done());
        // Messages beyond the recording, and the server's close, are nobody's business here.
        assert_eq!(s.theirs(&text("answer"), t0), None);
        assert_eq!(s.theirs(&text("more"), t0), None);
        assert_eq!(s.theirs(&text("extra"), t0), None);
    }

    #[test]
    fn speed_zero_sends_without_gaps() {
        let t0 = Instant::now();
        let mut s = Script::of(&conversation(), Side::Server, 0.0, t0);
        assert_eq!(s.take(t0), Some(text("hello")));
        s.theirs(&text("question"), t0);
        assert_eq!(s.take(t0), Some(text("answer")));
        assert_eq!(s.take(t0), Some(text("more")));
        assert!(s.take(t0).is_some());
    }

    #[test]
    fn a_different_message_is_reported_and_the_play_goes_on() {
        let t0 = Instant::now();
        let mut s = Script::of(&conversation(), Side::Server, 0.0, t0);
        s.take(t0);
        let differs = s.theirs(&Play::Binary(vec![1, 2]), t0).unwrap();
        assert_eq!(
            differs,
            "message 1 differs from the recording, which has \"question\""
        );
        assert_eq!(s.take(t0), Some(text("answer")));
    }

    #[test]
    fn recordings_without_times_play_without_gaps() {
        let mut c = conversation();
        for step in &mut c.steps {
            step.at = None;
        }
        let t0 = Instant::now();
        let mut s = Script::of(&c, Side::Server, 1.0, t0);
        s.take(t0);
        s.theirs(&text("question"), t0);
        assert_eq!(s.due(), Some(t0));
    }
}
