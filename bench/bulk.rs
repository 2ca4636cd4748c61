//! Bulk echo (`bench/run bulk`): 4 clients each send 256 binary messages of 1 MiB (256 MiB
//! each way) and read every echo back, writing and reading at once; side by side,
//! `wsx listen --echo`, uWebSockets.js, websocat, and a plain TCP echo (a thread per
//! connection copying what it reads, in a process of its own): the floor over loopback.
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

use crate::{find_websocat, listening, report, stop, url, websocat_serving, wsx_listen};

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
/// failed (the server was stopped: see [`bounded`]).
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

/// [`bulk`] against the server `child`, which is stopped after [`BOUND`] if it has not
/// finished (then `None`).
fn bounded(mut child: Child, addr: SocketAddr) -> Option<Duration> {
    let (done, finished) = mpsc::channel();
    let run = thread::spawn(move || {
        let _ = done.send(bulk(addr, Framing::WebSocket));
    });
    let result = finished.recv_timeout(BOUND).ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    let _ = run.join();
    result
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

/// `bench/run bulk`: wsx at 0.8× the TCP echo or better, and ahead of µWS and websocat.
pub fn benches() -> usize {
    println!("{CLIENTS} clients x {MESSAGES} binary messages of 1 MiB each way, written and read at once");
    let (tcp, tcp_addr) = listening({
        let mut cmd = Command::new(std::env::current_exe().expect("this bench"));
        cmd.arg("--tcp-echo-server");
        cmd
    });
    let floor = bulk(tcp_addr, Framing::Plain).expect("the TCP echo");
    stop(tcp);
    report("plain TCP echo", show(Some(floor)), None);
    let (child, addr) = wsx_listen(&["--echo"]);
    let wsx = bounded(child, addr);
    let ratio = wsx.map_or(0.0, |w| floor.as_secs_f64() / w.as_secs_f64());
    let mut misses = report(
        "wsx listen --echo",
        show(wsx),
        Some((
            ratio >= 0.8,
            format!("{ratio:.2}x the TCP echo's rate, target >= 0.8x"),
        )),
    );
    let mut beside = |name: &str, theirs: Option<Duration>| {
        misses += usize::from(theirs.is_some_and(|t| wsx.is_none_or(|w| t < w)));
        report(name, show(theirs), None);
    };
    if let Some((child, addr)) = crate::load::uws() {
        beside("uWebSockets.js", bounded(child, addr));
    }
    if let Some(w) = find_websocat() {
        // `-B`: messages up to 2 MiB stay whole (by default websocat splits them at 64 KiB).
        let (child, addr) = websocat_serving(&w, &["-b", "-E", "-B", "2097152"], "mirror:");
        beside("websocat mirror:", bounded(child, addr));
    }
    println!();
    misses
}
