//! `wsx connect`: dial, then run one session on the engine until the connection ends, and say
//! how it ended.
//!
//! - [`dial`]: TCP (directly, through a [`proxy`] or [`socks`] tunnel, or a Unix socket), TLS,
//!   the handshake, redirects, all by one deadline; [`resolve`] bounds name resolution and
//!   [`cookies`] gives each URL its Cookie header;
//! - [`session`]: the rules of the run on the engine, with [`keepalive`] (pings on a timer)
//!   and [`reconnect`] (dialing again after a loss).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tungstenite::http::{HeaderName, HeaderValue};
use url::Url;

use crate::console::Console;
use crate::engine::{Conn, Engine};
use crate::error::Failure;
use crate::event::{Dir, Kind, Opened};
pub use dial::{Dialed, Dialer};
use session::Session;

pub mod cookies;
mod dial;
mod keepalive;
pub mod proxy;
mod reconnect;
pub mod resolve;
mod session;
mod socks;
mod tunnel;

/// `wsx connect`, resolved (by `settings.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Url,
    /// Extra request headers: `-H`, then Origin, Authorization, User-Agent and
    /// Sec-WebSocket-Protocol.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `-b`: the cookies, made into a Cookie header for each URL dialled (see
    /// [`crate::client::cookies::header`]).
    pub cookies: Vec<cookies::CookieArg>,
    /// `-H` headers left out because the handshake sets them (noted under `-v`).
    pub dropped_headers: Vec<String>,
    pub execute: Vec<String>,
    /// `--echo`: every received data message is sent back as it came.
    pub echo: bool,
    pub wait: Wait,
    pub count: Option<u64>,
    /// `--until`: a received text message that matches ends the run (exit 0).
    pub until: Option<regex::Regex>,
    /// `-m/--max-time`: the whole run's deadline (exit 7).
    pub max_time: Option<Duration>,
    pub max_message_size: usize,
    /// Offer permessage-deflate (`--no-compression` turns it off).
    pub compression: bool,
    pub connect_timeout: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub ping_timeout: Option<Duration>,
    /// `--reconnect`: dial again after a lost connection.
    pub reconnect: bool,
    /// `--tcp-listen`: a tunnel, one WebSocket connection per accepted TCP connection.
    pub tcp_listen: Option<std::net::SocketAddr>,
    /// `--unix-socket`: connect there instead of to the URL's host and port.
    pub unix_socket: Option<std::path::PathBuf>,
    /// `--proxy`; without it the environment is consulted when dialing.
    pub proxy: Option<Url>,
    /// `-L`: follow redirects of the handshake, at most `max_redirects` of them.
    pub follow_redirects: bool,
    pub max_redirects: usize,
    pub tls: crate::tls::ClientTls,
    pub console: crate::console::Settings,
}

impl Settings {
    /// Dialling `url` and nothing more: no extra headers, cookies or proxy, the default
    /// limits, one attempt without redirects; `console` for what is shown (`-v`'s handshake).
    pub fn dial(url: Url, console: crate::console::Settings) -> Settings {
        Settings {
            url,
            headers: Vec::new(),
            cookies: Vec::new(),
            dropped_headers: Vec::new(),
            execute: Vec::new(),
            echo: false,
            wait: Wait::After(Duration::ZERO),
            count: None,
            until: None,
            max_time: None,
            max_message_size: 64 << 20,
            compression: true,
            connect_timeout: None,
            ping_interval: None,
            ping_timeout: None,
            reconnect: false,
            tcp_listen: None,
            unix_socket: None,
            proxy: None,
            follow_redirects: false,
            max_redirects: 0,
            tls: crate::tls::ClientTls::default(),
            console,
        }
    }

    /// The defaults of `wsx connect URL` in a pipe, with raw output.
    #[cfg(test)]
    pub fn for_test(url: &str) -> Settings {
        let console = crate::console::Settings::for_test(crate::output::Format::Raw, false);
        Settings {
            compression: false,
            max_redirects: 10,
            ..Settings::dial(Url::parse(url).expect("a test URL"), console)
        }
    }
}

