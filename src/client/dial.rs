//! Dialing for `wsx connect`: TCP (directly, through an HTTP CONNECT or SOCKS5 proxy, or a
//! Unix socket), TLS for wss://, the WebSocket handshake with the request's headers and
//! cookies, and redirects with `-L`. Blocking, all of it by one [`Deadline`]; the session
//! ([`super::session`]) takes over the finished WebSocket.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{Request, Response};
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error as WsError, WebSocket};
use url::Url;

use super::proxy;
use super::Settings;
use crate::deflate;
use crate::error::Failure;
use crate::stream::{Socket, Stream, Transport, Wire};
use crate::tls;

/// How long connecting and the handshake may take when `--connect-timeout` is not given.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a dial gives: the WebSocket and the server's handshake response.
pub type Attempt = Result<(WebSocket<Wire>, Response)>;

/// Dials for one run: the settings, and the TLS configuration, made at most once (the first
/// time a `wss://` URL is dialled), however many attempts and redirects follow. Shared with
/// the thread that dials again for `--reconnect`.
pub struct Dialer {
    settings: Settings,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
}

impl Dialer {
    pub fn new(settings: Settings) -> Dialer {
        Dialer {
            settings,
            tls: OnceLock::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Opens the TCP connection, runs TLS for `wss://`, and performs the WebSocket handshake.
    ///
    /// # Errors
    /// [`Failure::Connect`] for resolution, TCP, TLS and I/O failures; [`Failure::Rejected`]
    /// when the server answers with anything but a valid 101.
    pub fn dial(&self) -> Attempt {
        dial(self)
    }

    /// A dialer for another URL and request headers with the same settings otherwise, and
    /// the TLS configuration already made (`wsx listen --forward`: one per client), offering
    /// compression only if these settings do and `compression` says so.
    pub fn retarget(
        &self,
        url: Url,
        headers: Vec<(HeaderName, HeaderValue)>,
        compression: bool,
    ) -> Dialer {
        let tls = OnceLock::new();
        if let Some(config) = self.tls.get() {
            let _ = tls.set(config.clone());
        }
        Dialer {
            settings: Settings {
                url,
                headers,
                compression: self.settings.compression && compression,
                ..self.settings.clone()
            },
            tls,
        }
    }

    /// Makes the TLS configuration now, if the URL needs one: a bad `--ca` file is an error
    /// before anything is dialled.
    ///
    /// # Errors
    /// The configuration could not be made.
    pub fn prepare(&self) -> Result<()> {
        if self.settings.url.scheme() == "wss" {
            self.tls_config()?;
        }
        Ok(())
    }

    /// One handshake with the settings' URL, redirects not followed, by the settings'
    /// connect timeout: what the relay needs to pass a refusal on as it came.
    ///
    /// # Errors
    /// As for [`Dialer::dial`], except that an HTTP answer other than 101 is a [`Dialed`].
    pub fn handshake(&self) -> Result<Dialed> {
        let limit = self
            .settings
            .connect_timeout
            .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
        dial_once(self, &self.settings.url, Deadline::new(limit))
    }

    /// The TLS configuration, made (and `-k` warned about) the first time it is needed.
    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        if let Some(config) = self.tls.get() {
            return Ok(config.clone());
        }
        let s = &self.settings;
        if s.tls.insecure && !s.console.quiet {
            crate::diag::say("wsx: warning: --insecure: the server's certificate is not verified");
        }
        let config = tls::client_config(&s.tls)?;
        Ok(self.tls.get_or_init(|| config).clone())
    }
}

fn dial(dialer: &Dialer) -> Attempt {
    let s = &dialer.settings;
    let deadline = Deadline::new(s.connect_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT));
    let mut url = s.url.clone();
    let mut visited = vec![url.clone()];
    loop {
        match dial_once(dialer, &url, deadline)? {
            Dialed::Open(open) => return Ok(*open),
            Dialed::Refused { rejection, .. } => {
                return Err(
                    Failure::Rejected(format!("handshake rejected by {url}: {rejection}")).into(),
                )
            }
            Dialed::Redirect {
                location,
                rejection,
                ..
            } => {
                if !s.follow_redirects {
                    let hint = format!("{rejection} (use -L to follow it to {location})");
                    return Err(
                        Failure::Rejected(format!("handshake rejected by {url}: {hint}")).into(),
                    );
                }
                let next = redirect_target(&url, &location)?;
                if visited.contains(&next) {
                    return Err(Failure::Rejected(format!(
                        "redirect loop: {url} sends us back to {next}"
                    ))
                    .into());
                }
                if visited.len() > s.max_redirects {
                    let max = s.max_redirects;
                    return Err(Failure::Rejected(format!(
                        "too many redirects (--max-redirects {max}); the last one to {next}"
                    ))
                    .into());
                }
                if s.console.verbose {
                    crate::diag::say(&format!("wsx: {rejection}: following to {next}"));
                }
                visited.push(next.clone());
                url = next;
            }
        }
    }
}

