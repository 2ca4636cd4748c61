//! The handshake policy of `wsx listen`: parse the upgrade request, decide, write the answer;
//! and the CGI-style environment of an `--exec` program.
//!
//! Pure: bytes in, a [`Decision`] and response bytes out. The I/O (the deadline, TLS, the
//! socket) is in [`super::handshake`]. Checks follow RFC 6455 section 4.2.1, then the
//! operator's [`Policy`].

use base64::Engine as _;

/// The operator's rules for who may connect (`server::gate` applies them).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Offered subprotocols, in order of preference.
    pub subprotocols: Vec<String>,
    /// Allowed browser origins; empty allows all.
    pub origins: Vec<String>,
    /// Required `user:pass` for Basic authentication.
    pub credentials: Option<String>,
    /// Most clients served at once.
    pub max_clients: Option<u64>,
    /// `--path`: the only paths that upgrade; empty allows every path.
    pub paths: Vec<String>,
    /// `-H`: extra headers of every 101 answer.
    pub headers: Vec<(String, String)>,
    /// Accept permessage-deflate when a client offers it (`--no-compression` declines).
    pub compression: bool,
}

#[cfg(test)]
impl Policy {
    /// A policy with no other rule than the subprotocols and these checks.
    pub fn new(
        subprotocols: Vec<String>,
        origins: Vec<String>,
        credentials: Option<&str>,
        max_clients: Option<u64>,
    ) -> Policy {
        Policy {
            subprotocols,
            origins,
            credentials: credentials.map(str::to_string),
            max_clients,
            paths: Vec::new(),
            headers: Vec::new(),
            compression: true,
        }
    }
}

/// The request line and headers of an HTTP request.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, in order, as received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The request as text for `-v`: the request line and each header on its own line, with
    /// credentials redacted and control characters escaped.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} {} HTTP/1.1",
            self.method,
            crate::term::escape(&self.path)
        );
        for (name, value) in &self.headers {
            let value = if name.eq_ignore_ascii_case("authorization") {
                "[redacted]"
            } else {
                value
            };
            out.push_str(&format!("\n{name}: {}", crate::term::escape(value)));
        }
        out
    }

    /// Whether this is a WebSocket upgrade request (a GET with `Upgrade: websocket`), as
    /// opposed to a plain HTTP request.
    pub fn is_upgrade(&self) -> bool {
        self.method == "GET"
            && self
                .tokens("upgrade")
                .any(|t| t.eq_ignore_ascii_case("websocket"))
    }

    /// Every value of a header, in order.
    fn values<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The comma-separated tokens of every occurrence of a header, trimmed.
    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// What the handshake knows besides the request, for [`cgi_env`].
pub struct Connection<'a> {
    pub peer: super::listener::Peer,
    /// The TCP port listened on; `None` on a Unix socket.
    pub server_port: Option<u16>,
    pub tls: bool,
    /// The subject of the client's certificate, under mutual TLS.
    pub subject: Option<&'a str>,
    /// `--pass-auth`: include the Authorization header.
    pub pass_auth: bool,
}

/// The CGI-style environment of an `--exec` program, as websocketd sets it: the connection,
/// the request line, and one `HTTP_*` variable per request header (Authorization only with
/// `--pass-auth`; repeated headers joined with ", ").
pub fn cgi_env(head: &Head, conn: &Connection<'_>) -> Vec<(String, String)> {
    let (path, query) = head.path.split_once('?').unwrap_or((&head.path, ""));
    let mut env = Vec::new();
    // A Unix socket's peer has no address, and the server no port.
    if let Some(addr) = conn.peer.addr() {
        env.push(("REMOTE_ADDR".to_string(), addr.ip().to_string()));
        env.push(("REMOTE_PORT".to_string(), addr.port().to_string()));
    }
    env.extend([
        ("REQUEST_METHOD".to_string(), head.method.clone()),
        ("REQUEST_URI".to_string(), head.path.clone()),
        ("PATH_INFO".to_string(), path.to_string()),
        ("QUERY_STRING".to_string(), query.to_string()),
        ("SERVER_PROTOCOL".to_string(), "HTTP/1.1".to_string()),
    ]);
    if let Some(port) = conn.server_port {
        env.push(("SERVER_PORT".to_string(), port.to_string()));
    }
    if conn.tls {
        env.push(("HTTPS".to_string(), "on".to_string()));
    }
    if let Some(subject) = conn.subject {
        env.push(("TLS_CLIENT_SUBJECT".to_string(), subject.to_string()));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("authorization") && !conn.pass_auth {
            continue;
        }
        let var = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        match headers.iter_mut().find(|(n, _)| *n == var) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => headers.push((var, value.clone())),
        }
    }
    env.extend(headers);
    env
}

