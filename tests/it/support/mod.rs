//! Shared test support: the `wsx` binary with a scrubbed environment, bounded runs, and
//! in-process peers on 127.0.0.1 port 0 that report what they saw.
//!
//! No sleeps and no fixed ports: every wait has a deadline that only turns a hang into a
//! failure, and every process started here is killed by its PID.

// Each platform's tests use a different part of this module (pseudo-terminals, signals and
// `/proc` are not everywhere): what one platform leaves unused is not dead.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

#[cfg(target_os = "linux")]
pub mod faults;

/// How long any single wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Waits until `done` holds, checking every few milliseconds, and fails the test with `what`
/// after [`PATIENCE`]. For conditions no event announces (a process gone; only Linux's tests
/// look for those, in `/proc`).
#[cfg(target_os = "linux")]
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A fresh directory to serve as `HOME` for one test.
pub fn temp_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("creating a temp dir")
}

fn shared_home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wsx-test-home-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the test home");
        dir
    })
}

/// `wsx` with every variable that changes its output removed and `HOME` pointed away from
/// the user's (so no real history file is touched).
pub fn wsx() -> Command {
    scrubbed(env!("CARGO_BIN_EXE_wsx"))
}

/// `program` in the environment of [`wsx`].
pub fn scrubbed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "TERM",
        "COLORTERM",
        "XDG_DATA_HOME",
        "SSLKEYLOGFILE",
    ] {
        cmd.env_remove(var);
    }
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", shared_home());
    cmd
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `cmd` with `stdin` as its input and waits for it within [`PATIENCE`].
pub fn run(mut cmd: Command, stdin: &[u8]) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawning wsx");
    finish(child, stdin)
}

/// Feeds `stdin` to a spawned child and collects its output within [`PATIENCE`]; on timeout
/// the child is killed and the test fails with what was seen.
pub fn finish(mut child: Child, stdin: &[u8]) -> Run {
    let pid = child.id();
    let input = child.stdin.take();
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        // The child may exit before reading everything (for example on a refused connection).
        if let Some(mut input) = input {
            let _ = input.write_all(&data);
        }
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(output) => {
            let output = output.expect("waiting for wsx");
            let _ = writer.join();
            Run {
                code: output.status.code(),
                stdout: output.stdout,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        }
        Err(_) => {
            kill(pid);
            panic!("wsx (pid {pid}) did not exit within {PATIENCE:?}");
        }
    }
}

/// Waits (bounded) for a child to exit and returns its status code; kills it and fails the
/// test after [`PATIENCE`].
pub fn wait_for_exit(child: &mut Child) -> Option<i32> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for wsx") {
            return status.code();
        }
        if std::time::Instant::now() >= deadline {
            kill(child.id());
            panic!("wsx (pid {}) did not exit within {PATIENCE:?}", child.id());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a blocking step (a read from a child's pipe) for at most [`PATIENCE`]; past it, kills
/// the child `pid` (which ends the read) and fails the test with `what`.
pub fn within<T: Send + 'static>(
    pid: u32,
    what: &str,
    step: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(step());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(result) => result,
        Err(_) => {
            kill(pid);
            panic!("{what}: nothing within {PATIENCE:?}");
        }
    }
}

/// Reads one line from a child's pipe, within [`PATIENCE`]; hands the reader back.
pub fn read_line_within<R: std::io::BufRead + Send + 'static>(
    pid: u32,
    mut reader: R,
) -> (R, String) {
    within(pid, "waiting for a line", move || {
        let mut line = String::new();
        reader.read_line(&mut line).expect("reading a line");
        (reader, line)
    })
}

