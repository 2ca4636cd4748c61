//! The command line as clap sees it: derive types and value parsers only.
//!
//! House rules (after xh): explicit `short`, implicit `long`, uppercase `value_name`; the doc
//! comment of each field is its `--help` text. Only `settings.rs` reads these types (and
//! `completions.rs` the definition); the value types they carry live with the code that uses
//! them, which never sees clap.

// Doc comments here are `--help` text, shown as written: `[HOST:]PORT` is not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tungstenite::http::{HeaderName, HeaderValue};
use url::Url;

use crate::client::Wait;
use crate::output::{BinaryOutput, Format, Timestamps};
use crate::server::{BytesTarget, ForwardTarget, ListenAddr};

/// What `wsx --help` says of exit statuses: each command has its own table.
const TOP_EXIT_HELP: &str = "\
Exit status: 0 when a command finishes normally, 2 for a usage error; the others are in
`wsx connect --help` and `wsx listen --help`.";

/// A terminal tool for WebSocket: an interactive client, a scriptable pipe, and a server.
#[derive(Debug, Parser)]
#[command(name = "wsx", version, about, after_help = TOP_EXIT_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)
    #[command(after_help = crate::error::help_text(crate::error::CONNECT))]
    Connect(Box<ConnectArgs>),
    /// Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client
    #[command(after_help = crate::error::help_text(crate::error::LISTEN))]
    Listen(Box<ListenArgs>),
    /// Print a shell completion script to stdout
    Completions {
        /// The shell to generate the script for
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (of wsx, or of one command) to stdout, in roff
    Man {
        /// The command whose page to print (wsx-connect, wsx-listen, ...)
        #[arg(value_parser = ["connect", "listen", "completions", "man"])]
        command: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server's URL: ws://, wss:// (or http://, https:// as aliases)
    #[arg(value_name = "URL", value_parser = parse_ws_url)]
    pub url: Url,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub operator: OperatorArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub net: NetArgs,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub record: RecordArgs,
}

/// `--record` and `--replay`, for both roles.
#[derive(Debug, Args)]
#[command(next_help_heading = "Record and replay")]
pub struct RecordArgs {
    /// Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as
    /// browsers export it, one entry per connection), else the jsonl events of --format jsonl
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are
    /// written as [redacted] otherwise)
    #[arg(long, requires = "record")]
    pub record_credentials: bool,

    /// Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx's jsonl):
    /// listen plays the server's side to every client (matched by path), connect the client's
    /// side instead of stdin (-w bounds each wait for the server)
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,

    /// Play the recorded gaps N times faster; 0 sends without gaps
    #[arg(long, value_name = "N", default_value = "1", requires = "replay",
          value_parser = parse_speed)]
    pub replay_speed: f64,
}

/// How wss:// servers are trusted, and how we identify ourselves to them.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Trust only the certificate authorities in FILE (PEM), instead of the system's
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// Do not verify the server's certificate (a warning is printed)
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Present this client certificate (PEM, with --key)
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The private key for --cert (PEM)
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Where to listen: PORT (on 127.0.0.1), HOST:PORT, 0.0.0.0:PORT or [::]:PORT; 0 picks a port
    #[arg(value_name = "[HOST:]PORT | unix:PATH", value_parser = parse_listen_addr)]
    pub addr: ListenAddr,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub forward: ForwardArgs,

    #[command(flatten)]
    pub operator: OperatorArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub record: RecordArgs,
}

/// What the server does with its clients.
#[derive(Debug, Args)]
#[command(next_help_heading = "Serving")]
pub struct ServeArgs {
    /// Send every data frame back to its sender
    #[arg(long, conflicts_with_all = ["chat", "exec", "replay"])]
    pub echo: bool,

    /// Relay every data frame to all other clients
    #[arg(long, conflicts_with_all = ["exec", "replay"])]
    pub chat: bool,

    /// Run CMD (with sh -c; cmd /C on Windows) per client: text frames in as stdin lines, stdout
    /// lines out as frames
    #[arg(long, value_name = "CMD", conflicts_with = "replay")]
    pub exec: Option<String>,