/// `-w/--wait`: how long to linger for replies after stdin EOF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Close once this long has passed with no frame received.
    After(Duration),
    /// Never close because of EOF.
    Forever,
}

/// The engine key of the one connection.
pub(crate) const CONN: usize = 0;

/// The engine key of stdin, when the engine reads it directly.
const STDIN: usize = 1;

/// How long the client looks for the next event before it sleeps, while the server answers
/// within that (a local server): a line's echo then comes back without waiting for a
/// sleeping CPU to wake. The server does not spin: its CPU per message counts more there.
const SPIN: Duration = Duration::from_micros(50);

/// Connects, runs the session, and returns the exit status SPEC gives its ending.
///
/// # Errors
/// A [`Failure`] for each way of ending that has a status of its own, other errors for the rest.
pub fn run(s: Settings) -> Result<ExitCode> {
    let started = Instant::now();
    let dialer = Arc::new(Dialer::new(s));
    let s = dialer.settings();
    if s.console.verbose {
        for name in &s.dropped_headers {
            crate::diag::say(&format!(
                "wsx: -H {name}: left out, the WebSocket handshake sets it"
            ));
        }
    }
    if let Some(addr) = s.tcp_listen {
        return tunnel::run(dialer.clone(), addr);
    }
    // A recording to play or to write is checked before anything is dialled.
    let script = match &s.console.replay {
        Some(replay) => {
            let recording = crate::replay::open(replay)?;
            let conversation = recording.choose(&crate::replay::target_of(s.url.as_str()));
            Some((conversation.clone(), replay.speed))
        }
        None => None,
    };
    let recorder = s
        .console
        .record
        .as_ref()
        .map(|r| crate::record::Recorder::create(r, false))
        .transpose()?;
    let (ws, response) = dialer.dial().map_err(|e| match s.max_time {
        // Connecting took the whole --max-time (its timeouts are bounded by it).
        Some(limit) if started.elapsed() >= limit => Failure::TimedOut(format!(
            "timed out after {}s (--max-time) connecting: {e:#}",
            limit.as_secs_f64()
        ))
        .into(),
        _ => e,
    })?;
    let extension = ws.get_ref().extension();

    let mut engine = Engine::new().context("creating the poller")?;
    engine.spin(SPIN);
    engine
        .net()
        .insert(CONN, Conn::new(ws).context("setting up the socket")?)?;
    let mut console = Console::new(&s.console, engine.waker())?;
    if let Some(recorder) = recorder {
        console.record_to(recorder);
    }
    console.show(None, Dir::Out, opened(&s.url, &response, extension));
    // With --replay, the recording is the input: stdin is not read.
    if script.is_none() {
        console.start(engine.net(), Some(STDIN));
    }

    let mut session = Session::new(&dialer, console, engine.waker(), started);
    if let Some((conversation, speed)) = script {
        session.replay(&conversation, speed, Instant::now());
    }
    let outcome = engine.run(&mut session).context("waiting for events")?;
    session.end(outcome)
}

/// The event for a completed handshake: the subprotocol and extension the server chose, and
/// the headers that went both ways.
pub(crate) fn opened(
    url: &Url,
    response: &tungstenite::handshake::client::Response,
    extension: Option<String>,
) -> Kind {
    Kind::Open(Box::new(Opened {
        peer: url.to_string(),
        subprotocol: chosen_subprotocol(response),
        extension,
        exchange: response
            .extensions()
            .get::<crate::event::Exchange>()
            .cloned(),
        ..Default::default()
    }))
}

/// The subprotocol a handshake response names, if any.
pub(crate) fn chosen_subprotocol(
    response: &tungstenite::handshake::client::Response,
) -> Option<String> {
    response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