/// Kills a process by PID.
pub fn kill(pid: u32) {
    #[cfg(unix)]
    let mut kill = Command::new("kill");
    #[cfg(unix)]
    kill.args(["-KILL", &pid.to_string()]);
    #[cfg(windows)]
    let mut kill = Command::new("taskkill");
    #[cfg(windows)]
    kill.args(["/F", "/T", "/PID", &pid.to_string()]);
    let _ = kill.stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Sends SIGINT to a process.
#[cfg(unix)]
pub fn interrupt(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}

/// Sends SIGTERM to a process.
#[cfg(unix)]
pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// Waits until the pipe `end` belongs to holds a good part of what it can (a quarter): its
/// writer is running into a reader that stopped.
///
/// How much a full pipe holds depends on how it was written (a page takes a write only if
/// the whole write fits), so this does not wait for "full": a writer that keeps writing gets
/// there right after.
#[cfg(target_os = "linux")]
pub fn wait_until_filling(end: &impl std::os::fd::AsFd) {
    let capacity = rustix::pipe::fcntl_getpipe_size(end).expect("F_GETPIPE_SZ");
    eventually("the pipe to fill up", || {
        rustix::io::ioctl_fionread(end).is_ok_and(|n| n as usize >= capacity / 4)
    });
}

/// Waits until the pipe `end` belongs to is full, for a writer of large blocks (they fill
/// every page but perhaps the last): its writer can put nothing more in.
#[cfg(target_os = "linux")]
pub fn wait_until_full(end: &impl std::os::fd::AsFd) {
    let capacity = rustix::pipe::fcntl_getpipe_size(end).expect("F_GETPIPE_SZ");
    eventually("the pipe to be full", || {
        rustix::io::ioctl_fionread(end).is_ok_and(|n| n as usize + 4096 >= capacity)
    });
}

/// A port on 127.0.0.1 where nothing listens, and nothing will.
pub fn closed_port() -> u16 {
    // Bound but never listening, and kept until the tests end: connecting is refused, and no
    // other socket can take the port meanwhile.
    static HELD: std::sync::Mutex<Vec<socket2::Socket>> = std::sync::Mutex::new(Vec::new());
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any.into()).expect("binding");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("local addr")
        .port();
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(socket);
    port
}

/// Reads an HTTP head (up to and including its empty line) byte by byte, so that nothing
/// after it is consumed; what was read when the stream ends or fails, otherwise.
pub fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// What a peer saw from wsx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A Close frame: code and reason (code 0 stands for a Close without a body).
    Close(u16, String),
    /// The connection ended; how.
    Gone(String),
}

/// Anything a WebSocket can run over in a test: TCP or TLS.
pub trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

pub type Ws = WebSocket<Box<dyn Io>>;

