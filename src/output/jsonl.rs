//! `--format jsonl`: one JSON object per event, for programs.
//!
//! Binary, ping and pong payloads are base64; `ts` is RFC 3339 with milliseconds and is left
//! out with `--timestamps none`.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::Timestamps;
use super::View;
use crate::event::{Dir, Event, Kind, Opened};

/// Appends the JSON line for `ev` (with its `\n`) to `out`.
pub fn render(ev: &Event, view: &View, out: &mut Vec<u8>) {
    let mut obj = Map::new();
    if view.timestamps != Timestamps::None {
        obj.insert("ts".into(), Value::String(rfc3339(ev, view)));
    }
    if let Some(id) = ev.client {
        obj.insert("client".into(), json!(id));
    }
    let dir = match ev.dir {
        Dir::In => "in",
        Dir::Out => "out",
    };
    obj.insert("dir".into(), json!(dir));
    let b64 = |d: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(d));
    match &ev.kind {
        Kind::Text(t) => {
            obj.insert("type".into(), json!("text"));
            obj.insert("data".into(), json!(t.as_str()));
        }
        Kind::Binary(b) => {
            obj.insert("type".into(), json!("binary"));
            obj.insert("data".into(), b64(b));
        }
        Kind::Ping(d) => {
            obj.insert("type".into(), json!("ping"));
            obj.insert("data".into(), b64(d));
        }
        Kind::Pong { data, rtt } => {
            obj.insert("type".into(), json!("pong"));
            obj.insert("data".into(), b64(data));
            if let Some(rtt) = rtt {
                obj.insert("rtt_ms".into(), json!(rtt.as_secs_f64() * 1000.0));
            }
        }
        Kind::Close(info) => {
            obj.insert("type".into(), json!("close"));
            obj.insert("code".into(), json!(info.code));
            obj.insert("reason".into(), json!(info.reason));
        }
        Kind::Open(open) => {
            let Opened {
                peer,
                subprotocol,
                extension,
                subject,
                upstream,
                path,
                ..
            } = &**open;
            obj.insert("type".into(), json!("open"));
            if let Some(url) = upstream {
                obj.insert("upstream".into(), json!(url));
            }
            obj.insert("subprotocol".into(), json!(subprotocol));
            obj.insert("extensions".into(), json!(extension));
            let key = if ev.client.is_some() { "peer" } else { "url" };
            obj.insert(key.into(), json!(peer));
            if let Some(path) = path {
                obj.insert("path".into(), json!(path));
            }
            if let Some(subject) = subject {
                obj.insert("subject".into(), json!(subject));
            }
        }
        // An end without a Close frame is reported as RFC 6455's 1006 (abnormal closure).
        Kind::Disconnected { reason } => match reason {
            Some(reason) => {
                obj.insert("type".into(), json!("close"));
                obj.insert("code".into(), json!(1006));
                obj.insert("reason".into(), json!(reason));
            }
            None => return,
        },
    }
    if ev.replayed {
        obj.insert("replayed".into(), json!(true));
    }
    // Serializing a map of strings and numbers cannot fail.
    let _ = serde_json::to_writer(&mut *out, &Value::Object(obj));
    out.push(b'\n');
}

fn rfc3339(ev: &Event, view: &View) -> String {
    use chrono::SecondsFormat;
    let utc = view.timestamps == Timestamps::Utc;
    super::zoned(ev.at, view).to_rfc3339_opts(SecondsFormat::Millis, utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CloseInfo;
    use std::time::{Duration, SystemTime};

    fn line(kind: Kind, dir: Dir, ts: Timestamps, client: Option<u64>) -> String {
        let view = View {
            timestamps: ts,
            show_ping_pong: false,
            pretty: false,
            wire_sizes: false,
            start: SystemTime::UNIX_EPOCH,
            utc_offset: 3600,
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
        let mut out = Vec::new();
        render(
            &Event {
                at,
                client,
                dir,
                kind,
                wire: None,
                replayed: false,
            },
            &view,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn data_frames() {
        assert_eq!(
            line(Kind::Text("hi \"x\"".into()), Dir::In, Timestamps::Utc, None),
            "{\"ts\":\"1970-01-01T00:00:01.500Z\",\"dir\":\"in\",\"type\":\"text\",\"data\":\"hi \\\"x\\\"\"}\n"
        );
        assert_eq!(
            line(
                Kind::Binary(vec![0, 255].into()),
                Dir::Out,
                Timestamps::None,
                Some(2)
            ),
            "{\"client\":2,\"dir\":\"out\",\"type\":\"binary\",\"data\":\"AP8=\"}\n"
        );
        assert!(
            line(Kind::Text("x".into()), Dir::In, Timestamps::Local, None)
                .starts_with("{\"ts\":\"1970-01-01T01:00:01.500+01:00\"")
        );
    }

    #[test]
    fn control_and_connection_events() {
        let none = Timestamps::None;
        assert_eq!(
            line(
                Kind::Close(CloseInfo::new(4001, "bye")),
                Dir::In,
                none,
                None
            ),
            "{\"dir\":\"in\",\"type\":\"close\",\"code\":4001,\"reason\":\"bye\"}\n"
        );
        assert_eq!(
            line(
                Kind::Pong {
                    data: b"a".to_vec(),
                    rtt: Some(Duration::from_millis(2))
                },
                Dir::In,
                none,
                None
            ),
            "{\"dir\":\"in\",\"type\":\"pong\",\"data\":\"YQ==\",\"rtt_ms\":2.0}\n"
        );
        assert_eq!(
            line(
                Kind::Open(Box::new(Opened {
                    peer: "ws://h/".into(),
                    subprotocol: None,
                    extension: Some("permessage-deflate".into()),
                    subject: None,
                    upstream: None,
                    ..Default::default()
                })),
                Dir::Out,
                none,
                None
            ),
            "{\"dir\":\"out\",\"type\":\"open\",\"subprotocol\":null,\"extensions\":\"permessage-deflate\",\"url\":\"ws://h/\"}\n"
        );
        assert_eq!(
            line(
                Kind::Disconnected {
                    reason: Some("reset".into())
                },
                Dir::In,
                none,
                None
            ),
            "{\"dir\":\"in\",\"type\":\"close\",\"code\":1006,\"reason\":\"reset\"}\n"
        );
        assert_eq!(
            line(Kind::Disconnected { reason: None }, Dir::In, none, None),
            ""
        );
    }
}
