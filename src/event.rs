//! What happened on a connection, as plain data: the formatters turn it into bytes.
//!
//! An [`Event`] is stamped when it is created; nothing downstream reads a clock.

use std::time::{Duration, SystemTime};

use tungstenite::Message;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Received from the peer.
    In,
    /// Sent by us.
    Out,
}

/// One thing worth showing: a frame in or out, or a change of connection state.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened.
    pub at: SystemTime,
    /// The server's id for the client, `None` for `wsx connect`.
    pub client: Option<u64>,
    pub dir: Dir,
    pub kind: Kind,
    /// A data message that went or came compressed (permessage-deflate): its size on the wire.
    pub wire: Option<usize>,
    /// `--replay`: the message was played from a recording.
    pub replayed: bool,
}

/// A completed handshake, for [`Kind::Open`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opened {
    /// The URL (client) or the peer address (server).
    pub peer: String,
    pub subprotocol: Option<String>,
    /// The extension agreed on (`permessage-deflate; …`), as the server stated it.
    pub extension: Option<String>,
    /// Server, mutual TLS: the subject of the client's certificate.
    pub subject: Option<String>,
    /// Server and tunnel: the URL (or `tcp:…`) the connection is relayed to.
    pub upstream: Option<String>,
    /// Server: the request's target, its path and query (`/chat?room=1`).
    pub path: Option<String>,
    /// The handshake's HTTP exchange, for `--record` (HAR keeps its headers).
    pub exchange: Option<Exchange>,
}

/// The HTTP request and response of a handshake, as they went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The request's URL, `ws://host/path?query` (a server makes it from the Host header).
    pub url: String,
    pub request: Vec<(String, String)>,
    pub response: Vec<(String, String)>,
}

/// The payload of an [`Event`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Text and binary payloads share tungstenite's buffers: no copy between the socket, the
    /// formatters and the frame that goes out.
    Text(tungstenite::Utf8Bytes),
    Binary(tungstenite::Bytes),
    Ping(Vec<u8>),
    /// A pong; `rtt` is set when it answers a ping we sent.
    Pong {
        data: Vec<u8>,
        rtt: Option<Duration>,
    },
    Close(CloseInfo),
    /// The handshake completed (boxed: it is rare, and every other event is moved around
    /// without its five strings).
    Open(Box<Opened>),
    /// The connection is gone; `reason` says why when it ended badly.
    Disconnected {
        reason: Option<String>,
    },
}

impl Kind {
    /// What a received message shows as (`None` for a raw frame, which reading never yields).
    pub fn of(msg: &Message) -> Option<Kind> {
        Some(match msg {
            Message::Text(t) => Kind::Text(t.clone()),
            Message::Binary(b) => Kind::Binary(b.clone()),
            Message::Ping(p) => Kind::Ping(p.to_vec()),
            Message::Pong(p) => Kind::Pong {
                data: p.to_vec(),
                rtt: None,
            },
            Message::Close(frame) => Kind::Close(frame.as_ref().map_or(
                CloseInfo {
                    code: None,
                    reason: String::new(),
                },
                |f| CloseInfo::new(f.code.into(), f.reason.as_str()),
            )),
            Message::Frame(_) => return None,
        })
    }

    /// Whether this is a control frame (ping or pong), shown in human format only with `-P`.
    pub fn is_ping_pong(&self) -> bool {
        matches!(self, Kind::Ping(_) | Kind::Pong { .. })
    }

    /// Whether this is a data frame (text or binary).
    pub fn is_data(&self) -> bool {
        matches!(self, Kind::Text(_) | Kind::Binary(_))
    }
}

/// The code and reason of a Close frame; `code` is `None` for a Close with an empty body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: Option<u16>,
    pub reason: String,
}

impl CloseInfo {
    /// A Close frame with a code and reason.
    pub fn new(code: u16, reason: impl Into<String>) -> CloseInfo {
        CloseInfo {
            code: Some(code),
            reason: reason.into(),
        }
    }

    /// Whether this close ends a session normally: 1000, 1001, or no code at all.
    pub fn is_normal(&self) -> bool {
        matches!(self.code, None | Some(1000) | Some(1001))
    }

    /// `4001 "bad token"`, `1000 normal`, or `no status code`: the reason as it came, in
    /// quotes, with control characters escaped (it comes from the peer).
    pub fn describe(&self) -> String {
        let Some(code) = self.code else {
            return "no status code".to_string();
        };
        let mut text = code.to_string();
        let name = code_name(code);
        if !name.is_empty() {
            text.push(' ');
            text.push_str(name);
        }
        if !self.reason.is_empty() {
            text.push_str(" \"");
            text.push_str(&crate::term::escape(&self.reason));
            text.push('"');
        }
        text
    }
}

/// The RFC 6455 (section 7.4.1) and IANA name of a close code, or "" when it has none.
pub fn code_name(code: u16) -> &'static str {
    match code {
        1000 => "normal",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1005 => "no status",
        1006 => "abnormal",
        1007 => "invalid data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "extension required",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "tls handshake",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_descriptions() {
        assert_eq!(CloseInfo::new(1000, "").describe(), "1000 normal");
        assert_eq!(CloseInfo::new(4001, "").describe(), "4001");
        assert_eq!(
            CloseInfo::new(4001, "bad token").describe(),
            "4001 \"bad token\""
        );
        assert_eq!(
            CloseInfo::new(1008, "no").describe(),
            "1008 policy violation \"no\""
        );
        assert_eq!(
            CloseInfo {
                code: None,
                reason: String::new()
            }
            .describe(),
            "no status code"
        );
    }

    #[test]
    fn close_reasons_are_kept_as_they_came_and_escaped() {
        assert_eq!(CloseInfo::new(4000, "a  b").describe(), "4000 \"a  b\"");
        assert_eq!(
            CloseInfo::new(1001, " x ").describe(),
            "1001 going away \" x \""
        );
        assert_eq!(
            CloseInfo::new(4000, "\x1b[2J").describe(),
            "4000 \"\\x1b[2J\""
        );
    }

    #[test]
    fn normal_codes() {
        assert!(CloseInfo::new(1000, "").is_normal());
        assert!(CloseInfo::new(1001, "").is_normal());
        assert!(CloseInfo {
            code: None,
            reason: String::new()
        }
        .is_normal());
        assert!(!CloseInfo::new(1011, "").is_normal());
    }
}
