//! The command line resolved into validated settings: the only reader of [`Cli`].
//!
//! Terminal facts come in as values, so every decision here is testable.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use tungstenite::http::{HeaderName, HeaderValue};
use url::Url;

use crate::cli::{Action, Cli, ConnectArgs, Format, ListenArgs, OperatorArgs, OutputArgs, Wait};
use crate::command::LineMode;
use crate::output::{OutputSettings, View};
use crate::term::Facts;
use crate::tls::ClientTls;

/// What to do, with everything resolved.
pub enum Settings {
    Connect(Box<ConnectSettings>),
    Listen(Box<ListenSettings>),
    Completions(clap_complete::Shell),
    /// `wsx man [COMMAND]`.
    Man(Option<String>),
}

/// The operator's side, the same for both roles: how input is read and output shown.
#[derive(Debug, Clone)]
pub struct Console {
    /// How lines become frames (slash commands on in the REPL, or with `--slash`).
    pub line_mode: LineMode,
    /// Empty lines typed at a terminal send nothing; in a pipe they are empty frames.
    pub skip_empty_lines: bool,
    /// The REPL's history file, unless `--no-history` or no data directory is known.
    pub history: Option<PathBuf>,
    /// stdin and stdout are both terminals: run the line editor.
    pub repl: bool,
    pub close_timeout: Duration,
    pub output: OutputSettings,
    pub quiet: bool,
    pub verbose: bool,
}

/// `wsx connect`, resolved.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub url: Url,
    /// Extra request headers: `-H`, then Origin, Authorization, User-Agent and
    /// Sec-WebSocket-Protocol.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `-b`: the cookies, made into a Cookie header for each URL dialled (see
    /// [`crate::client::cookies::header`]).
    pub cookies: Vec<crate::client::cookies::CookieArg>,
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
    /// `--unix-socket`: connect there instead of to the URL's host and port.
    pub unix_socket: Option<std::path::PathBuf>,
    /// `--proxy`; without it the environment is consulted when dialing.
    pub proxy: Option<Url>,
    /// `-L`: follow redirects of the handshake, at most `max_redirects` of them.
    pub follow_redirects: bool,
    pub max_redirects: usize,
    pub tls: ClientTls,
    pub console: Console,
}

/// What `wsx listen` does with what its clients send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Show it; the operator's lines go to every client.
    Broadcast,
    Echo,
    Chat,
    /// A program per client (`sh -c CMD`).
    Exec(String),
}

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

/// `wsx listen`, resolved.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    pub addr: crate::server::ListenAddr,
    pub mode: Mode,
    /// `--static`: plain HTTP requests are answered from this folder.
    pub static_dir: Option<PathBuf>,
    /// `--tls-ca`: clients must present a certificate signed by these authorities.
    pub tls_ca: Option<PathBuf>,
    /// `--pass-auth`: `--exec` programs see the Authorization header.
    pub pass_auth: bool,
    /// Certificate chain and key files for wss://.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub policy: Policy,
    pub once: bool,
    pub max_message_size: usize,
    /// `--max-backlog`: a client with more than this waiting for it is closed with 1008.
    pub max_backlog: u64,
    /// `--max-handshakes`: handshakes in progress at most.
    pub max_handshakes: u64,
    pub handshake_timeout: Duration,
    pub console: Console,
}

/// Resolves the command line against the terminal facts.
pub fn resolve(cli: Cli, facts: &Facts, utc_offset: i32) -> Settings {
    match cli.action {
        Action::Connect(args) => Settings::Connect(Box::new(connect(*args, facts, utc_offset))),
        Action::Listen(args) => Settings::Listen(Box::new(listen(*args, facts, utc_offset))),
        Action::Completions { shell } => Settings::Completions(shell),
        Action::Man { command } => Settings::Man(command),
    }
}

