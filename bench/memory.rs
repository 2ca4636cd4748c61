//! What a server's connections cost in memory (`bench/run memory [idle|many|compress]`), side
//! by side with uWebSockets.js, websocat, Node's `ws` and Python's `websockets`:
//!
//! - `idle`: 10,000 idle clients, each verified with one echo: the server's peak RSS, and
//!   what each client added above the server's RSS before the first of them;
//! - `many`: as many idle clients as the descriptor limit lets this process hold;
//! - `compress`: 1,000 clients that offer permessage-deflate as a browser does, each sending
//!   one compressed message and checking that its echo comes back compressed.
//!
//! The peers are installed on first use: Node's `ws` from npm into `bench/node_modules`,
//! Python's `websockets` with pip into `target/bench-venv`.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use crate::{find_websocat, listening, report, stop, url, websocat_listen, ws_client, wsx_listen};

/// Idle clients of the `idle` row, and the `many` row's client count when the descriptor
/// limit is not known.
pub const IDLE_CLIENTS: usize = 10_000;
/// Clients of the `compress` row.
const COMPRESSING_CLIENTS: usize = 1_000;
/// Descriptors kept back from the limit for everything else a process holds.
const SPARE_DESCRIPTORS: usize = 100;

/// What a server held: its RSS before the clients, and its peak with them.
struct Held {
    base_kb: u64,
    peak_kb: u64,
    clients: usize,
    /// A new client's connect and echo while the others are connected.
    round_trip: Duration,
}

impl Held {
    fn total_mb(&self) -> f64 {
        self.peak_kb as f64 / 1024.0
    }

    /// Bytes each client added above the server's RSS before them.
    fn per_client(&self) -> f64 {
        (self.peak_kb.saturating_sub(self.base_kb) * 1024) as f64 / self.clients as f64
    }

    fn show(&self) -> String {
        format!(
            "{:.1} MB, {:.0} B each, a new client's echo in {:.2} ms",
            self.total_mb(),
            self.per_client(),
            self.round_trip.as_secs_f64() * 1000.0
        )
    }
}

/// `bench/run memory [idle|many|compress]`: every row, or those named.
pub fn benches(only: &[String]) -> usize {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut misses = 0;
    if wanted("idle") {
        misses += idle(IDLE_CLIENTS);
    }
    if wanted("many") {
        misses += many();
    }
    if wanted("compress") {
        misses += compress(COMPRESSING_CLIENTS);
    }
    misses
}

/// 10,000 idle clients: wsx ≤ 20 MB in all, beside µWS and websocat.
fn idle(n: usize) -> usize {
    println!("{n} idle clients, each verified with one echo: peak RSS, and each client's share above the server's RSS before them");
    let (child, addr) = wsx_listen(&["--echo"]);
    let wsx = hold(&child, addr, n, idle_clients);
    stop(child);
    let mb = wsx.total_mb();
    let misses = report(
        "wsx listen --echo",
        wsx.show(),
        Some((mb <= 20.0, "target <= 20 MB".into())),
    );
    if let Some((child, addr)) = crate::load::uws() {
        report(
            "uWebSockets.js",
            hold(&child, addr, n, idle_clients).show(),
            None,
        );
        stop(child);
    }
    if let Some(w) = find_websocat() {
        let (child, addr) = websocat_listen(&w, "mirror:");
        report(
            "websocat mirror:",
            hold(&child, addr, n, idle_clients).show(),
            None,
        );
        stop(child);
    }
    println!();
    misses
}

/// As many idle clients as this process may hold: wsx ≤ 1.5 KB each.
fn many() -> usize {
    let n = descriptor_limit().map_or(IDLE_CLIENTS, |l| l.saturating_sub(SPARE_DESCRIPTORS));
    println!("{n} idle clients (the descriptor limit, less {SPARE_DESCRIPTORS})");
    let (child, addr) = wsx_listen(&["--echo"]);
    let wsx = hold(&child, addr, n, idle_clients);
    stop(child);
    let each = wsx.per_client();
    let misses = report(
        "wsx listen --echo",
        wsx.show(),
        Some((each <= 1536.0, "target <= 1.5 KB each".into())),
    );
    println!();
    misses
}

/// 1,000 clients that compress: wsx ≤ 64 MB, beside Node's `ws` and Python's `websockets`.
fn compress(n: usize) -> usize {
    println!("{n} clients that compress (offered as a browser does), each verified with one compressed echo");
    let (child, addr) = wsx_listen(&["--echo"]);
    let wsx = hold(&child, addr, n, compressing_clients);
    stop(child);
    let mb = wsx.total_mb();
    let misses = report(
        "wsx listen --echo",
        wsx.show(),
        Some((mb <= 64.0, "target <= 64 MB".into())),
    );
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    if let Some((child, addr)) = node_ws(&bench) {
        report(
            "Node ws",
            hold(&child, addr, n, compressing_clients).show(),
            None,
        );
        stop(child);
    }
    if let Some((child, addr)) = python_websockets(&bench) {
        report(
            "Python websockets",
            hold(&child, addr, n, compressing_clients).show(),
            None,
        );
        stop(child);
    }
    println!();
    misses
}

