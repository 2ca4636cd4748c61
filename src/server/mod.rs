//! `wsx listen`: bind, announce the bound address, accept, and serve many clients on the engine.
//!
//! - [`accept`]: each accepted socket gets a short-lived thread for TLS and the HTTP upgrade
//!   ([`handshake`], deciding by [`gate`], or answering from [`files`]), bounded by
//!   `--handshake-timeout`, so a client that sends half a handshake delays nobody;
//! - [`admission`]: the places of the clients served (`--max-clients`);
//! - [`serve`]: finished WebSockets join the engine, which moves every frame; [`hub`] decides
//!   where frames go, [`operator`] what the operator's commands do, [`exec`] runs a program
//!   per client;
//! - [`listener`] binds TCP or a Unix socket, [`limits`] minds the file descriptors.

mod accept;
mod admission;
mod exec;
pub(crate) mod files;
pub(crate) mod forward;
pub mod gate;
mod handshake;
pub mod hub;
mod limits;
mod listener;
mod operator;
mod serve;
mod workers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tungstenite::protocol::WebSocketConfig;

use crate::console::Console;
use crate::engine::Engine;
use crate::tls;
use accept::{Acceptor, LISTENER};
use admission::Admission;
pub use forward::{BytesTarget, ForwardTarget, Settings as ForwardSettings};
use handshake::Shared;
use hub::Mode;
pub use listener::ListenAddr;
use listener::Listener;
use serve::Server;

/// `wsx listen`, resolved (by `settings.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: ListenAddr,
    pub mode: hub::Mode,
    /// `--static`: plain HTTP requests are answered from this folder.
    pub static_dir: Option<PathBuf>,
    /// `--tls-ca`: clients must present a certificate signed by these authorities.
    pub tls_ca: Option<PathBuf>,
    /// `--pass-auth`: `--exec` programs see the Authorization header.
    pub pass_auth: bool,
    /// Certificate chain and key files for wss://.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub policy: gate::Policy,
    pub once: bool,
    pub max_message_size: usize,
    /// `--max-backlog`: a client with more than this waiting for it is closed with 1008.
    pub max_backlog: u64,
    /// `--max-handshakes`: handshakes in progress at most.
    pub max_handshakes: u64,
    pub handshake_timeout: Duration,
    /// `--forward ws://…`: how each client's upstream is dialled (connect's settings for it),
    /// or `--forward tcp:…|unix:…`: where each client's byte stream goes.
    pub forward: Option<forward::Settings>,
    pub console: crate::console::Settings,
}

/// Binds, serves until shut down, and returns the exit status.
///
/// # Errors
/// The address cannot be bound, the TLS files cannot be used, or the terminal cannot be set up.
pub fn run(s: Settings) -> Result<ExitCode> {
    let tls = match &s.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key, s.tls_ca.as_deref())?),
        None => None,
    };
    // A --forward-ca that cannot be used is an error before anything is bound, and so are a
    // recording to play that cannot be read and one to write that cannot be created.
    let forward = s.forward.clone().map(forward::Forward::new).transpose()?;
    let replay = match &s.console.replay {
        Some(r) => Some(serve::Mock::new(crate::replay::open(r)?, r.speed)),
        None => None,
    };
    let recorder = s
        .console
        .record
        .as_ref()
        .map(|r| crate::record::Recorder::create(r, true))
        .transpose()?;
    let open_files = limits::raise_open_files();
    let listener =
        Listener::bind(&s.addr).with_context(|| format!("cannot listen on {}", s.addr))?;
    let url = listener
        .url(tls.is_some())
        .context("reading the bound address")?;

    let mut engine = Engine::new().context("creating the poller")?;
    // Operator input is typed by a person, or piped at a person's pace: a thread reads it.
    let mut console = Console::new(&s.console, engine.waker())?;
    if let Some(recorder) = recorder {
        console.record_to(recorder);
    }
    let mut server = start(&s, listener, tls, forward, open_files, console, &mut engine)?;
    server.replay = replay;
    if !s.console.quiet {
        // The readiness line: printed once bound, with the real port (tests wait on it).
        crate::diag::say(&format!("listening on {url}"));
    }
    server.console.start(engine.net(), None);
    let outcome = engine.run(&mut server);
    server.end(outcome)
}