fn console(
    op: OperatorArgs,
    output: OutputArgs,
    server: bool,
    facts: &Facts,
    utc_offset: i32,
) -> Console {
    // rustyline only when both ends are terminals: on piped input it keeps the newline
    // (rustyline#532), and it would write its prompt into a piped stdout.
    let repl = facts.stdin_tty && facts.stdout_tty;
    let format = output.format.unwrap_or(if facts.stdout_tty {
        Format::Human
    } else {
        Format::Raw
    });
    let history = (!op.no_history).then(dirs::data_dir).flatten().map(|dir| {
        dir.join("wsx")
            .join(if server { "listen-history" } else { "history" })
    });
    Console {
        line_mode: LineMode {
            slash: op.slash || facts.stdin_tty,
            binary: op.binary,
            server,
        },
        skip_empty_lines: facts.stdin_tty,
        history,
        repl,
        close_timeout: op.close_timeout,
        output: OutputSettings {
            format,
            view: View {
                timestamps: output.timestamps,
                show_ping_pong: output.show_ping_pong,
                pretty: output.pretty,
                wire_sizes: output.verbose,
                start: SystemTime::now(),
                utc_offset,
            },
            binary_output: output.binary_output,
            tty: facts.stdout_tty,
            color: facts.color(output.no_color),
        },
        quiet: output.quiet,
        verbose: output.verbose,
    }
}

fn connect(args: ConnectArgs, facts: &Facts, utc_offset: i32) -> ConnectSettings {
    let ConnectArgs {
        url,
        input,
        operator,
        output,
        mut net,
        tls,
    } = args;
    let given = std::mem::take(&mut net.headers);
    let (url, request) = request_headers(url, given, &net);
    ConnectSettings {
        url,
        headers: request.headers,
        cookies: net.cookies,
        dropped_headers: request.dropped,
        execute: input.execute,
        echo: input.echo,
        wait: input.wait,
        count: net.count,
        until: net.until,
        max_time: net.max_time,
        max_message_size: net.max_message_size,
        compression: !net.no_compression,
        // Connecting is part of the run: --max-time bounds it too.
        connect_timeout: match (net.connect_timeout, net.max_time) {
            (Some(c), Some(m)) => Some(c.min(m)),
            (c, m) => c.or(m),
        },
        ping_interval: net.ping_interval,
        ping_timeout: net.ping_timeout,
        reconnect: net.reconnect,
        unix_socket: net.unix_socket.clone(),
        proxy: net.proxy,
        follow_redirects: net.location,
        max_redirects: net.max_redirects,
        tls: ClientTls {
            ca: tls.ca,
            insecure: tls.insecure,
            identity: tls.cert.zip(tls.key),
        },
        console: console(operator, output, false, facts, utc_offset),
    }
}

/// The request headers of `connect`, and the URL without credentials (which go into a Basic
/// Authorization header: `--auth` wins over `user:pass@` in the URL).
/// Headers the WebSocket handshake sets itself: from `-H` they are dropped (with a note
/// under `-v`), so that a browser's "Copy as cURL" pasted after `wsx connect` just works.
const HANDSHAKE_HEADERS: [&str; 6] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// The request's extra headers, and the names of the `-H` headers left out.
struct RequestHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
    dropped: Vec<String>,
}

/// The URL without its credentials, and the request headers: `-H` (minus what the handshake
/// owns), then `-o`, Basic auth (`--auth`, or credentials in the URL), `-A`, and the
/// subprotocols. Cookies depend on the URL dialled: the dialer adds them.
fn request_headers(
    mut url: Url,
    given: Vec<(HeaderName, HeaderValue)>,
    net: &crate::cli::NetArgs,
) -> (Url, RequestHeaders) {
    use tungstenite::http::header;
    let from_url = crate::target::credentials(&url);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let (dropped, mut headers): (Vec<_>, Vec<_>) = given
        .into_iter()
        .partition(|(name, _)| HANDSHAKE_HEADERS.contains(&name.as_str()));
    let dropped = dropped.into_iter().map(|(n, _)| n.to_string()).collect();
    if let Some(origin) = net.origin.clone() {
        headers.push((header::ORIGIN, origin));
    }
    if let Some(credentials) = net.auth.clone().or(from_url) {
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((header::AUTHORIZATION, value));
        }
    }
    if let Some(agent) = net.user_agent.clone() {
        headers.push((header::USER_AGENT, agent));
    }
    if !net.subprotocols.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&net.subprotocols.join(", ")) {
            headers.push((header::SEC_WEBSOCKET_PROTOCOL, value));
        }
    }
    (url, RequestHeaders { headers, dropped })
}