/// When a dial must be done by: `--connect-timeout` (bounded by `--max-time`) after it
/// began, for everything (name resolution, TCP, the proxy, TLS, the handshake and every
/// redirect), however slowly a peer answers.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    /// The whole time allowed, for messages.
    limit: Duration,
}

impl Deadline {
    fn new(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    /// The time left; `None` once it has passed.
    fn left(&self) -> Option<Duration> {
        self.at
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// `failed` as it is, or, when the deadline has passed (which is why it failed), "`what`
    /// within N s".
    fn explain(&self, failed: anyhow::Error, what: impl FnOnce() -> String) -> anyhow::Error {
        if self.left().is_some() {
            return failed;
        }
        let secs = self.limit.as_secs_f64();
        Failure::Connect(format!("{} within {secs}s", what())).into()
    }
}

/// The outcome of one handshake attempt.
pub enum Dialed {
    Open(Box<(WebSocket<Wire>, Response)>),
    /// A 3xx with a Location; `rejection` is its status line and the start of its body.
    Redirect {
        location: String,
        rejection: String,
        response: Box<Refusal>,
    },
    /// Any other answer than 101.
    Refused {
        rejection: String,
        response: Box<Refusal>,
    },
}

/// A server's answer other than 101, as it came.
pub type Refusal = tungstenite::http::Response<Option<Vec<u8>>>;

/// Where a redirect leads: `location` resolved against `from`, with http(s) taken as ws(s).
fn redirect_target(from: &Url, location: &str) -> Result<Url> {
    let next = from.join(location).map_err(|e| {
        Failure::Rejected(format!(
            "{from} redirects to '{location}', which is not a URL: {e}"
        ))
    })?;
    crate::target::websocket(next)
        .map_err(|e| Failure::Rejected(format!("{from} redirects to {location}: {e}")).into())
}

/// One attempt: TCP (directly, through a proxy, or a Unix socket), TLS for wss://, the
/// handshake; all of it by `deadline`.
fn dial_once(dialer: &Dialer, url: &Url, deadline: Deadline) -> Result<Dialed> {
    let s = &dialer.settings;
    let host = crate::target::bare_host(url);
    let port = url.port_or_known_default().unwrap_or(80);

    // TLS settings are checked before any connection is made: a bad --ca file is reported as
    // what it is, not as a network failure.
    let tls_config = if url.scheme() == "wss" {
        Some(dialer.tls_config()?)
    } else {
        None
    };
    let socket = match &s.unix_socket {
        Some(path) => Socket::with_deadline(open_unix(path)?, deadline.at),
        None => {
            let proxy = proxy::choose(url, s.proxy.as_ref(), |name| std::env::var(name).ok())
                .map_err(Failure::Connect)?;
            match &proxy {
                None => {
                    let tcp = open_tcp(url, port, url, deadline)?;
                    Socket::with_deadline(tcp, deadline.at)
                }
                Some(proxy) => {
                    // Named in errors without its credentials, with its port.
                    let mut shown = proxy.clone();
                    let _ = shown.set_password(None);
                    let _ = shown.set_username("");
                    let tcp = open_tcp(proxy, proxy::port(proxy), &shown, deadline)?;
                    let mut socket = Socket::with_deadline(tcp, deadline.at);
                    proxy::tunnel(&mut socket, proxy, &host, port, deadline.left()).map_err(
                        |e| {
                            deadline.explain(Failure::Connect(e).into(), || {
                                format!("the proxy {shown} did not open the tunnel")
                            })
                        },
                    )?;
                    socket
                }
            }
        }
    };

    let stream = if let Some(config) = tls_config {
        let tls = tls::handshake(config, &host, socket).map_err(|e| {
            let failed = Failure::Connect(format!("TLS handshake with {host} failed: {e:#}"));
            deadline.explain(failed.into(), || {
                format!("the TLS handshake with {host} did not complete")
            })
        })?;
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(socket)
    };

    let request = build_request(s, url)?;
    if s.console.verbose {
        print_request(&request);
    }
    // What went, for a recording of the handshake (`--record` as HAR).
    let sent = header_list(request.headers());
    let config = WebSocketConfig::default()
        .read_buffer_size(crate::stream::CLIENT_READ_BUFFER)
        .max_message_size(Some(s.max_message_size))
        .max_frame_size(Some(s.max_message_size));
    let wire = Wire::handshake(stream);
    match tungstenite::client::client_with_config(request, wire, Some(config)) {
        Ok((mut ws, response)) => {
            if s.console.verbose {
                print_response(&response);
            }
            let values: Vec<&str> = response
                .headers()
                .get_all(tungstenite::http::header::SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            let agreed = match (s.compression, values.is_empty()) {
                (_, true) => None,
                (true, false) => deflate::agreed(&values).map_err(|e| {
                    Failure::Rejected(format!("handshake with {url} failed: {e}"))
                })?,
                (false, false) => {
                    return Err(Failure::Rejected(format!(
                        "handshake with {url} failed: the server chose an extension ({}) although none was offered",
                        values.join(", ")
                    ))
                    .into())
                }
            };
            if ws.get_mut().agree(agreed, s.max_message_size) {
                // tungstenite has read what followed the head without inflating it: start it
                // afresh over the stream, which now holds those bytes for the inflater.
                ws = WebSocket::from_raw_socket(ws.into_inner(), Role::Client, Some(config));
            }
            let exchange = crate::event::Exchange {
                url: url.to_string(),
                request: sent,
                response: header_list(response.headers()),
            };
            let mut response = response;
            response.extensions_mut().insert(exchange);
            Ok(Dialed::Open(Box::new((ws, response))))
        }
        Err(HandshakeError::Failure(WsError::Http(response))) => {
            if s.console.verbose {
                print_response(&response);
            }
            let rejection = describe_rejection(&response);
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok());
            match (response.status().as_u16(), location) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => Ok(Dialed::Redirect {
                    location: location.to_string(),
                    rejection,
                    response,
                }),
                _ => Ok(Dialed::Refused {
                    rejection,
                    response,
                }),
            }
        }
        Err(HandshakeError::Failure(WsError::Io(e))) => {
            let failed = Failure::Connect(format!("handshake with {url} failed: {e}"));
            Err(deadline.explain(failed.into(), || {
                format!("no handshake response from {url}")
            }))
        }
        Err(HandshakeError::Failure(e)) => {
            let failed = Failure::Rejected(format!("handshake with {url} failed: {e}"));
            Err(deadline.explain(failed.into(), || {
                format!("no handshake response from {url}")
            }))
        }
        // On a blocking socket, tungstenite reports a read timeout as an interruption: the
        // deadline has passed.
        Err(HandshakeError::Interrupted(_)) => Err(Failure::Connect(format!(
            "no handshake response from {url} within {}s",
            deadline.limit.as_secs_f64()
        ))
        .into()),
    }
}

/// Resolves `url`'s host and connects to the first address that answers, on `port`, by
/// `deadline`.
///
/// # Errors
/// [`Failure::Connect`] naming `shown` (the URL, or the proxy without its credentials).
fn open_tcp(url: &Url, port: u16, shown: &Url, deadline: Deadline) -> Result<TcpStream> {
    let shown = match shown.port() {
        Some(_) => shown.to_string(),
        None => format!("{shown} (port {port})"),
    };
    let host = crate::target::bare_host(url);
    let addrs = super::resolve::resolve(&host, port, deadline.left()).map_err(|e| {
        let failed = Failure::Connect(format!("could not resolve {host}: {e}"));
        deadline.explain(failed.into(), || format!("could not resolve {host}"))
    })?;
    let tcp = connect_any(&addrs, deadline).map_err(|e| {
        let failed = Failure::Connect(format!("could not connect to {shown}: {e}"));
        deadline.explain(failed.into(), || format!("could not connect to {shown}"))
    })?;
    // Every frame is a message the peer is waiting for: never hold it back (Nagle).
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// `--unix-socket PATH`: the connection goes to a Unix domain socket; the URL still gives the
/// request's host and path.
///
/// # Errors
/// [`Failure::Connect`] naming the path; on Windows, always (not supported there).
#[cfg(unix)]
fn open_unix(path: &std::path::Path) -> Result<Transport> {
    let unix = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| Failure::Connect(format!("could not connect to {}: {e}", path.display())))?;
    Ok(Transport::from(unix))
}

#[cfg(not(unix))]
fn open_unix(path: &std::path::Path) -> Result<Transport> {
    Err(Failure::Connect(format!(
        "could not connect to {}: --unix-socket is not supported on this platform",
        path.display()
    ))
    .into())
}

/// Tries each address in turn, as curl does, and reports the last failure; each attempt
/// gets what is left of the deadline.
fn connect_any(addrs: &[SocketAddr], deadline: Deadline) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no addresses");
    for addr in addrs {
        let Some(left) = deadline.left() else {
            return Err(std::io::ErrorKind::TimedOut.into());
        };
        match TcpStream::connect_timeout(addr, left) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The request for `url`: the settings' headers, then the cookies that apply to `url`.
///
/// Credentials are for the host and port they were given for (curl's rule since its redirect
/// CVEs): a redirect to another one gets neither the Authorization header (`-u`, or `-H`)
/// nor the inline cookies and `-H Cookie`; a cookie file's cookies are chosen again by their
/// own domain rules.
fn build_request(s: &Settings, url: &Url) -> Result<Request> {
    use tungstenite::http::header::{AUTHORIZATION, COOKIE};
    let mut request = url
        .as_str()
        .into_client_request()
        .context("building the request")?;
    let first_party = url.host_str() == s.url.host_str()
        && url.port_or_known_default() == s.url.port_or_known_default();
    // One Cookie header (RFC 6265 section 5.4): `-H Cookie` values first, then `-b`.
    let mut cookies = Vec::new();
    for (name, value) in &s.headers {
        if !first_party && (name == AUTHORIZATION || name == COOKIE) {
            continue;
        }
        if name == COOKIE {
            cookies.push(String::from_utf8_lossy(value.as_bytes()).into_owned());
            continue;
        }
        request.headers_mut().append(name.clone(), value.clone());
    }
    cookies.extend(super::cookies::header(&s.cookies, url, first_party));
    if !cookies.is_empty() {
        let value = tungstenite::http::HeaderValue::from_str(&cookies.join("; "))
            .context("the cookies are not a valid header value")?;
        request.headers_mut().append(COOKIE, value);
    }
    if s.compression {
        request.headers_mut().insert(
            tungstenite::http::header::SEC_WEBSOCKET_EXTENSIONS,
            tungstenite::http::HeaderValue::from_static(deflate::OFFER),
        );
    }
    Ok(request)
}

/// `HTTP/1.1 404 Not Found: <the start of the body>`, escaped, on one line.
fn describe_rejection(response: &tungstenite::http::Response<Option<Vec<u8>>>) -> String {
    let status = response.status();
    let mut text = format!(
        "{:?} {} {}",
        response.version(),
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string();
    if let Some(body) = response.body().as_deref().filter(|b| !b.is_empty()) {
        let start = String::from_utf8_lossy(&body[..body.len().min(200)]);
        let start = start.split_whitespace().collect::<Vec<_>>().join(" ");
        text.push_str(": ");
        text.push_str(&crate::term::escape(&start));
        if body.len() > 200 {
            text.push('…');
        }
    }
    text
}

/// Headers as (name, value) text, in order (a value that is not text shown lossily).
fn header_list(headers: &tungstenite::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_string(), value)
        })
        .collect()
}

/// `-v`: the request, one `> ` line per header, Authorization redacted.
fn print_request(request: &Request) {
    let mut text = format!("> GET {} {:?}", request.uri(), request.version());
    for (name, value) in request.headers() {
        let value = if name == "authorization" {
            "[redacted]"
        } else {
            value.to_str().unwrap_or("[binary]")
        };
        text.push_str(&format!("\n> {name}: {value}"));
    }
    crate::diag::say(&text);
}

/// `-v`: the response, one `< ` line per header, escaped (it comes from the server).
fn print_response<B>(response: &tungstenite::http::Response<B>) {
    let mut text = format!("< {:?} {}", response.version(), response.status());
    for (name, value) in response.headers() {
        let value = crate::term::escape(value.to_str().unwrap_or("[binary]"));
        text.push_str(&format!("\n< {name}: {value}"));
    }
    crate::diag::say(&text);
}