/// The largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// Parses a request head from the start of `buf`: `Ok(None)` while it is incomplete,
/// otherwise the head and its length in bytes (what follows belongs to the WebSocket).
///
/// # Errors
/// The bytes are not an HTTP/1.x request.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let head = Head {
                method: req.method.unwrap_or_default().to_string(),
                path: req.path.unwrap_or_default().to_string(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("not an HTTP request ({e})")),
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Upgrade, answering with this `Sec-WebSocket-Accept`, subprotocol, extension and extra
    /// headers.
    Accept {
        accept_key: String,
        subprotocol: Option<String>,
        /// permessage-deflate, if the client offered it and the policy allows it.
        extension: Option<crate::deflate::Params>,
        headers: Vec<(String, String)>,
    },
    /// Refuse with an HTTP status; `why` is the one-line reason for the log.
    Reject {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        why: String,
    },
}

fn reject(status: u16, why: impl Into<String>) -> Decision {
    let why = why.into();
    Decision::Reject {
        status,
        headers: Vec::new(),
        body: format!("{why}\n"),
        why,
    }
}

/// Decides on a request. `clients` is how many clients are connected now.
pub fn decide(head: &Head, policy: &Policy, clients: u64) -> Decision {
    if !head.is_upgrade() {
        let mut decision = reject(
            426,
            "this is a WebSocket endpoint: connect with a WebSocket client",
        );
        if let Decision::Reject { headers, why, .. } = &mut decision {
            headers.push(("Upgrade", "websocket".into()));
            headers.push(("Sec-WebSocket-Version", "13".into()));
            *why = format!("not a WebSocket request ({} {})", head.method, head.path);
        }
        return decision;
    }
    let path = head.path.split('?').next().unwrap_or_default();
    if !policy.paths.is_empty() && !policy.paths.iter().any(|p| p == path) {
        return reject(404, format!("no WebSocket endpoint at {path}"));
    }
    if !head
        .tokens("connection")
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
    {
        return reject(400, "the Connection header lacks \"upgrade\"");
    }
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        let mut decision = reject(426, "only WebSocket version 13 is supported");
        if let Decision::Reject { headers, .. } = &mut decision {
            headers.push(("Sec-WebSocket-Version", "13".into()));
        }
        return decision;
    }
    let Some(key) = head.header("sec-websocket-key").map(str::trim) else {
        return reject(400, "Sec-WebSocket-Key is missing");
    };
    let key_ok = base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|k| k.len() == 16);
    if !key_ok {
        return reject(400, "Sec-WebSocket-Key is not 16 bytes of base64");
    }
    if !policy.origins.is_empty() {
        if let Some(origin) = head.header("origin") {
            if !policy
                .origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin.trim()))
            {
                return reject(403, format!("origin {origin} is not allowed"));
            }
        }
    }
    if let Some(expected) = &policy.credentials {
        if !basic_matches(head.header("authorization"), expected) {
            let mut decision = reject(401, "authentication required");
            if let Decision::Reject { headers, .. } = &mut decision {
                headers.push(("WWW-Authenticate", "Basic realm=\"wsx\"".into()));
            }
            return decision;
        }
    }
    if policy.max_clients.is_some_and(|max| clients >= max) {
        return reject(503, format!("the server is full ({clients} clients)"));
    }
    let wanted: Vec<&str> = head.tokens("sec-websocket-protocol").collect();
    let subprotocol = policy
        .subprotocols
        .iter()
        .find(|offered| wanted.contains(&offered.as_str()))
        .cloned();
    let extension = policy
        .compression
        .then(|| crate::deflate::accept(&head.values("sec-websocket-extensions")))
        .flatten();
    Decision::Accept {
        accept_key: tungstenite::handshake::derive_accept_key(key.as_bytes()),
        subprotocol,
        extension,
        headers: policy.headers.clone(),
    }
}

/// The refusal of a request head larger than [`MAX_HEAD`].
pub fn too_large() -> Decision {
    reject(
        431,
        format!("the request head is over {} KiB", MAX_HEAD / 1024),
    )
}

