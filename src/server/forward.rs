//! `wsx listen --forward URL`: before a client's handshake is answered, dial its own upstream
//! connection with connect's dialer ([`crate::client::Dialer`]), and turn what the upstream
//! said into the client's answer: its subprotocol on a 101, or its refusal as it came.
//!
//! Runs on the client's handshake thread; the relaying itself is [`super::serve`]'s.

use std::time::Instant;

use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::WebSocket;
use url::Url;

use super::gate::{Decision, Head};
use crate::client::{Dialed, Dialer};
use crate::stream::Wire;

/// Request headers that belong to one hop (the handshake, or HTTP framing), never passed on.
const HOP_HEADERS: [&str; 13] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "te",
    "trailer",
    "proxy-authorization",
];

/// Headers of an upstream's refusal that reach the client with its status and body.
const PASSED_ON: [&str; 2] = ["www-authenticate", "location"];

/// The upstream side of one relayed client.
pub struct Upstream {
    pub ws: WebSocket<Wire>,
    /// The URL dialled, for the `open` event.
    pub url: Url,
    /// The subprotocol the upstream chose, which the client's 101 names.
    pub subprotocol: Option<String>,
}

/// Where the relay dials: the `--forward` URL and the dialer made for it (its TLS set up once,
/// at start-up).
pub struct Forward {
    dialer: Dialer,
    /// `--forward-timeout`, to tell a timeout (504) from a failure (502).
    limit: std::time::Duration,
}

impl Forward {
    /// # Errors
    /// The TLS configuration for a `wss://` upstream cannot be made (a bad `--forward-ca`).
    pub fn new(settings: crate::client::Settings) -> anyhow::Result<Forward> {
        let limit = settings
            .connect_timeout
            .unwrap_or(std::time::Duration::from_secs(10));
        let dialer = Dialer::new(settings);
        dialer.prepare()?;
        Ok(Forward { dialer, limit })
    }

    /// Dials the upstream for a client's request `head`: `Ok` with the upstream connection,
    /// or the answer the client gets instead (the upstream's refusal as it came, 502 when it
    /// cannot be reached, 504 when it does not answer in time).
    pub fn dial(&self, head: &Head) -> Result<Upstream, Decision> {
        let url = target(&self.dialer.settings().url, &head.path)
            .map_err(|why| refusal(400, why, String::new(), Vec::new()))?;
        let headers = passed_headers(head);
        let dialer = self.dialer.retarget(url.clone(), headers);
        let started = Instant::now();
        match dialer.handshake() {
            Ok(Dialed::Open(open)) => {
                let (ws, response) = *open;
                Ok(Upstream {
                    ws,
                    url,
                    subprotocol: crate::client::chosen_subprotocol(&response),
                })
            }
            Ok(Dialed::Redirect {
                rejection,
                response,
                ..
            })
            | Ok(Dialed::Refused {
                rejection,
                response,
            }) => {
                let headers = PASSED_ON
                    .iter()
                    .filter_map(|&name| {
                        let value = response.headers().get(name)?.to_str().ok()?;
                        Some((name, value.to_string()))
                    })
                    .collect();
                let body = response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Err(refusal(
                    response.status().as_u16(),
                    format!("the upstream {url} refused: {rejection}"),
                    body,
                    headers,
                ))
            }
            Err(e) => {
                let status = if started.elapsed() >= self.limit {
                    504
                } else {
                    502
                };
                let why = format!("upstream {url}: {e:#}");
                Err(refusal(status, why.clone(), format!("{why}\n"), Vec::new()))
            }
        }
    }
}

fn refusal(
    status: u16,
    why: String,
    body: String,
    headers: Vec<(&'static str, String)>,
) -> Decision {
    let body = if body.is_empty() && headers.is_empty() && status == 400 {
        format!("{why}\n")
    } else {
        body
    };
    Decision::Reject {
        status,
        headers,
        body,
        why,
    }
}

/// The URL a client's request target `path` (path and query) is relayed to: `base`'s path
/// with the client's appended, one slash between, and the two queries joined with `&`.
///
/// # Errors
/// The result is not a URL (the request target was not a path).
pub fn target(base: &Url, path: &str) -> Result<Url, String> {
    let (client_path, client_query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    if !client_path.starts_with('/') {
        return Err(format!("the request target {path} is not a path"));
    }
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        client_path.trim_start_matches('/')
    );
    url.set_path(&joined);
    let query = match (base.query().filter(|q| !q.is_empty()), client_query) {
        (Some(a), Some(b)) if !b.is_empty() => Some(format!("{a}&{b}")),
        (Some(a), _) => Some(a.to_string()),
        (None, b) => b.map(str::to_string),
    };
    url.set_query(query.as_deref());
    Ok(url)
}

/// The client's end-to-end request headers, for the upstream: everything but what belongs to
/// one hop (the handshake's own headers; the dialer sets them for its leg). The client's
/// offered subprotocols go as they came.
fn passed_headers(head: &Head) -> Vec<(HeaderName, HeaderValue)> {
    head.headers()
        .iter()
        .filter(|(name, _)| !HOP_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)))
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let value = HeaderValue::from_str(value).ok()?;
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(base: &str, path: &str) -> String {
        target(&Url::parse(base).unwrap(), path)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_client_path_and_query_are_appended() {
        assert_eq!(
            join("ws://backend:9000", "/feed/7?room=blue"),
            "ws://backend:9000/feed/7?room=blue"
        );
        assert_eq!(join("ws://b/api", "/feed"), "ws://b/api/feed");
        assert_eq!(join("ws://b/api/", "/feed"), "ws://b/api/feed");
        assert_eq!(
            join("ws://b/api?k=1", "/feed?room=2"),
            "ws://b/api/feed?k=1&room=2"
        );
        assert_eq!(join("ws://b/api?k=1", "/feed"), "ws://b/api/feed?k=1");
        assert_eq!(join("wss://b/", "/"), "wss://b/");
        assert!(target(&Url::parse("ws://b/").unwrap(), "http://evil/").is_err());
    }

    #[test]
    fn only_end_to_end_headers_are_passed_on() {
        let text = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Protocol: chat, v2\r\nAuthorization: Bearer t\r\nCookie: a=1\r\nOrigin: http://o\r\nUser-Agent: ua\r\nX-Custom: yes\r\n\r\n";
        let (head, _) = super::super::gate::parse_head(text.as_bytes())
            .unwrap()
            .unwrap();
        let names: Vec<String> = passed_headers(&head)
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "sec-websocket-protocol",
                "authorization",
                "cookie",
                "origin",
                "user-agent",
                "x-custom"
            ]
        );
    }
}
