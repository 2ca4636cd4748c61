//! `--replay FILE`: a recorded conversation played again, the server's side
//! (`wsx listen --replay`, a mock) or the client's (`wsx connect --replay`).
//!
//! - [`load`] reads a recording: a HAR file (Chrome's, Firefox's, Playwright's, mitmproxy's,
//!   wsx's; see [`har`]) or wsx's jsonl events ([`jsonl`]) into [`Conversation`]s;
//! - [`script`] plays one side of a conversation: what to send when, and what the other side
//!   was recorded sending.

mod har;
mod jsonl;
pub mod script;

use std::path::{Path, PathBuf};

pub use script::{Plan, Script};

/// `--replay FILE`, `--replay-speed N`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    /// The recorded gaps are divided by it; 0 plays without gaps.
    pub speed: f64,
}

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One recorded message, or the close that began the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Play {
    Text(String),
    Binary(Vec<u8>),
    Close { code: Option<u16>, reason: String },
}

impl Play {
    /// The frame to send and the event that shows it, or for the close its code (1000 for a
    /// Close recorded without one) and reason. One buffer serves the frame and the event.
    pub fn into_frame(self) -> Result<(tungstenite::Message, crate::event::Kind), (u16, String)> {
        use crate::event::Kind;
        use tungstenite::Message;
        match self {
            Play::Text(t) => {
                let t = tungstenite::Utf8Bytes::from(t);
                Ok((Message::Text(t.clone()), Kind::Text(t)))
            }
            Play::Binary(b) => {
                let b = tungstenite::Bytes::from(b);
                Ok((Message::Binary(b.clone()), Kind::Binary(b)))
            }
            Play::Close { code, reason } => Err((code.unwrap_or(1000), reason)),
        }
    }

    /// A data message as the replay compares it.
    pub fn of(kind: &crate::event::Kind) -> Option<Play> {
        use crate::event::Kind;
        match kind {
            Kind::Text(t) => Some(Play::Text(t.to_string())),
            Kind::Binary(b) => Some(Play::Binary(b.to_vec())),
            _ => None,
        }
    }
}

/// A message of a conversation: who sent it, what, and when (microseconds since the epoch,
/// when the recording has times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub by: Side,
    pub at: Option<i64>,
    pub play: Play,
}

/// One recorded connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The request's path and query (`/chat?room=1`), or `/` when the recording has none.
    pub target: String,
    pub steps: Vec<Step>,
}

/// Every conversation of a recording, in the order they began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub conversations: Vec<Conversation>,
}

impl Recording {
    /// The conversation for a request to `target` (path and query): the first recorded with
    /// the same path and query, else the first with the same path, else the first of all.
    pub fn choose(&self, target: &str) -> &Conversation {
        &self.conversations[self.position(target)]
    }

    /// The index of [`Recording::choose`]'s conversation.
    pub fn position(&self, target: &str) -> usize {
        let path = |t: &str| t.split('?').next().unwrap_or("").to_string();
        self.conversations
            .iter()
            .position(|c| c.target == target)
            .or_else(|| {
                self.conversations
                    .iter()
                    .position(|c| path(&c.target) == path(target))
            })
            .unwrap_or(0)
    }
}

/// Reads `--replay`'s recording; its failure is a usage error (exit 2).
///
/// # Errors
/// As for [`load`].
pub fn open(s: &Settings) -> anyhow::Result<Recording> {
    load(&s.path).map_err(|e| crate::error::Failure::Usage(format!("--replay {e}")).into())
}

/// Reads a recording: HAR if the file is one JSON object with a `log`, else jsonl.
///
/// # Errors
/// One line naming the file and where it went wrong: neither HAR nor jsonl, JSON that does
/// not parse, a HAR without a WebSocket entry, a payload whose base64 does not decode.
pub fn load(path: &Path) -> Result<Recording, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    parse(&text).map_err(|e| format!("{name}: {e}"))
}

/// [`load`], from the file's text.
///
/// # Errors
/// As for [`load`], without the file's name.
pub fn parse(text: &str) -> Result<Recording, String> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    let first = match values.next() {
        None => return Err("empty: neither HAR nor jsonl".into()),
        Some(Err(e)) if text.trim_start().starts_with('{') => {
            return Err(format!("JSON that does not parse: {e}"))
        }
        Some(Err(e)) => return Err(format!("neither HAR nor jsonl: {e}")),
        Some(Ok(value)) => value,
    };
    let conversations = if first.get("log").is_some() {
        if values.next().is_some() {
            return Err(format!(
                "HAR: something follows its JSON object (at byte {})",
                values.byte_offset()
            ));
        }
        har::conversations(&first)?
    } else {
        jsonl::conversations(text)?
    };
    if conversations.is_empty() {
        return Err("no WebSocket connection in it".into());
    }
    Ok(Recording { conversations })
}

/// The path and query of a URL (`ws://h/a?b` → `/a?b`); a bare path is kept as it is.
pub fn target_of(url: &str) -> String {
    if url.starts_with('/') {
        return url.to_string();
    }
    match url::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => "/".to_string(),
    }
}

/// Standard base64, with the reason it is not.
fn base64(data: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("the binary payload is not base64 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(target: &str) -> Conversation {
        Conversation {
            target: target.into(),
            steps: Vec::new(),
        }
    }

    #[test]
    fn a_request_gets_its_path_and_query_then_its_path_then_the_first() {
        let rec = Recording {
            conversations: vec![
                conversation("/a"),
                conversation("/b?x=1"),
                conversation("/b?x=2"),
            ],
        };
        assert_eq!(rec.choose("/b?x=2").target, "/b?x=2");
        assert_eq!(rec.choose("/b?x=3").target, "/b?x=1");
        assert_eq!(rec.choose("/b").target, "/b?x=1");
        assert_eq!(rec.choose("/c").target, "/a");
    }

    #[test]
    fn targets_of_urls() {
        assert_eq!(target_of("ws://h:1/a/b?c=d"), "/a/b?c=d");
        assert_eq!(target_of("wss://h"), "/");
        assert_eq!(target_of("/x?y"), "/x?y");
        assert_eq!(target_of("not a url"), "/");
    }

    #[test]
    fn what_is_neither_har_nor_jsonl_is_refused_with_where() {
        assert!(parse("").unwrap_err().contains("empty"));
        let e = parse("hello").unwrap_err();
        assert!(e.starts_with("neither HAR nor jsonl"), "{e}");
        assert!(e.contains("line 1 column 1"), "{e}");
        let e = parse("{\"log\": {\"entries\": [}}").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("{\"log\": {\"entries\": []}}").unwrap_err();
        assert_eq!(e, "no WebSocket connection in it");
    }
}
