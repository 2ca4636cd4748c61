//! The command line resolved into the settings of what runs: the only reader of [`Cli`].
//!
//! Each command's settings are a type of the module that runs it ([`client::Settings`],
//! [`server::Settings`], and [`console::Settings`] and [`output::Settings`] inside them);
//! this module only fills them in, and only `app.rs` sees the whole. Terminal facts come in as
//! values, so every decision here is testable.

use std::time::SystemTime;

use base64::Engine as _;
use tungstenite::http::{HeaderName, HeaderValue};
use url::Url;

use crate::cli::{Action, Cli, ConnectArgs, ListenArgs, OperatorArgs, OutputArgs, RecordArgs};
use crate::command::LineMode;
use crate::output::{Format, View};
use crate::server::gate::Policy;
use crate::server::hub::Mode;
use crate::server::ForwardTarget;
use crate::term::Facts;
use crate::tls::ClientTls;
use crate::{client, console, output, server};

/// What to do, with everything resolved.
pub enum Settings {
    Connect(Box<client::Settings>),
    Listen(Box<server::Settings>),
    Completions(clap_complete::Shell),
    /// `wsx man [COMMAND]`.
    Man(Option<String>),
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

/// Which role the console serves: `wsx listen`, or `wsx connect` with or without `--stream`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
    /// `wsx connect --stream`: bytes in, payloads out, never the line editor.
    Stream,
    /// `wsx connect --tcp-listen`: no input; what passes is shown as a relay shows it.
    Tunnel,
}

fn console(
    op: OperatorArgs,
    output: OutputArgs,
    record: RecordArgs,
    role: Role,
    facts: &Facts,
    utc_offset: i32,
) -> console::Settings {
    let server = role == Role::Server;
    let stream = role == Role::Stream;
    // rustyline only when both ends are terminals: on piped input it keeps the newline
    // (rustyline#532), and it would write its prompt into a piped stdout.
    // `connect --replay` reads no input: its output goes straight to the terminal.
    let replays = role == Role::Client && record.replay.is_some();
    let repl = facts.stdin_tty
        && facts.stdout_tty
        && matches!(role, Role::Client | Role::Server)
        && !replays;
    let format = output.format.unwrap_or(if facts.stdout_tty && !stream {
        Format::Human
    } else {
        Format::Raw
    });
    let history = (!op.no_history).then(dirs::data_dir).flatten().map(|dir| {
        dir.join("wsx")
            .join(if server { "listen-history" } else { "history" })
    });
    console::Settings {
        line_mode: LineMode {
            slash: op.slash || facts.stdin_tty,
            binary: op.binary,
            server,
        },
        skip_empty_lines: facts.stdin_tty,
        stream,
        history,
        repl,
        close_timeout: op.close_timeout,
        output: output::Settings {
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
            stream,
            relay: role == Role::Tunnel,
            color: facts.color(output.no_color),
        },
        quiet: output.quiet,
        verbose: output.verbose,
        record: record.record.map(|path| crate::record::Settings {
            path,
            credentials: record.record_credentials,
        }),
        replay: record.replay.map(|path| crate::replay::Settings {
            path,
            speed: record.replay_speed,
        }),
    }
}

fn connect(args: ConnectArgs, facts: &Facts, utc_offset: i32) -> client::Settings {
    let ConnectArgs {
        url,
        input,
        operator,
        output,
        mut net,
        tls,
        record,
    } = args;
    let given = std::mem::take(&mut net.headers);
    let (url, request) = request_headers(url, given, &net);
    client::Settings {
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
        tcp_listen: input.tcp_listen,
        unix_socket: net.unix_socket.clone(),
        proxy: net.proxy,
        follow_redirects: net.location,
        max_redirects: net.max_redirects,
        tls: ClientTls {
            ca: tls.ca,
            insecure: tls.insecure,
            identity: tls.cert.zip(tls.key),
        },
        console: console(
            operator,
            output,
            record,
            match (input.stream, input.tcp_listen.is_some()) {
                (_, true) => Role::Tunnel,
                (true, false) => Role::Stream,
                (false, false) => Role::Client,
            },
            facts,
            utc_offset,
        ),
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

fn listen(args: ListenArgs, facts: &Facts, utc_offset: i32) -> server::Settings {
    let ListenArgs {
        addr,
        serve,
        forward,
        operator,
        output,
        record,
    } = args;
    let mode = match (serve.echo, serve.chat, serve.exec, &forward.forward) {
        (_, _, _, Some(_)) => Mode::Forward,
        (_, _, Some(cmd), None) => Mode::Exec(cmd),
        (true, _, None, None) => Mode::Echo,
        (false, true, None, None) => Mode::Chat,
        (false, false, None, None) => Mode::Broadcast,
    };
    let relay = forward.forward.is_some();
    let mut console = console(operator, output, record, Role::Server, facts, utc_offset);
    console.output.relay = relay;
    let bridge = matches!(forward.forward, Some(ForwardTarget::Bytes(_)));
    let timeout = forward.forward_timeout;
    let forward = forward.forward.map(|target| match target {
        ForwardTarget::Bytes(target) => server::ForwardSettings::Bytes { target, timeout },
        ForwardTarget::WebSocket(url) => {
            server::ForwardSettings::WebSocket(Box::new(client::Settings {
                wait: client::Wait::Forever,
                max_message_size: serve.max_message_size,
                compression: !serve.no_compression,
                connect_timeout: Some(forward.forward_timeout),
                tls: ClientTls {
                    ca: forward.forward_ca.clone(),
                    insecure: forward.forward_insecure,
                    identity: None,
                },
                ..client::Settings::dial(url, console.clone())
            }))
        }
    });
    server::Settings {
        addr,
        mode,
        tls: serve.tls_cert.zip(serve.tls_key),
        tls_ca: serve.tls_ca,
        pass_auth: serve.pass_auth,
        policy: Policy {
            // A bridge speaks websockify's `binary` subprotocol to a client that offers it.
            subprotocols: if bridge {
                vec!["binary".to_string()]
            } else {
                serve.subprotocols
            },
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
        forward,
        console,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    fn resolve_connect(args: &[&str], facts: Facts) -> client::Settings {
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
        assert_eq!(s.wait, client::Wait::After(Duration::from_secs(1)));
        assert_eq!(s.console.close_timeout, Duration::from_secs(2));
        assert_eq!(s.max_message_size, 64 << 20);
    }

    #[test]
    fn connect_replay_reads_no_input_even_on_a_terminal() {
        let s = resolve_connect(&["wsx", "connect", "ws://h/", "--replay", "x.har"], TTY);
        assert!(!s.console.repl);
        assert_eq!(s.console.output.format, Format::Human);
        assert_eq!(s.console.replay.as_ref().map(|r| r.speed), Some(1.0));
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
        assert_eq!(s.wait, client::Wait::Forever);
        assert!(s.console.history.is_none());
    }
}