/// Opens `n` clients with `open` against the server `child` at `addr`, and measures.
fn hold(
    child: &Child,
    addr: SocketAddr,
    n: usize,
    open: fn(SocketAddr, usize) -> Vec<WebSocket<TcpStream>>,
) -> Held {
    // One client first, so that what serving one costs once (code paged in, buffers of the
    // loop itself) is in the base.
    drop(open(addr, 1));
    let base_kb = status_kb(child.id(), "VmRSS:");
    let clients = open(addr, n);
    let peak_kb = status_kb(child.id(), "VmHWM:");
    let round_trip = new_client_round_trip(addr);
    drop(clients);
    Held {
        base_kb,
        peak_kb,
        clients: n,
        round_trip,
    }
}

/// Opens `n` clients, each verified with one echo; returns them (to keep them open, idle).
pub fn idle_clients(addr: SocketAddr, n: usize) -> Vec<WebSocket<TcpStream>> {
    (0..n)
        .map(|_| {
            let mut ws = ws_client(addr);
            ws.send(Message::text("here")).expect("sending");
            ws.read().expect("the echo");
            ws
        })
        .collect()
}

/// Opens `n` clients that offer permessage-deflate as a browser does; each sends one
/// compressed message and checks that its echo comes back compressed.
fn compressing_clients(addr: SocketAddr, n: usize) -> Vec<WebSocket<TcpStream>> {
    use flate2::{Compress, Compression, FlushCompress};
    use tungstenite::client::IntoClientRequest;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;

    (0..n)
        .map(|i| {
            let mut request = url(addr).into_client_request().expect("a request");
            request.headers_mut().insert(
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits"
                    .parse()
                    .expect("a value"),
            );
            let tcp = TcpStream::connect(addr).expect("connecting");
            let (mut ws, response) = tungstenite::client(request, tcp).expect("handshake");
            assert!(response.headers().contains_key("sec-websocket-extensions"));
            let text =
                format!(r#"{{"id":{i},"type":"trade","symbol":"BTC-USD","price":"43210.55"}}"#);
            // A 256-byte window fits this message and any window the server may ask for.
            let mut z = Compress::new_with_window_bits(Compression::default(), false, 9);
            let mut payload = Vec::with_capacity(256);
            z.compress_vec(text.as_bytes(), &mut payload, FlushCompress::Sync)
                .expect("compressing");
            payload.truncate(payload.len() - 4);
            let mut frame = Frame::message(payload, OpCode::Data(Data::Text), true);
            frame.header_mut().rsv1 = true;
            ws.send(Message::Frame(frame)).expect("sending");
            // The echo, read from the socket: tungstenite itself refuses RSV1.
            let mut head = [0u8; 2];
            ws.get_mut().read_exact(&mut head).expect("the echo");
            assert_eq!(head[0], 0xc1, "a compressed text frame");
            let mut body = vec![0u8; usize::from(head[1] & 0x7f)];
            ws.get_mut().read_exact(&mut body).expect("its payload");
            ws
        })
        .collect()
}

/// A line of `/proc/PID/status`, in kB.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .map(str::to_string)
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// This process's descriptor limit (the bench raised it to the hard one).
fn descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        limit.current.and_then(|l| usize::try_from(l).ok())
    }
    #[cfg(not(unix))]
    None
}

/// Node's `ws` compressing every message (`bench/ws-echo.js`), installed on first use.
fn node_ws(bench: &Path) -> Option<(Child, SocketAddr)> {
    if !bench.join("node_modules/ws").exists() && !npm_install(bench, "ws@8") {
        println!("  Node ws could not be installed: its row is skipped");
        return None;
    }
    let mut cmd = Command::new("node");
    cmd.arg(bench.join("ws-echo.js"));
    Some(listening(cmd))
}

/// Python's `websockets` with its default compression (`bench/websockets-echo.py`), in a
/// virtual environment made on first use.
fn python_websockets(bench: &Path) -> Option<(Child, SocketAddr)> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let python: PathBuf = venv.join("bin/python");
    if !python.exists() {
        println!("  installing Python websockets into target/bench-venv (pip)");
        let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            && run(Command::new(&python).args(["-m", "pip", "install", "-q", "websockets"]));
        if !made {
            println!("  Python websockets could not be installed: its row is skipped");
            return None;
        }
    }
    let mut cmd = Command::new(python);
    cmd.arg(bench.join("websockets-echo.py"));
    Some(listening(cmd))
}

/// `npm install PACKAGE` into `bench/node_modules`.
pub fn npm_install(bench: &Path, package: &str) -> bool {
    println!("  installing {package} into bench/node_modules (npm)");
    run(Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(bench)
        .arg(package))
}

fn run(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Connects a new client and times its first echo; the median of 21.
pub fn new_client_round_trip(addr: SocketAddr) -> Duration {
    let mut samples: Vec<Duration> = (0..21)
        .map(|_| {
            let start = Instant::now();
            let mut ws = ws_client(addr);
            ws.send(Message::text("hello")).expect("sending");
            ws.read().expect("the echo");
            let elapsed = start.elapsed();
            let _ = ws.close(None);
            elapsed
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}