fn listen(args: ListenArgs, facts: &Facts, utc_offset: i32) -> ListenSettings {
    let ListenArgs {
        addr,
        serve,
        operator,
        output,
    } = args;
    let mode = match (serve.echo, serve.chat, serve.exec) {
        (_, _, Some(cmd)) => Mode::Exec(cmd),
        (true, _, None) => Mode::Echo,
        (false, true, None) => Mode::Chat,
        (false, false, None) => Mode::Broadcast,
    };
    ListenSettings {
        addr,
        mode,
        tls: serve.tls_cert.zip(serve.tls_key),
        tls_ca: serve.tls_ca,
        pass_auth: serve.pass_auth,
        policy: Policy {
            subprotocols: serve.subprotocols,
            origins: serve.origins,
            credentials: serve.auth,
            max_clients: serve.max_clients,
            paths: serve.paths,
            headers: serve
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            compression: !serve.no_compression,
        },
        static_dir: serve.static_dir,
        once: serve.once,
        max_message_size: serve.max_message_size,
        max_backlog: serve.max_backlog,
        max_handshakes: serve.max_handshakes,
        handshake_timeout: serve.handshake_timeout,
        console: console(operator, output, true, facts, utc_offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve_connect(args: &[&str], facts: Facts) -> ConnectSettings {
        let cli = Cli::try_parse_from(args).unwrap();
        match resolve(cli, &facts, 0) {
            Settings::Connect(s) => *s,
            _ => panic!("expected connect"),
        }
    }

    const PIPE: Facts = Facts {
        stdin_tty: false,
        stdout_tty: false,
        no_color_env: false,
        dumb: false,
        force_color: false,
    };
    const TTY: Facts = Facts {
        stdin_tty: true,
        stdout_tty: true,
        no_color_env: false,
        dumb: false,
        force_color: false,
    };

    #[test]
    fn pipes_get_raw_output_and_no_repl() {
        let s = resolve_connect(&["wsx", "connect", "ws://h/"], PIPE);
        assert_eq!(s.console.output.format, Format::Raw);
        assert!(!s.console.repl && !s.console.line_mode.slash && !s.console.skip_empty_lines);
        assert_eq!(s.wait, Wait::After(Duration::from_secs(1)));
        assert_eq!(s.console.close_timeout, Duration::from_secs(2));
        assert_eq!(s.max_message_size, 64 << 20);
    }

    #[test]
    fn terminals_get_human_output_and_the_repl() {
        let s = resolve_connect(&["wsx", "connect", "ws://h/"], TTY);
        assert_eq!(s.console.output.format, Format::Human);
        assert!(s.console.repl && s.console.line_mode.slash && s.console.skip_empty_lines);
        let s = resolve_connect(&["wsx", "connect", "ws://h/", "--format", "jsonl"], TTY);
        assert_eq!(s.console.output.format, Format::Jsonl);
    }

    #[test]
    fn credentials_move_from_the_url_to_a_header() {
        let s = resolve_connect(
            &[
                "wsx",
                "connect",
                "ws://bob:p%40ss@h/x",
                "-s",
                "a",
                "-s",
                "b",
            ],
            PIPE,
        );
        assert_eq!(s.url.as_str(), "ws://h/x");
        let get = |name: &str| {
            s.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        // "bob:p@ss"
        assert_eq!(get("authorization").as_deref(), Some("Basic Ym9iOnBAc3M="));
        assert_eq!(get("sec-websocket-protocol").as_deref(), Some("a, b"));
        let s = resolve_connect(
            &["wsx", "connect", "ws://bob:x@h/", "--auth", "al:pw"],
            PIPE,
        );
        assert_eq!(s.headers.len(), 1);
        assert_eq!(s.headers[0].1.to_str().unwrap(), "Basic YWw6cHc=");
    }

    #[test]
    fn negative_wait_and_no_history() {
        let s = resolve_connect(
            &["wsx", "connect", "ws://h/", "-w", "-1", "--no-history"],
            PIPE,
        );
        assert_eq!(s.wait, Wait::Forever);
        assert!(s.console.history.is_none());
    }
}