    /// Serve wss:// with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key for --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS: require a client certificate signed by an authority in FILE (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,

    /// Give --exec programs the Authorization header too (HTTP_AUTHORIZATION)
    #[arg(long, requires = "exec")]
    pub pass_auth: bool,

    /// Subprotocols to offer, in order of preference; the first the client also wants is chosen
    #[arg(short = 's', long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,

    /// Allow browsers from ORIGIN only (repeatable); others get 403, requests without Origin pass
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,

    /// Require HTTP Basic authentication with these credentials; others get 401
    #[arg(long, value_name = "USER:PASS", value_parser = parse_credentials)]
    pub auth: Option<String>,

    /// Add a header to every 101 answer (repeatable): -H 'X-Server: mock'
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// Accept upgrades only on PATH (repeatable; the query string aside); others get 404
    #[arg(long = "path", value_name = "PATH", value_parser = parse_path)]
    pub paths: Vec<String>,

    /// Answer plain HTTP GET and HEAD requests (not upgrades) with the files in DIR, on the
    /// same port: index.html for a folder, 404 for what is missing, nothing outside DIR
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// Serve at most N clients at once; others get 503
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_clients: Option<u64>,

    /// Exit after the first client leaves
    #[arg(long)]
    pub once: bool,

    /// Largest message accepted; a larger one closes that client with 1009
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_message_size: usize,

    /// Decline permessage-deflate (accepted by default when a client offers it)
    #[arg(long)]
    pub no_compression: bool,

    /// Close a client with 1008 once more than BYTES of earlier messages still wait for it
    /// (it stopped reading); one large message alone never counts
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub max_backlog: u64,

    /// Handshakes in progress at most; past it, the oldest is dropped for each new connection
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_handshakes: u64,

    /// Drop a client whose handshake is not complete after SECS
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub handshake_timeout: Duration,
}

/// `wsx listen --forward`: the inspecting relay.
#[derive(Debug, Args)]
#[command(next_help_heading = "Relay")]
pub struct ForwardArgs {
    /// Relay every client to its own connection to TARGET, shown both ways: ws:// or wss://
    /// (the client's path and query appended), or tcp:HOST:PORT or unix:PATH (a
    /// WebSocket-to-TCP bridge: bytes both ways as binary frames)
    #[arg(long, value_name = "TARGET", value_parser = parse_forward,
          conflicts_with_all = ["echo", "chat", "exec", "subprotocols", "replay"])]
    pub forward: Option<ForwardTarget>,

    /// Trust the authorities in FILE (PEM) for the --forward server's certificate
    #[arg(long, value_name = "FILE", requires = "forward")]
    pub forward_ca: Option<PathBuf>,

    /// Do not verify the --forward server's certificate
    #[arg(long, requires = "forward")]
    pub forward_insecure: bool,

    /// How long dialling the --forward server may take; then the client gets 504
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_positive_secs)]
    pub forward_timeout: Duration,
}

/// What is sent (connect only).
#[derive(Debug, Args)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// Send MSG right after the handshake, before reading stdin (repeatable)
    #[arg(short = 'x', long = "execute", value_name = "MSG")]
    pub execute: Vec<String>,

    /// Send every received data message straight back: text as text, binary as binary, byte
    /// for byte (with -w -1, until the server closes)
    #[arg(long, conflicts_with = "replay")]
    pub echo: bool,

    /// stdin and stdout as a byte stream (ssh's ProxyCommand, nc): each read of stdin is sent
    /// as one binary frame, and the payload of every data frame received is written to stdout
    /// as it is, with nothing added (on a terminal, as raw format shows it)
    #[arg(long, conflicts_with_all = ["binary", "slash", "format", "binary_output", "pretty", "echo", "replay"])]
    pub stream: bool,

    /// A TCP-to-WebSocket tunnel: listen on [HOST:]PORT (127.0.0.1 unless told) and give every
    /// TCP connection its own WebSocket connection to URL, bytes both ways, until Ctrl-C
    #[arg(long, value_name = "[HOST:]PORT", value_parser = parse_tcp_listen,
          conflicts_with_all = ["stream", "execute", "echo", "binary", "slash", "reconnect", "count", "until", "record", "replay"])]
    pub tcp_listen: Option<SocketAddr>,

    /// After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never
    #[arg(short = 'w', long, value_name = "SECS", default_value = "1", allow_negative_numbers = true,
          value_parser = parse_wait)]
    pub wait: Wait,
}