/// Whether an `Authorization` header carries Basic credentials equal to `expected`.
fn basic_matches(header: Option<&str>, expected: &str) -> bool {
    let Some((scheme, encoded)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("basic")
        && base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .is_ok_and(|given| given == expected.as_bytes())
}

/// The headers of a 101 answer for an accepted request (none for a refusal), in order.
pub fn accept_headers(decision: &Decision) -> Vec<(String, String)> {
    let Decision::Accept {
        accept_key,
        subprotocol,
        extension,
        headers,
    } = decision
    else {
        return Vec::new();
    };
    let mut all = vec![
        ("Upgrade".to_string(), "websocket".to_string()),
        ("Connection".to_string(), "Upgrade".to_string()),
        ("Sec-WebSocket-Accept".to_string(), accept_key.clone()),
    ];
    all.extend(
        subprotocol
            .clone()
            .map(|p| ("Sec-WebSocket-Protocol".to_string(), p)),
    );
    all.extend(extension.map(|e| ("Sec-WebSocket-Extensions".to_string(), e.to_string())));
    all.extend(headers.iter().cloned());
    all
}

/// The bytes of the HTTP response for a decision.
pub fn response(decision: &Decision) -> Vec<u8> {
    match decision {
        Decision::Accept { .. } => {
            let all = accept_headers(decision);
            let all: Vec<(&str, &str)> =
                all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            response_head(101, &all).into_bytes()
        }
        Decision::Reject {
            status,
            headers,
            body,
            ..
        } => {
            let len = body.len().to_string();
            let mut all: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            all.extend([
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &len),
                ("Connection", "close"),
            ]);
            let mut out = response_head(*status, &all);
            out.push_str(body);
            out.into_bytes()
        }
    }
}