/// Sets up serving on `engine`: the listener watched, what every handshake thread shares,
/// accepting, and the server with its console (not reading input yet).
///
/// # Errors
/// The poller refused the listener.
fn start(
    s: &Settings,
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    forward: Option<forward::Forward>,
    open_files: Option<u64>,
    console: Console,
    engine: &mut Engine,
) -> Result<Server> {
    let server_port = listener.port();
    let listener = Arc::new(listener);
    let waker = engine.waker();
    engine.net().watch(Box::new(listener.clone()), LISTENER)?;

    // The backlog bound, plus the message that may be queued on top of it, plus control frames.
    let max_queue = usize::try_from(s.max_backlog)
        .unwrap_or(usize::MAX)
        .saturating_add(s.max_message_size.saturating_mul(2));
    let config = WebSocketConfig::default()
        .read_buffer_size(crate::stream::SERVER_READ_BUFFER)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(max_queue)
        .max_message_size(Some(s.max_message_size))
        .max_frame_size(Some(s.max_message_size));
    let shared = Arc::new(Shared {
        policy: s.policy.clone(),
        tls,
        timeout: s.handshake_timeout,
        config,
        admission: Admission::new(s.policy.max_clients),
        quiet: s.console.quiet,
        verbose: s.console.verbose,
        pending: Mutex::new(BTreeMap::new()),
        static_dir: s.static_dir.clone(),
        cgi: matches!(s.mode, Mode::Exec(_)),
        pass_auth: s.pass_auth,
        server_port,
        forward,
    });
    let (accepted_tx, accepted) = mpsc::channel();
    let acceptor = Acceptor::new(
        listener,
        shared,
        accepted_tx,
        waker.clone(),
        s.max_handshakes,
        open_files,
    );
    Ok(Server::new(s, console, acceptor, accepted, waker))
}

#[cfg(test)]
impl Settings {
    /// The defaults of `wsx listen 127.0.0.1:0` in a pipe, in `mode`, with human output.
    pub fn for_test(mode: Mode) -> Settings {
        Settings {
            addr: ListenAddr::Tcp(([127, 0, 0, 1], 0).into()),
            mode,
            static_dir: None,
            tls_ca: None,
            pass_auth: false,
            tls: None,
            policy: gate::Policy::default(),
            once: false,
            max_message_size: 64 << 20,
            max_backlog: 8 << 20,
            max_handshakes: 256,
            handshake_timeout: Duration::from_secs(10),
            forward: None,
            console: crate::console::Settings::for_test(crate::output::Format::Human, true),
        }
    }
}

/// A server for tests: `s` served on 127.0.0.1 port 0 with a captured console. Returns it,
/// its engine, its port, what it prints, and the channel its operator input comes from.
#[cfg(test)]
#[allow(clippy::type_complexity)]
fn for_test(
    s: &Settings,
) -> (
    Server,
    Engine,
    u16,
    Arc<std::sync::Mutex<Vec<u8>>>,
    mpsc::SyncSender<crate::console::Batch>,
) {
    let listener = Listener::bind(&s.addr).expect("binding 127.0.0.1:0");
    let port = listener.port().expect("a TCP port");
    let mut engine = Engine::new().expect("a poller");
    let (console, printed, input) = Console::captured(&s.console, engine.waker());
    let forward = s
        .forward
        .clone()
        .map(|f| forward::Forward::new(f).expect("a forward"));
    let server = start(s, listener, None, forward, None, console, &mut engine).expect("serving");
    (server, engine, port, printed, input)
}