/// Operator input, for both roles.
#[derive(Debug, Args)]
#[command(next_help_heading = "Input")]
pub struct OperatorArgs {
    /// Send lines as binary frames instead of text
    #[arg(long)]
    pub binary: bool,

    /// Interpret /commands in piped input too (always on in the REPL)
    #[arg(long)]
    pub slash: bool,

    /// How long to wait for the peer's answer to our Close frame
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_secs)]
    pub close_timeout: Duration,

    /// Do not read or write the REPL history file
    #[arg(long)]
    pub no_history: bool,
}

/// How events are shown.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format [default: human on a terminal, raw otherwise]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// How event times are shown
    #[arg(long, value_enum, value_name = "WHEN", default_value = "local")]
    pub timestamps: Timestamps,

    /// Show ping and pong frames in human format (always shown in jsonl)
    #[arg(short = 'P', long)]
    pub show_ping_pong: bool,

    /// In human format, indent JSON objects and arrays over several lines (they are always
    /// syntax-coloured when colour is on)
    #[arg(long)]
    pub pretty: bool,

    /// How binary frames are written in raw format
    #[arg(long, value_enum, value_name = "ENCODING", default_value = "raw")]
    pub binary_output: BinaryOutput,

    /// Never color the output (also: NO_COLOR set, or stdout not a terminal)
    #[arg(long)]
    pub no_color: bool,

    /// Silence all diagnostics but the final failure reason
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print the handshake request and response headers to stderr
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// How the connection is made and bounded.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct NetArgs {
    /// Add a request header (repeatable): -H 'Authorization: Bearer T'
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// Send this Origin header (as a browser page would)
    #[arg(short = 'o', long, value_name = "ORIGIN", value_parser = parse_header_value)]
    pub origin: Option<HeaderValue>,

    /// HTTP Basic credentials (also taken from user:pass@ in the URL)
    #[arg(short = 'u', long, visible_alias = "user", value_name = "USER:PASS",
          value_parser = parse_credentials)]
    pub auth: Option<String>,

    /// Send cookies, as curl does: 'NAME=VALUE; ...', or a cookie file (Netscape format) to
    /// take the URL's cookies from (repeatable)
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE", value_parser = crate::client::cookies::parse)]
    pub cookies: Vec<crate::client::cookies::CookieArg>,

    /// Send this User-Agent header
    #[arg(short = 'A', long, value_name = "NAME", value_parser = parse_header_value)]
    pub user_agent: Option<HeaderValue>,

    /// Accepted so that a pasted curl command line works (compression is offered anyway)
    #[arg(long)]
    pub compressed: bool,

    /// Do not offer permessage-deflate (offered by default, as browsers do)
    #[arg(long)]
    pub no_compression: bool,

    /// Offer a subprotocol (repeatable, in order of preference); the server's choice is shown
    #[arg(short = 's', long = "subprotocol", value_name = "NAME", value_parser = parse_token)]
    pub subprotocols: Vec<String>,

    /// Exit after N received data frames
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Exit 0 (after a clean close) as soon as a received text message matches REGEX
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub until: Option<regex::Regex>,

    /// A deadline for the whole run, connecting included: when it passes, close cleanly and
    /// exit 7 (curl's -m)
    #[arg(short = 'm', long, value_name = "SECS", value_parser = parse_positive_secs)]
    pub max_time: Option<Duration>,

    /// Largest message accepted; a larger one closes the connection with 1009
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_message_size: usize,

    /// Connect to this Unix domain socket instead (curl's flag); the URL still gives the
    /// request's host and path
    #[arg(long, value_name = "PATH", conflicts_with = "proxy")]
    pub unix_socket: Option<std::path::PathBuf>,

    /// Connect through this proxy: http://[user:pass@]host[:port] (CONNECT), or
    /// socks5://, socks5h:// (the proxy resolves the name) [user:pass@]host[:port]
    /// [default: from https_proxy / http_proxy / all_proxy, minus no_proxy, as curl reads them]
    #[arg(long, value_name = "URL", value_parser = parse_proxy_url)]
    pub proxy: Option<Url>,

    /// Follow 301, 302, 303, 307 and 308 redirects of the handshake
    #[arg(short = 'L', long = "location")]
    pub location: bool,

    /// With -L: follow at most N redirects
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// After a lost connection (not a clean close), connect again with growing pauses; the -x
    /// messages are sent again each time
    #[arg(long)]
    pub reconnect: bool,

    /// Send a ping every SECS (pongs are shown with -P)
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs)]
    pub ping_interval: Option<Duration>,

    /// With --ping-interval: end with exit 5 when a pong is SECS late
    #[arg(long, value_name = "SECS", requires = "ping_interval", value_parser = parse_positive_secs)]
    pub ping_timeout: Option<Duration>,

    /// Give up connecting (TCP, TLS and handshake) after SECS
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub connect_timeout: Option<Duration>,
}