/// An in-process server for one connection at a time, on 127.0.0.1 port 0. What it sees is
/// reported on [`Peer::next`]. Dropping it joins its thread and passes on a panic.
pub struct Peer {
    pub addr: SocketAddr,
    seen: Receiver<Seen>,
    done: Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl Peer {
    /// Accepts one raw TCP connection and hands it to `f`.
    pub fn tcp<F>(f: F) -> Peer
    where
        F: FnOnce(TcpStream, &Sender<Seen>) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the peer");
        let addr = listener.local_addr().expect("local addr");
        let (seen_tx, seen) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let handle = thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accepting");
            tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
            f(tcp, &seen_tx);
            let _ = done_tx.send(());
        });
        Peer {
            addr,
            seen,
            done,
            handle: Some(handle),
        }
    }

    /// Accepts one WebSocket connection (over `wrap`, e.g. TLS) and hands it to `f`.
    pub fn ws_over<W, F>(wrap: W, f: F) -> Peer
    where
        W: FnOnce(TcpStream) -> Box<dyn Io> + Send + 'static,
        F: FnOnce(&mut Ws, &Sender<Seen>) + Send + 'static,
    {
        Peer::tcp(move |tcp, seen| {
            let mut ws = tungstenite::accept(wrap(tcp)).expect("server handshake");
            f(&mut ws, seen);
        })
    }

    /// Accepts one WebSocket connection over plain TCP and hands it to `f`.
    pub fn ws<F>(f: F) -> Peer
    where
        F: FnOnce(&mut Ws, &Sender<Seen>) + Send + 'static,
    {
        Peer::ws_over(|tcp| Box::new(tcp), f)
    }

    /// Echoes every data frame after `delay`, recording everything until the connection ends.
    pub fn echo_after(delay: Duration) -> Peer {
        Peer::ws(move |ws, seen| loop {
            match record(ws, seen) {
                Some(msg @ (Message::Text(_) | Message::Binary(_))) => {
                    if !delay.is_zero() {
                        thread::sleep(delay); // the behaviour under test: a slow server
                    }
                    ws.send(msg).expect("echoing");
                }
                Some(_) => {}
                None => return,
            }
        })
    }

    /// Echoes every data frame at once.
    pub fn echo() -> Peer {
        Peer::echo_after(Duration::ZERO)
    }

    /// `ws://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The next thing the peer saw; fails the test after [`PATIENCE`].
    pub fn next(&self) -> Seen {
        self.seen
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("the peer saw nothing more within {PATIENCE:?}"))
    }

    /// Everything the peer saw until its connection ended.
    pub fn all(&self) -> Vec<Seen> {
        let mut all = Vec::new();
        loop {
            let seen = self.next();
            let end = matches!(seen, Seen::Gone(_));
            all.push(seen);
            if end {
                return all;
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if thread::panicking() {
            return;
        }
        if self.done.recv_timeout(PATIENCE).is_err() {
            panic!("the peer thread did not finish within {PATIENCE:?}");
        }
        if let Some(handle) = self.handle.take() {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Reads one message and reports it; `None` once the connection has ended (also reported).
pub fn record(ws: &mut Ws, seen: &Sender<Seen>) -> Option<Message> {
    match ws.read() {
        Ok(msg) => {
            let _ = seen.send(match &msg {
                Message::Text(t) => Seen::Text(t.as_str().to_string()),
                Message::Binary(b) => Seen::Binary(b.to_vec()),
                Message::Ping(p) => Seen::Ping(p.to_vec()),
                Message::Pong(p) => Seen::Pong(p.to_vec()),
                Message::Close(c) => c.as_ref().map_or(Seen::Close(0, String::new()), |c| {
                    Seen::Close(c.code.into(), c.reason.as_str().to_string())
                }),
                Message::Frame(_) => return Some(msg),
            });
            Some(msg)
        }
        Err(tungstenite::Error::ConnectionClosed) => {
            let _ = seen.send(Seen::Gone("closed".into()));
            None
        }
        Err(e) => {
            let _ = seen.send(Seen::Gone(e.to_string()));
            None
        }
    }
}

/// Reads and records until the connection ends.
pub fn record_until_end(ws: &mut Ws, seen: &Sender<Seen>) {
    while record(ws, seen).is_some() {}
}

/// Sends a Close frame with `code` and `reason`.
pub fn close_with(ws: &mut Ws, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    };
    ws.close(Some(frame)).expect("sending close");
}

/// A certificate authority, a server certificate signed by it and a client certificate,
/// made fresh for a test.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// A server certificate for `localhost` and 127.0.0.1, valid now; no client certificate
    /// is asked for.
    pub fn new() -> TestPki {
        TestPki::with(&["localhost", "127.0.0.1"], false, false)
    }

    /// A server certificate for `names`, expired or not; `client_auth` makes the server
    /// require a client certificate signed by the same CA.
    pub fn with(names: &[&str], expired: bool, client_auth: bool) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = params.signed_by(&key, &issuer).expect("server cert");

        let client_key = KeyPair::generate().expect("client key");
        let client_params =
            CertificateParams::new(vec!["wsx-test-client".to_string()]).expect("client params");
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .expect("client cert");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der().clone()).expect("CA root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let server = builder
            .with_single_cert(
                vec![cert.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        TestPki {
            ca_pem: ca.pem(),
            server_cert_pem: format!("{}{}", cert.pem(), ca.pem()),
            server_key_pem: key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            server: Arc::new(server),
        }
    }

    /// Wraps an accepted TCP connection in TLS with this PKI's server certificate.
    pub fn wrap(&self) -> impl FnOnce(TcpStream) -> Box<dyn Io> + Send + 'static {
        let config = self.server.clone();
        move |tcp| {
            let conn = rustls::ServerConnection::new(config).expect("server connection");
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
    }
}

/// A running `wsx listen`: its URL (from the readiness line), and its stdout and stderr as
/// channels of lines. Dropping it kills the process by PID.
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    pub url: String,
    pub port: u16,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stdin: Option<std::process::ChildStdin>,
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

fn line_reader(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Server {
    /// Starts `wsx listen 127.0.0.1:0 ARGS` with human output and no timestamps, and waits
    /// for `listening on ws://127.0.0.1:PORT` (or wss://).
    pub fn start(args: &[&str]) -> Server {
        let base = [
            "listen",
            "127.0.0.1:0",
            "--format",
            "human",
            "--timestamps",
            "none",
        ];
        Server::start_with(&base, args)
    }

    /// Starts `wsx BASE ARGS` (BASE being `listen ADDR ...`) and waits for the readiness line.
    pub fn start_with(base: &[&str], args: &[&str]) -> Server {
        let mut cmd = wsx();
        cmd.args(base).args(args);
        Server::start_command(cmd)
    }

    /// Starts a prepared `wsx listen` command and waits for the readiness line.
    pub fn start_command(mut cmd: Command) -> Server {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning wsx listen");
        let stdout = line_reader(child.stdout.take().expect("stdout"));
        let stderr = line_reader(child.stderr.take().expect("stderr"));
        let stdin = child.stdin.take();
        let mut server = Server {
            pid: child.id(),
            child: Some(child),
            url: String::new(),
            port: 0,
            stdout,
            stderr,
            stdin,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
        };
        let line = server.expect_stderr("listening on ");
        let url = line.trim_start_matches("listening on ").to_string();
        // A wildcard address is reached through loopback.
        let url = url.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
        // A Unix socket has no port.
        server.port = match url.contains("+unix:") {
            true => 0,
            false => url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a port"),
        };
        server.url = format!("{url}/");
        server
    }

    fn expect_in(
        rx: &Receiver<String>,
        seen: &mut Vec<String>,
        what: &str,
        needle: &str,
    ) -> String {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {what} line containing {needle:?} within {PATIENCE:?}; saw:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }

    /// Waits for a stdout line containing `needle` and returns it.
    pub fn expect_stdout(&mut self, needle: &str) -> String {
        Self::expect_in(&self.stdout, &mut self.seen_out, "stdout", needle)
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn expect_stderr(&mut self, needle: &str) -> String {
        Self::expect_in(&self.stderr, &mut self.seen_err, "stderr", needle)
    }

    /// Everything the server has written to stderr so far, without waiting.
    pub fn stderr_so_far(&mut self) -> String {
        while let Ok(line) = self.stderr.try_recv() {
            self.seen_err.push(line);
        }
        self.seen_err.join("\n")
    }

    /// Writes one operator line to the server's stdin.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("writing to wsx");
        stdin.flush().expect("flushing");
    }

    /// Closes the server's stdin (operator EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit and returns its status code.
    pub fn wait(&mut self) -> Option<i32> {
        let mut child = self.child.take().expect("waited for once");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(PATIENCE) {
            Ok(status) => status.expect("waiting for wsx listen").code(),
            Err(_) => {
                kill(self.pid);
                panic!("wsx listen did not exit within {PATIENCE:?}");
            }
        }
    }

    /// A WebSocket client connected to this server (blocking, with a read timeout).
    pub fn client(&self) -> WebSocket<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting");
        tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let (ws, _) = tungstenite::client(self.url.as_str(), tcp).expect("client handshake");
        ws
    }

    /// The ids of the processes wsx has started and not yet reaped (zombies included): every
    /// process in `/proc` whose parent is wsx.
    #[cfg(target_os = "linux")]
    pub fn children(&self) -> Vec<u32> {
        let procs = std::fs::read_dir("/proc").expect("reading /proc");
        procs
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
                let (_, rest) = stat.rsplit_once(") ")?;
                let ppid: u32 = rest.split(' ').nth(1)?.parse().ok()?;
                (ppid == self.pid).then_some(pid)
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match self.child.take() {
            Some(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            None => kill(self.pid), // already waited for; harmless if gone
        }
    }
}

/// Reads the next text message, skipping control frames.
pub fn next_text<S: Read + Write>(ws: &mut WebSocket<S>) -> String {
    loop {
        match ws.read().expect("reading a message") {
            Message::Text(t) => return t.as_str().to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Reads until a Close frame arrives and returns its code (0 for none).
pub fn next_close<S: Read + Write>(ws: &mut WebSocket<S>) -> u16 {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame.map_or(0, |f| f.code.into()),
            Ok(_) => continue,
            Err(e) => panic!("expected a Close frame, got {e}"),
        }
    }
}
