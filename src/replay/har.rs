//! The WebSocket entries of a HAR file, as browsers and proxies write them: an entry with
//! `_resourceType: "websocket"` or `_webSocketMessages`, whose messages are `{type: "send" |
//! "receive", time, opcode: 1 | 2, data}` (base64 for binary). Chrome's DevTools write `time`
//! in seconds since the epoch and Playwright in milliseconds (told apart by size); frames of
//! other types (Chrome's `error`, opcode -1) are skipped. wsx's own `_wsxCloses` gives the
//! close that began the end. mitmproxy's duplicate of a connection (written at its 101 and
//! again at its end, with the same start) counts once.

use serde_json::Value;

use super::{base64, target_of, Conversation, Play, Side, Step};

/// The conversations of a parsed HAR document, in the order its entries began.
///
/// # Errors
/// Where the document is not a HAR, or a payload does not decode.
pub fn conversations(doc: &Value) -> Result<Vec<Conversation>, String> {
    let entries = doc["log"]["entries"]
        .as_array()
        .ok_or("HAR: log.entries is not a list")?;
    let mut found: Vec<(Option<i64>, Conversation)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let messages = entry.get("_webSocketMessages").and_then(Value::as_array);
        let websocket = entry.get("_resourceType").and_then(Value::as_str) == Some("websocket");
        if messages.is_none() && !websocket {
            continue;
        }
        let at = |what: String| format!("HAR entry {}: {what}", i + 1);
        let url = entry["request"]["url"].as_str().unwrap_or("/");
        let mut steps = Vec::new();
        for (j, message) in messages.into_iter().flatten().enumerate() {
            let at = |what: String| at(format!("message {}: {what}", j + 1));
            let by = match message.get("type").and_then(Value::as_str) {
                Some("send") => Side::Client,
                Some("receive") => Side::Server,
                _ => continue,
            };
            let data = message.get("data").and_then(Value::as_str).unwrap_or("");
            let play = match message.get("opcode").and_then(Value::as_i64) {
                Some(1) => Play::Text(data.to_string()),
                Some(2) => Play::Binary(base64(data).map_err(at)?),
                _ => continue,
            };
            steps.push(Step {
                by,
                at: time(message.get("time")),
                play,
            });
        }
        let closes = entry.get("_wsxCloses").and_then(Value::as_array);
        if let Some(close) = closes.and_then(|c| c.first()) {
            let by = match close.get("type").and_then(Value::as_str) {
                Some("send") => Some(Side::Client),
                Some("receive") => Some(Side::Server),
                _ => None,
            };
            if let Some(by) = by {
                let code = close.get("code").and_then(Value::as_u64);
                let play = Play::Close {
                    code: code.and_then(|c| u16::try_from(c).ok()),
                    reason: close["reason"].as_str().unwrap_or("").to_string(),
                };
                steps.push(Step {
                    by,
                    at: time(close.get("time")),
                    play,
                });
            }
        }
        let started = entry["startedDateTime"]
            .as_str()
            .and_then(super::jsonl::micros);
        let conversation = Conversation {
            target: target_of(url),
            steps,
        };
        // mitmproxy writes a connection twice, at its 101 and at its end: one is kept, the
        // one with the messages.
        let twin = found
            .iter_mut()
            .find(|(t, c)| started.is_some() && *t == started && c.target == conversation.target);
        match twin {
            Some((_, kept)) if kept.steps.len() < conversation.steps.len() => *kept = conversation,
            Some(_) => {}
            None => found.push((started, conversation)),
        }
    }
    // Entries are written as connections end (wsx, Playwright): play them as they began.
    found.sort_by_key(|(started, _)| started.unwrap_or(i64::MAX));
    Ok(found.into_iter().map(|(_, c)| c).collect())
}