/// An HTTP/1.1 response head: the status line with the status's reason phrase (`http`'s
/// `StatusCode`), each header, and the empty line.
pub fn response_head(status: u16, headers: &[(&str, &str)]) -> String {
    let reason = tungstenite::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(extra: &str) -> Head {
        let text = format!(
            "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        let (head, len) = parse_head(text.as_bytes()).unwrap().unwrap();
        assert_eq!(len, text.len());
        head
    }

    fn status(d: &Decision) -> u16 {
        match d {
            Decision::Accept { .. } => 101,
            Decision::Reject { status, .. } => *status,
        }
    }

    #[test]
    fn a_valid_request_is_accepted_with_the_rfc_accept_key() {
        let d = decide(&request(""), &Policy::default(), 0);
        // The example of RFC 6455 section 1.3.
        let expected = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert_eq!(
            d,
            Decision::Accept {
                accept_key: expected.into(),
                subprotocol: None,
                extension: None,
                headers: vec![],
            }
        );
        let bytes = String::from_utf8(response(&d)).unwrap();
        assert!(bytes.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(bytes.contains(&format!("Sec-WebSocket-Accept: {expected}\r\n")));
    }

    #[test]
    fn paths_limit_where_upgrades_happen_and_headers_join_the_101() {
        let policy = Policy {
            paths: vec!["/ws".into(), "/chat".into()],
            headers: vec![("X-Server".into(), "mock".into())],
            ..Policy::default()
        };
        let at = |path: &str| {
            let text = format!(
                "GET {path} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
            );
            decide(&parse_head(text.as_bytes()).unwrap().unwrap().0, &policy, 0)
        };
        assert!(matches!(at("/other"), Decision::Reject { status: 404, .. }));
        let d = at("/ws?token=1");
        assert!(matches!(d, Decision::Accept { .. }));
        let bytes = String::from_utf8(response(&d)).unwrap();
        assert!(bytes.contains("X-Server: mock\r\n"), "{bytes}");
    }

    #[test]
    fn the_cgi_environment_has_the_request_and_its_headers() {
        let text = "GET /chat/room?user=ann&x=1 HTTP/1.1\r\nHost: h:8080\r\nX-Trace-Id: t1\r\nAccept: a\r\nAccept: b\r\nAuthorization: Basic c2VjcmV0\r\n\r\n";
        let head = parse_head(text.as_bytes()).unwrap().unwrap().0;
        let mut conn = Connection {
            peer: super::super::listener::Peer::Tcp("10.1.2.3:5555".parse().unwrap()),
            server_port: Some(8080),
            tls: true,
            subject: Some("CN=ann"),
            pass_auth: false,
        };
        let env = cgi_env(&head, &conn);
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("REMOTE_ADDR"), Some("10.1.2.3"));
        assert_eq!(get("REMOTE_PORT"), Some("5555"));
        assert_eq!(get("REQUEST_URI"), Some("/chat/room?user=ann&x=1"));
        assert_eq!(get("PATH_INFO"), Some("/chat/room"));
        assert_eq!(get("QUERY_STRING"), Some("user=ann&x=1"));
        assert_eq!(get("SERVER_PORT"), Some("8080"));
        assert_eq!(get("HTTPS"), Some("on"));
        assert_eq!(get("TLS_CLIENT_SUBJECT"), Some("CN=ann"));
        assert_eq!(get("HTTP_HOST"), Some("h:8080"));
        assert_eq!(get("HTTP_X_TRACE_ID"), Some("t1"));
        assert_eq!(get("HTTP_ACCEPT"), Some("a, b"));
        assert_eq!(get("HTTP_AUTHORIZATION"), None, "only with --pass-auth");
        conn.pass_auth = true;
        let env = cgi_env(&head, &conn);
        assert!(env.contains(&("HTTP_AUTHORIZATION".into(), "Basic c2VjcmV0".into())));
    }

    #[test]
    fn verbose_description_redacts_credentials() {
        let head = request("Authorization: Basic c2VjcmV0\r\n");
        let text = head.describe();
        assert!(text.starts_with("GET /chat HTTP/1.1\nHost: h\n"), "{text}");
        assert!(
            text.contains("Authorization: [redacted]") && !text.contains("c2VjcmV0"),
            "{text}"
        );
    }

    #[test]
    fn incomplete_and_malformed_heads() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n")
            .unwrap()
            .is_none());
        assert!(parse_head(b"\x16\x03\x01 binary junk").is_err());
    }

    #[test]
    fn plain_http_gets_426() {
        let (head, _) = parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        let d = decide(&head, &Policy::default(), 0);
        assert_eq!(status(&d), 426);
        let bytes = String::from_utf8(response(&d)).unwrap();
        assert!(
            bytes.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{bytes}"
        );
        assert!(bytes.contains("Upgrade: websocket\r\n"));
    }

    #[test]
    fn broken_upgrades_are_refused() {
        let mut head = request("");
        head.headers.retain(|(n, _)| n != "Sec-WebSocket-Key");
        assert_eq!(status(&decide(&head, &Policy::default(), 0)), 400);
        let mut head = request("");
        head.headers.retain(|(n, _)| n != "Sec-WebSocket-Version");
        assert_eq!(status(&decide(&head, &Policy::default(), 0)), 426);
    }

    #[test]
    fn origins() {
        let policy = Policy::new(vec![], vec!["http://localhost:3000".into()], None, None);
        assert_eq!(
            status(&decide(
                &request("Origin: http://localhost:3000\r\n"),
                &policy,
                0
            )),
            101
        );
        assert_eq!(
            status(&decide(
                &request("Origin: http://evil.example\r\n"),
                &policy,
                0
            )),
            403
        );
        assert_eq!(
            status(&decide(&request(""), &policy, 0)),
            101,
            "no Origin: not a browser"
        );
    }

    #[test]
    fn basic_auth() {
        let policy = Policy::new(vec![], vec![], Some("alice:s3cret"), None);
        assert_eq!(status(&decide(&request(""), &policy, 0)), 401);
        let good = format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
        );
        assert_eq!(status(&decide(&request(&good), &policy, 0)), 101);
        let bad = format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode("alice:nope")
        );
        let d = decide(&request(&bad), &policy, 0);
        assert_eq!(status(&d), 401);
        assert!(String::from_utf8(response(&d))
            .unwrap()
            .contains("WWW-Authenticate: Basic"));
    }

    #[test]
    fn capacity() {
        let policy = Policy::new(vec![], vec![], None, Some(2));
        assert_eq!(status(&decide(&request(""), &policy, 1)), 101);
        assert_eq!(status(&decide(&request(""), &policy, 2)), 503);
    }

    #[test]
    fn the_first_offered_subprotocol_the_client_wants_is_chosen() {
        let policy = Policy::new(vec!["v2".into(), "v1".into()], vec![], None, None);
        let pick = |extra: &str| match decide(&request(extra), &policy, 0) {
            Decision::Accept { subprotocol, .. } => subprotocol,
            d => panic!("{d:?}"),
        };
        assert_eq!(
            pick("Sec-WebSocket-Protocol: v1, v2\r\n"),
            Some("v2".into())
        );
        assert_eq!(pick("Sec-WebSocket-Protocol: v1\r\n"), Some("v1".into()));
        assert_eq!(pick("Sec-WebSocket-Protocol: v3\r\n"), None);
        assert_eq!(pick(""), None);
    }
}
