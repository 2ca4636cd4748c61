//! `wsx listen --forward TARGET`: before a client's handshake is answered, open its own
//! upstream connection, and turn what the upstream said into the client's answer. A
//! WebSocket upstream is dialled with connect's dialer ([`crate::client::Dialer`]): its
//! subprotocol goes on the client's 101, its refusal to the client as it came. A TCP or Unix
//! socket upstream (the bridge) is connected to, or the client gets 502/504.
//!
//! Runs on the client's handshake thread; the relaying itself is [`super::serve`]'s.

use std::time::{Duration, Instant};

use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::WebSocket;
use url::Url;

use super::gate::{Decision, Head};
use crate::client::{Dialed, Dialer};
use crate::stream::{Transport, Wire};

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

/// `--forward`'s value, as the command line gives it.
#[derive(Debug, Clone)]
pub enum ForwardTarget {
    WebSocket(Url),
    Bytes(BytesTarget),
}

/// The other end of a bridge: `tcp:HOST:PORT` or `unix:PATH`.
#[derive(Debug, Clone)]
pub enum BytesTarget {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for BytesTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BytesTarget::Tcp(host, port) if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            BytesTarget::Tcp(host, port) => write!(f, "tcp:{host}:{port}"),
            BytesTarget::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `--forward`, resolved: connect's settings for a WebSocket upstream, or a bridge's target.
#[derive(Debug, Clone)]
pub enum Settings {
    WebSocket(Box<crate::client::Settings>),
    Bytes {
        target: BytesTarget,
        /// `--forward-timeout`.
        timeout: Duration,
    },
}

/// The upstream side of one relayed client.
pub enum Upstream {
    WebSocket {
        ws: Box<WebSocket<Wire>>,
        /// The URL dialled, for the `open` event.
        url: Url,
        /// The subprotocol the upstream chose, which the client's 101 names.
        subprotocol: Option<String>,
    },
    /// A bridge's byte stream (blocking until the server takes it over).
    Bytes { stream: Transport, target: String },
}

impl Upstream {
    /// What the `open` event names.
    pub fn name(&self) -> String {
        match self {
            Upstream::WebSocket { url, .. } => url.to_string(),
            Upstream::Bytes { target, .. } => target.clone(),
        }
    }
}

/// Where the relay dials: the dialer made for the `--forward` URL (its TLS set up once, at
/// start-up), or the bridge's target.
pub enum Forward {
    WebSocket {
        dialer: Box<Dialer>,
        /// `--forward-timeout`, to tell a timeout (504) from a failure (502).
        limit: Duration,
    },
    Bytes {
        target: BytesTarget,
        limit: Duration,
    },
}

impl Forward {
    /// # Errors
    /// The TLS configuration for a `wss://` upstream cannot be made (a bad `--forward-ca`).
    pub fn new(settings: Settings) -> anyhow::Result<Forward> {
        match settings {
            Settings::WebSocket(settings) => {
                let limit = settings.connect_timeout.unwrap_or(Duration::from_secs(10));
                let dialer = Box::new(Dialer::new(*settings));
                dialer.prepare()?;
                Ok(Forward::WebSocket { dialer, limit })
            }
            Settings::Bytes { target, timeout } => Ok(Forward::Bytes {
                target,
                limit: timeout,
            }),
        }
    }

    /// Opens the upstream for a client's request `head`: `Ok` with the upstream connection,
    /// or the answer the client gets instead (a WebSocket upstream's refusal as it came, 502
    /// when the upstream cannot be reached, 504 when it does not answer in time).
    pub fn dial(&self, head: &Head) -> Result<Upstream, Decision> {
        match self {
            Forward::WebSocket { dialer, limit } => dial_websocket(dialer, *limit, head),
            Forward::Bytes { target, limit } => open_bytes(target, *limit),
        }
    }
}

/// Connects a bridge's TCP or Unix socket within `limit`.
fn open_bytes(target: &BytesTarget, limit: Duration) -> Result<Upstream, Decision> {
    let started = Instant::now();
    let failed = |e: std::io::Error| {
        let status = if started.elapsed() >= limit || e.kind() == std::io::ErrorKind::TimedOut {
            504
        } else {
            502
        };
        let why = format!("upstream {target}: {e}");
        refusal(
            status,
            why.clone(),
            format!(
                "{why}
"
            ),
            Vec::new(),
        )
    };
    let stream = match target {
        BytesTarget::Tcp(host, port) => {
            let addrs =
                crate::client::resolve::resolve(host, *port, Some(limit)).map_err(failed)?;
            let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
            let mut connected = None;
            for addr in addrs {
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    last = std::io::ErrorKind::TimedOut.into();
                    break;
                }
                match std::net::TcpStream::connect_timeout(&addr, left) {
                    Ok(tcp) => {
                        connected = Some(tcp);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            Transport::from(connected.ok_or(last).map_err(failed)?)
        }
        #[cfg(unix)]
        BytesTarget::Unix(path) => {
            Transport::from(std::os::unix::net::UnixStream::connect(path).map_err(failed)?)
        }
        #[cfg(not(unix))]
        BytesTarget::Unix(_) => {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "Unix sockets are not supported on this platform",
            )))
        }
    };
    Ok(Upstream::Bytes {
        stream,
        target: target.to_string(),
    })
}

/// Dials a WebSocket upstream for the client's request `head`.
fn dial_websocket(dialer: &Dialer, limit: Duration, head: &Head) -> Result<Upstream, Decision> {
    let url = target(&dialer.settings().url, &head.path)
        .map_err(|why| refusal(400, why.clone(), format!("{why}\n"), Vec::new()))?;
    let headers = passed_headers(head);
    let dialer = dialer.retarget(url.clone(), headers, offers_deflate(head));
    let started = Instant::now();
    match dialer.handshake() {
        Ok(Dialed::Open(open)) => {
            let (ws, response) = *open;
            Ok(Upstream::WebSocket {
                ws: Box::new(ws),
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
            let status = if started.elapsed() >= limit { 504 } else { 502 };
            let why = format!("upstream {url}: {e:#}");
            Err(refusal(status, why.clone(), format!("{why}\n"), Vec::new()))
        }
    }
}

fn refusal(
    status: u16,
    why: String,
    body: String,
    headers: Vec<(&'static str, String)>,
) -> Decision {
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

/// Whether the client offered permessage-deflate that the gate accepts: the upstream is
/// offered it only then, so that it compresses for the relay just as it would for the client
/// (compressing small messages costs more than relaying them, for a client that never asked).
fn offers_deflate(head: &Head) -> bool {
    let values: Vec<&str> = head
        .headers()
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, value)| value.as_str())
        .collect();
    crate::deflate::accept(&values).is_some()
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

    #[test]
    fn the_upstream_is_offered_deflate_only_when_the_client_offered_it() {
        let offers = |extensions: &str| {
            let text = format!("GET / HTTP/1.1\r\nHost: h\r\n{extensions}\r\n");
            let (head, _) = super::super::gate::parse_head(text.as_bytes())
                .unwrap()
                .unwrap();
            offers_deflate(&head)
        };
        assert!(offers(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        ));
        assert!(offers(
            "sec-websocket-extensions: x-webkit, permessage-deflate\r\n"
        ));
        assert!(offers(
            "Sec-WebSocket-Extensions: x-other\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
        ));
        assert!(!offers(""));
        assert!(!offers("Sec-WebSocket-Extensions: permessage-deflater\r\n"));
    }
}