/// A message's time in microseconds since the epoch: seconds (DevTools) or milliseconds
/// (Playwright); none when it is missing or negative (Playwright's `omitTiming`).
fn time(value: Option<&Value>) -> Option<i64> {
    let t = value?.as_f64()?;
    if !t.is_finite() || t < 0.0 {
        return None;
    }
    // 1e11 s is in the year 5138; 1e11 ms is in 1973.
    let micros = if t > 1e11 { t * 1e3 } else { t * 1e6 };
    Some(micros as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chrome_devtools_entries_in_seconds() {
        let doc = json!({"log": {"version": "1.2", "entries": [
            {"startedDateTime": "2026-01-01T00:00:00.000Z", "request": {"url": "https://h/page"}},
            {"startedDateTime": "2026-01-01T00:00:01.000Z", "_resourceType": "websocket",
             "request": {"url": "wss://h/socket?v=2"},
             "_webSocketMessages": [
                {"type": "send", "time": 1767225601.5, "opcode": 1, "data": "hello"},
                {"type": "receive", "time": 1767225601.75, "opcode": 2, "data": "AAECqg=="},
                {"type": "error", "time": 1767225602.0, "opcode": -1, "data": "Invalid frame header"}
             ]}
        ]}});
        let found = conversations(&doc).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].target, "/socket?v=2");
        assert_eq!(
            found[0].steps,
            vec![
                Step {
                    by: Side::Client,
                    at: Some(1_767_225_601_500_000),
                    play: Play::Text("hello".into())
                },
                Step {
                    by: Side::Server,
                    at: Some(1_767_225_601_750_000),
                    play: Play::Binary(vec![0, 1, 2, 0xaa])
                },
            ]
        );
    }

    #[test]
    fn playwright_entries_in_milliseconds_and_without_timing() {
        let doc = json!({"log": {"entries": [
            {"_resourceType": "websocket", "request": {"url": "ws://127.0.0.1:9/"},
             "_webSocketMessages": [
                {"type": "receive", "time": 1767225601500.25_f64, "opcode": 1, "data": "a"},
                {"type": "send", "time": -1, "opcode": 1, "data": "b"}
             ]}
        ]}});
        let steps = &conversations(&doc).unwrap()[0].steps;
        assert_eq!(steps[0].at, Some(1_767_225_601_500_250));
        assert_eq!(steps[1].at, None);
    }

    #[test]
    fn wsx_closes_and_entries_in_the_order_they_began() {
        let doc = json!({"log": {"entries": [
            {"startedDateTime": "2026-01-01T00:00:05.000Z", "_resourceType": "websocket",
             "request": {"url": "ws://h/late"}, "_webSocketMessages": []},
            {"startedDateTime": "2026-01-01T00:00:01.000Z", "_resourceType": "websocket",
             "request": {"url": "ws://h/early"}, "_webSocketMessages": [],
             "_wsxCloses": [{"type": "receive", "time": 1767225602.0, "code": 4000, "reason": "bye"},
                            {"type": "send", "time": 1767225602.1, "code": 4000, "reason": "bye"}]}
        ]}});
        let found = conversations(&doc).unwrap();
        assert_eq!(found[0].target, "/early");
        assert_eq!(
            found[0].steps[0].play,
            Play::Close {
                code: Some(4000),
                reason: "bye".into()
            }
        );
        assert_eq!(found[0].steps[0].by, Side::Server);
        assert_eq!(found[1].target, "/late");
    }

    #[test]
    fn bad_base64_names_the_entry_and_the_message() {
        let doc = json!({"log": {"entries": [
            {"_resourceType": "websocket", "request": {"url": "ws://h/"},
             "_webSocketMessages": [{"type": "send", "time": 1, "opcode": 2, "data": "!!"}]}
        ]}});
        let e = conversations(&doc).unwrap_err();
        assert!(
            e.starts_with("HAR entry 1: message 1: the binary payload is not base64"),
            "{e}"
        );
        assert_eq!(
            conversations(&json!({"log": {}})).unwrap_err(),
            "HAR: log.entries is not a list"
        );
    }
}