// Value types that live with the code that uses them; their command-line names and help are
// given here, so that nothing below the command line depends on clap.

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Human, Format::Raw, Format::Jsonl]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Format::Human => {
                PossibleValue::new("human").help("One line per event with time, direction and type")
            }
            Format::Raw => PossibleValue::new("raw")
                .help("Only the payload of each received data frame, one per line"),
            Format::Jsonl => PossibleValue::new("jsonl").help("One JSON object per event"),
        })
    }
}

impl ValueEnum for Timestamps {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Timestamps::Local,
            Timestamps::Utc,
            Timestamps::Elapsed,
            Timestamps::None,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Timestamps::Local => {
                PossibleValue::new("local").help("Local wall-clock time, HH:MM:SS.mmm")
            }
            Timestamps::Utc => PossibleValue::new("utc").help("UTC wall-clock time, HH:MM:SS.mmm"),
            Timestamps::Elapsed => {
                PossibleValue::new("elapsed").help("Seconds since wsx started, +S.mmm")
            }
            Timestamps::None => PossibleValue::new("none").help("No time at all"),
        })
    }
}

impl ValueEnum for BinaryOutput {
    fn value_variants<'a>() -> &'a [Self] {
        &[BinaryOutput::Raw, BinaryOutput::Hex, BinaryOutput::Base64]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            BinaryOutput::Raw => {
                PossibleValue::new("raw").help("The bytes exactly, no newline added")
            }
            BinaryOutput::Hex => PossibleValue::new("hex")
                .help("Lowercase hex pairs separated by spaces, one frame per line"),
            BinaryOutput::Base64 => {
                PossibleValue::new("base64").help("Standard base64, one frame per line")
            }
        })
    }
}

fn parse_ws_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    crate::target::websocket(url)
}

fn parse_listen_addr(s: &str) -> Result<ListenAddr, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("unix: needs a path, as in unix:/tmp/wsx.sock".into());
        }
        return Ok(ListenAddr::Unix(path.into()));
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(ListenAddr::Tcp(addr));
    }
    s.to_socket_addrs()
        .map_err(|e| format!("'{s}' is not PORT, HOST:PORT or unix:PATH ({e})"))?
        .next()
        .map(ListenAddr::Tcp)
        .ok_or_else(|| format!("'{s}' has no address"))
}

fn parse_tcp_listen(s: &str) -> Result<SocketAddr, String> {
    match parse_listen_addr(s)? {
        ListenAddr::Tcp(addr) => Ok(addr),
        ListenAddr::Unix(_) => Err("a tunnel listens on TCP: [HOST:]PORT".into()),
    }
}

