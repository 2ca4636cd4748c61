//! Bulk echo (`bench/run bulk`): 4 clients each send 256 binary messages of 1 MiB (256 MiB
//! each way) and read every echo back, writing and reading at once; side by side,
//! `wsx listen --echo`, uWebSockets.js, websocat, and a plain TCP echo (a thread per
//! connection copying what it reads, in a process of its own): the floor over loopback. The
//! figure is the median of 5 runs, the servers taking turns.
//!
//! The clients write frames themselves (masked with a zero key, which a server must take like
//! any other) from one thread and parse the echoes on another, so that the client costs the
//! same against every server and never waits on its own writes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{find_websocat, listening, middle, report, url, websocat_serving, wsx_listen};

const CLIENTS: usize = 4;
const MESSAGE: usize = 1024 * 1024;
const MESSAGES: usize = 256;

/// The plain TCP echo server, for `--tcp-echo-server`: prints its address, copies back.
pub fn tcp_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the TCP echo server");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut out = tcp.try_clone().expect("a second handle");
                let mut tcp = tcp;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = tcp.read(&mut buf) {
                    if n == 0 || out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// How one client talks: WebSocket frames, or the bytes alone.
#[derive(Clone, Copy)]
enum Framing {
    WebSocket,
    Plain,
}

/// Runs the bulk echo against `addr`; returns the wall time, or `None` if a connection
/// failed (the server was stopped: see [`Server::run`]).
fn bulk(addr: SocketAddr, framing: Framing) -> Option<Duration> {
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let tcp = match framing {
            Framing::WebSocket => {
                let tcp = TcpStream::connect(addr).ok()?;
                let (ws, _) = tungstenite::client(url(addr), tcp).ok()?;
                ws.into_inner()
            }
            Framing::Plain => TcpStream::connect(addr).ok()?,
        };
        tcp.set_nodelay(true).ok()?;
        let mut out = tcp.try_clone().ok()?;
        let writer = thread::spawn(move || {
            let payload: Vec<u8> = (0..MESSAGE).map(|i| (i % 251) as u8).collect();
            let mut frame = Vec::with_capacity(MESSAGE + 14);
            if let Framing::WebSocket = framing {
                // FIN + binary; masked, 64-bit length; a zero masking key.
                frame.extend_from_slice(&[0x82, 0x80 | 127]);
                frame.extend_from_slice(&(MESSAGE as u64).to_be_bytes());
                frame.extend_from_slice(&[0; 4]);
            }
            frame.extend_from_slice(&payload);
            (0..MESSAGES).try_for_each(|_| out.write_all(&frame))
        });
        let reader = thread::spawn(move || read_echoes(tcp, framing));
        clients.push((writer, reader));
    }
    let mut whole = true;
    for (writer, reader) in clients {
        whole &= writer.join().is_ok_and(|r| r.is_ok());
        whole &= reader.join().is_ok_and(|r| r.is_ok());
    }
    whole.then(|| start.elapsed())
}

