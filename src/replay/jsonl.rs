//! wsx's jsonl events (`--format jsonl`, `--record FILE.jsonl`) as conversations: from
//! `wsx connect` (no `client`: `out` is the client's, each `open` begins a connection) or
//! from `wsx listen` and its relay (one conversation per `client`, whose `in` is the
//! client's; `open` has its request's `path`).

use std::collections::HashMap;

use serde_json::Value;

use super::{base64, target_of, Conversation, Play, Side, Step};

/// The conversations of a jsonl text, in the order they began.
///
/// # Errors
/// The line (and column) where a line is not a JSON object, or a payload does not decode.
pub fn conversations(text: &str) -> Result<Vec<Conversation>, String> {
    let mut found: Vec<(Conversation, bool)> = Vec::new();
    // Which conversation each client's events belong to (0: `wsx connect`).
    let mut current: HashMap<u64, usize> = HashMap::new();
    // A server's recording: its events without a client (the operator's lines, shown once)
    // are in each client's conversation already.
    let server = text
        .lines()
        .any(|l| l.starts_with("{\"client\":") || l.contains(",\"client\":"));
    for (n, line) in text.lines().enumerate() {
        let at = |what: String| format!("line {}: {what}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        let event: Value = serde_json::from_str(line).map_err(|e| at(format!("{e}")))?;
        if !event.is_object() {
            return Err(at("not a JSON object".into()));
        }
        let client = event.get("client").and_then(Value::as_u64);
        if server && client.is_none() {
            continue;
        }
        let key = client.unwrap_or(0);
        let str_of = |name: &str| event.get(name).and_then(Value::as_str);
        let kind = str_of("type").unwrap_or("");
        if kind == "open" {
            let target = str_of("path")
                .map(target_of)
                .or_else(|| str_of("url").map(target_of))
                .unwrap_or_else(|| "/".into());
            current.insert(key, found.len());
            found.push((
                Conversation {
                    target,
                    steps: Vec::new(),
                },
                false,
            ));
            continue;
        }
        let by = match (client.is_some(), str_of("dir")) {
            (false, Some("out")) | (true, Some("in")) => Side::Client,
            (false, Some("in")) | (true, Some("out")) => Side::Server,
            _ => continue,
        };
        let data = str_of("data").unwrap_or("");
        let play = match kind {
            "text" => Play::Text(data.to_string()),
            "binary" => Play::Binary(base64(data).map_err(at)?),
            "close" => {
                let code = event.get("code").and_then(Value::as_u64);
                // 1006 is a connection that ended without a Close frame: nothing to play.
                if code == Some(1006) {
                    continue;
                }
                Play::Close {
                    code: code.and_then(|c| u16::try_from(c).ok()),
                    reason: str_of("reason").unwrap_or("").to_string(),
                }
            }
            _ => continue,
        };
        let index = *current.entry(key).or_insert_with(|| {
            found.push((
                Conversation {
                    target: "/".into(),
                    steps: Vec::new(),
                },
                false,
            ));
            found.len() - 1
        });
        let (conversation, closed) = &mut found[index];
        // What follows the first Close is the end of the conversation, not part of it.
        if *closed {
            continue;
        }
        *closed = matches!(play, Play::Close { .. });
        conversation.steps.push(Step {
            by,
            at: str_of("ts").and_then(micros),
            play,
        });
    }
    Ok(found.into_iter().map(|(c, _)| c).collect())
}

/// An RFC 3339 time as microseconds since the epoch.
pub fn micros(text: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_recording_is_one_conversation_per_open() {
        let text = r#"{"ts":"2026-01-01T00:00:00.000Z","dir":"out","type":"open","subprotocol":null,"extensions":null,"url":"ws://h/a?b=1"}
{"ts":"2026-01-01T00:00:00.100Z","dir":"out","type":"text","data":"hi"}
{"ts":"2026-01-01T00:00:00.200+01:00","dir":"in","type":"binary","data":"AP8="}
{"dir":"in","type":"ping","data":""}
{"ts":"2026-01-01T00:00:01.000Z","dir":"out","type":"close","code":1000,"reason":""}
{"ts":"2026-01-01T00:00:01.001Z","dir":"in","type":"close","code":1000,"reason":""}

{"dir":"out","type":"open","url":"ws://h/again"}
{"dir":"in","type":"close","code":1006,"reason":"reset"}
"#;
        let found = conversations(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].target, "/a?b=1");
        let steps = &found[0].steps;
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps[0].by, Side::Client);
        assert_eq!(steps[0].at, Some(1_767_225_600_100_000));
        assert_eq!(steps[1].by, Side::Server);
        assert_eq!(steps[1].play, Play::Binary(vec![0, 255]));
        assert_eq!(
            steps[1].at,
            Some(1_767_225_600_100_000 - 3_600_000_000 + 100_000)
        );
        assert_eq!(
            steps[2].play,
            Play::Close {
                code: Some(1000),
                reason: String::new()
            }
        );
        assert_eq!(found[1].target, "/again");
        assert!(found[1].steps.is_empty());
    }

    #[test]
    fn a_listen_recording_is_one_conversation_per_client() {
        let text = r#"{"client":1,"dir":"in","type":"open","peer":"127.0.0.1:5","path":"/one"}
{"client":2,"dir":"in","type":"open","peer":"127.0.0.1:6","path":"/two?x"}
{"client":2,"dir":"in","type":"text","data":"from 2"}
{"client":1,"dir":"out","type":"text","data":"to 1"}
"#;
        let found = conversations(text).unwrap();
        assert_eq!(found[0].target, "/one");
        assert_eq!(found[0].steps[0].by, Side::Server);
        assert_eq!(found[1].target, "/two?x");
        assert_eq!(found[1].steps[0].by, Side::Client);
    }

    #[test]
    fn bad_lines_are_named() {
        let e = conversations("{\"dir\":\"in\"}\n{oops\n").unwrap_err();
        assert!(e.starts_with("line 2: key must be a string"), "{e}");
        let e = conversations("[1]").unwrap_err();
        assert_eq!(e, "line 1: not a JSON object");
        let e = conversations("{\"dir\":\"in\",\"type\":\"binary\",\"data\":\"%\"}").unwrap_err();
        assert!(
            e.starts_with("line 1: the binary payload is not base64"),
            "{e}"
        );
    }
}