fn parse_forward(s: &str) -> Result<ForwardTarget, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("unix: needs a path, as in unix:/run/app.sock".into());
        }
        return Ok(ForwardTarget::Bytes(BytesTarget::Unix(path.into())));
    }
    if let Some(addr) = s.strip_prefix("tcp:") {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("'{s}' has no port: tcp:HOST:PORT"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("'{port}' is not a port number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{s}' has no host: tcp:HOST:PORT"));
        }
        return Ok(ForwardTarget::Bytes(BytesTarget::Tcp(
            host.to_string(),
            port,
        )));
    }
    parse_ws_url(s)
        .map(ForwardTarget::WebSocket)
        .map_err(|e| format!("{e} (or tcp:HOST:PORT, unix:PATH)"))
}

fn parse_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' does not start with /"))
    }
}

fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = s.split_once(':').ok_or("expected 'Name: value'")?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("'{}' is not a valid header name", name.trim()))?;
    Ok((name, parse_header_value(value.trim())?))
}

fn parse_header_value(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|_| format!("'{s}' is not a valid header value"))
}

/// A subprotocol name is an HTTP token: no spaces, commas or separators.
fn parse_token(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a valid subprotocol name"))
    }
}

fn parse_proxy_url(s: &str) -> Result<Url, String> {
    let text = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let url = Url::parse(&text).map_err(|e| format!("{e}"))?;
    crate::client::proxy::check(url)
}

fn parse_credentials(s: &str) -> Result<String, String> {
    match s.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(s.to_string()),
        _ => Err("expected USER:PASS".to_string()),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a valid duration"))
}

/// `--replay-speed`: a factor, 0 or more.
fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("'{s}' is not a number of 0 or more")),
    }
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| e.to_string())
}

fn parse_positive_secs(s: &str) -> Result<Duration, String> {
    let d = parse_secs(s)?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

fn parse_wait(s: &str) -> Result<Wait, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if secs < 0.0 {
        return Ok(Wait::Forever);
    }
    parse_secs(s).map(Wait::After)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn url_aliases_and_errors() {
        assert_eq!(parse_ws_url("http://h/p").unwrap().as_str(), "ws://h/p");
        assert_eq!(
            parse_ws_url("https://h:8443/").unwrap().as_str(),
            "wss://h:8443/"
        );
        assert!(parse_ws_url("ftp://h/")
            .unwrap_err()
            .contains("is not a WebSocket scheme"));
        assert!(parse_ws_url("not a url").is_err());
    }

    #[test]
    fn headers_are_validated() {
        let (name, value) = parse_header("X-Token:  abc ").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-token", "abc"));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("Bad Name: x").is_err());
        assert!(parse_header("X: a\nb").is_err());
        assert!(parse_token("chat.v2").is_ok());
        assert!(parse_token("a,b").is_err() && parse_token("").is_err());
    }

    #[test]
    fn listen_addresses() {
        let tcp = |a: &str| Ok(ListenAddr::Tcp(a.parse().unwrap()));
        assert_eq!(parse_listen_addr("8080"), tcp("127.0.0.1:8080"));
        assert_eq!(parse_listen_addr("0"), tcp("127.0.0.1:0"));
        assert_eq!(parse_listen_addr("0.0.0.0:9"), tcp("0.0.0.0:9"));
        assert_eq!(parse_listen_addr("[::]:9"), tcp("[::]:9"));
        assert_eq!(
            parse_listen_addr("unix:/run/a.sock"),
            Ok(ListenAddr::Unix("/run/a.sock".into()))
        );
        assert!(parse_listen_addr("unix:").is_err());
        assert!(parse_listen_addr("nope").is_err());
        assert!(parse_credentials("user").is_err());
        assert_eq!(parse_credentials("u:p:q"), Ok("u:p:q".into()));
    }

    #[test]
    fn wait_accepts_fractions_zero_and_negative() {
        assert_eq!(
            parse_wait("0.5"),
            Ok(Wait::After(Duration::from_millis(500)))
        );
        assert_eq!(parse_wait("0"), Ok(Wait::After(Duration::ZERO)));
        assert_eq!(parse_wait("-1"), Ok(Wait::Forever));
        assert!(parse_wait("soon").is_err());
    }
}