/// Reads every echo of one client and checks it.
fn read_echoes(mut tcp: TcpStream, framing: Framing) -> std::io::Result<()> {
    let mut buf = vec![0u8; MESSAGE];
    match framing {
        Framing::Plain => {
            let mut left = MESSAGE * MESSAGES;
            while left > 0 {
                let n = tcp.read(&mut buf)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                left = left.saturating_sub(n);
            }
        }
        Framing::WebSocket => {
            for _ in 0..MESSAGES {
                let mut head = [0u8; 10];
                tcp.read_exact(&mut head)?;
                let len = u64::from_be_bytes(head[2..].try_into().unwrap_or_default());
                if head[..2] != [0x82, 127] || len != MESSAGE as u64 {
                    // A server that splits messages (websocat without `-B`) fails the bench.
                    let head = format!("{:02x} {:02x}", head[0], head[1]);
                    let why = format!("not one whole 1 MiB binary frame: {head}, {len} bytes");
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
                }
                tcp.read_exact(&mut buf)?;
                if !buf[..1000]
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == (i % 251) as u8)
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "an echo that is not what was sent",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// How long a server may take before it counts as stalled.
const BOUND: Duration = Duration::from_secs(60);

/// Runs of each server, taking turns; the median is the figure.
const RUNS: usize = 5;

/// A server of the bench and its runs so far.
struct Server {
    name: &'static str,
    child: Option<Child>,
    addr: SocketAddr,
    framing: Framing,
    runs: Vec<Duration>,
    /// A run took longer than [`BOUND`]: the server was stopped, and is shown as stalled.
    stalled: bool,
}

impl Server {
    fn new(name: &'static str, (child, addr): (Child, SocketAddr), framing: Framing) -> Server {
        Server {
            name,
            child: Some(child),
            addr,
            framing,
            runs: Vec::new(),
            stalled: false,
        }
    }

    /// One run of [`bulk`]; past [`BOUND`] the server is stopped (which ends the run).
    fn run(&mut self) {
        if self.stalled {
            return;
        }
        let (done, finished) = mpsc::channel();
        let (addr, framing) = (self.addr, self.framing);
        let run = thread::spawn(move || {
            let _ = done.send(bulk(addr, framing));
        });
        match finished.recv_timeout(BOUND).ok().flatten() {
            Some(d) => self.runs.push(d),
            None => {
                self.stalled = true;
                self.stop();
            }
        }
        let _ = run.join();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The median run, `None` if the server stalled.
    fn median(&self) -> Option<Duration> {
        if self.stalled {
            return None;
        }
        middle(self.runs.iter().copied())
    }
}

fn show(d: Option<Duration>) -> String {
    let mib = (CLIENTS * MESSAGES * MESSAGE) as f64 / (1024.0 * 1024.0);
    match d {
        Some(d) => format!(
            "{:.2} s, {:.0} MiB/s each way",
            d.as_secs_f64(),
            mib / d.as_secs_f64()
        ),
        None => format!("stalled (stopped after {} s)", BOUND.as_secs()),
    }
}

/// `bench/run bulk`: wsx at 0.8× the TCP echo or better, and ahead of µWS and websocat; the
/// median of 5 runs each, the servers taking turns and who goes first moving on by one each
/// round (a run here moves by up to 2× from the one before).
pub fn benches() -> usize {
    println!("{CLIENTS} clients x {MESSAGES} binary messages of 1 MiB each way, written and read at once; the median of {RUNS} runs, the servers taking turns");
    let tcp = listening({
        let mut cmd = Command::new(std::env::current_exe().expect("this bench"));
        cmd.arg("--tcp-echo-server");
        cmd
    });
    let mut servers = vec![
        Server::new("plain TCP echo", tcp, Framing::Plain),
        Server::new(
            "wsx listen --echo",
            wsx_listen(&["--echo"]),
            Framing::WebSocket,
        ),
    ];
    if let Some(uws) = crate::load::uws() {
        servers.push(Server::new("uWebSockets.js", uws, Framing::WebSocket));
    }
    if let Some(w) = find_websocat() {
        // `-B`: messages up to 2 MiB stay whole (by default websocat splits them at 64 KiB).
        let websocat = websocat_serving(&w, &["-b", "-E", "-B", "2097152"], "mirror:");
        servers.push(Server::new(
            "websocat mirror:",
            websocat,
            Framing::WebSocket,
        ));
    }
    let count = servers.len();
    for round in 0..RUNS {
        for i in 0..count {
            servers[(round + i) % count].run();
        }
    }
    for server in &mut servers {
        server.stop();
    }
    let floor = servers[0].median().expect("the TCP echo");
    report(servers[0].name, show(Some(floor)), None);
    let wsx = servers[1].median();
    let ratio = wsx.map_or(0.0, |w| floor.as_secs_f64() / w.as_secs_f64());
    let mut misses = report(
        servers[1].name,
        show(wsx),
        Some((
            ratio >= 0.8,
            format!("{ratio:.2}x the TCP echo's rate, target >= 0.8x"),
        )),
    );
    for server in &servers[2..] {
        let theirs = server.median();
        misses += usize::from(theirs.is_some_and(|t| wsx.is_none_or(|w| t < w)));
        report(server.name, show(theirs), None);
    }
    let each = |s: &Server| {
        let runs: Vec<String> = s
            .runs
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        runs.join(", ")
    };
    println!(
        "    runs (s): {}",
        servers
            .iter()
            .map(|s| format!("{} {}", s.name.split(' ').next().unwrap_or(s.name), each(s)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!();
    misses
}
