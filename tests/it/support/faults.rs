//! A faulty network: a TCP proxy that sits between wsx and its peer and, in one direction or
//! both, cuts the stream into 1-byte segments, delays it, stalls it, resets or drops the
//! connection, or half-closes it, at a chosen byte: inside the handshake, or a number of
//! bytes after the HTTP head (inside the frames).
//!
//! Resets are the kernel's (SO_LINGER 0), so the tests that use this run on Linux.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Where in a direction's bytes a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// This many bytes into the stream (inside the handshake, for a small number).
    Handshake(usize),
    /// This many bytes after the end of the HTTP head (`\r\n\r\n`): inside the frames.
    Frames(usize),
}

/// What happens to the bytes of the faulty direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every byte goes in a segment of its own, this long after the one before (so that the
    /// receiver reads them one at a time, as over a slow link).
    Trickle(Duration),
    /// Every piece read waits this long before it is passed on.
    Delay(Duration),
    /// From there on nothing is passed on; the connection stays open.
    Stall(At),
    /// Both connections are reset (RST) there.
    Reset(At),
    /// The receiver gets a FIN there (the other direction goes on).
    HalfClose(At),
    /// Both connections are closed there (FIN both ways).
    Drop(At),
}

/// Which way the faulty bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// What wsx (or the client) sends.
    Server,
    /// What the server sends.
    Client,
    Both,
}

/// The proxy: listens on 127.0.0.1, and for each connection dials `upstream`.
pub struct Faulty {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Every socket of every connection, to shut down when the proxy is dropped.
    sockets: Arc<Mutex<Vec<Weak<TcpStream>>>>,
    accepted: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl Faulty {
    /// Faults every connection.
    pub fn start(upstream: SocketAddr, toward: Toward, fault: Fault) -> Faulty {
        Faulty::start_first(upstream, toward, fault, usize::MAX)
    }

    /// Faults the first `faulty` connections; those after go through untouched.
    pub fn start_first(
        upstream: SocketAddr,
        toward: Toward,
        fault: Fault,
        faulty: usize,
    ) -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the faulty proxy");
        let addr = listener.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let sockets: Arc<Mutex<Vec<Weak<TcpStream>>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (stop, sockets, accepted) = (stop.clone(), sockets.clone(), accepted.clone());
            thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue; // the client sees its connection closed
                    };
                    let n = accepted.fetch_add(1, Ordering::SeqCst);
                    let fault = (n < faulty).then_some(fault);
                    let (client, server) = (Arc::new(client), Arc::new(server));
                    for s in [&client, &server] {
                        let _ = s.set_nodelay(true);
                        sockets.lock().unwrap().push(Arc::downgrade(s));
                    }
                    let up = fault.filter(|_| toward != Toward::Client);
                    let down = fault.filter(|_| toward != Toward::Server);
                    let reset = Arc::new(AtomicBool::new(false));
                    let (c, s, r) = (client.clone(), server.clone(), reset.clone());
                    thread::spawn(move || pump(&c, &s, up, &r));
                    thread::spawn(move || pump(&server, &client, down, &reset));
                }
            })
        };
        Faulty {
            addr,
            stop,
            sockets,
            accepted,
            accept: Some(accept),
        }
    }

    /// `ws://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// How many connections came through so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accepting thread
        for socket in self.sockets.lock().unwrap().iter() {
            if let Some(socket) = socket.upgrade() {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Passes `from`'s bytes to `to`, with `fault` if any, until `from` ends. `reset`: the
/// connection was reset (by either direction's pump): nothing more is sent, not even a FIN.
fn pump(from: &Arc<TcpStream>, to: &Arc<TcpStream>, fault: Option<Fault>, reset: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    // Bytes passed on so far, and where the HTTP head ended in them (once seen).
    let (mut passed, mut head_end): (usize, Option<usize>) = (0, None);
    let mut tail = Vec::<u8>::new(); // the last bytes, to find `\r\n\r\n` across reads
    loop {
        let n = match (&**from).read(&mut buf) {
            Ok(0) | Err(_) => {
                if !reset.load(Ordering::SeqCst) {
                    let _ = to.shutdown(Shutdown::Write);
                }
                return;
            }
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if head_end.is_none() {
            tail.extend_from_slice(chunk);
            if let Some(i) = tail.windows(4).position(|w| w == b"\r\n\r\n") {
                head_end = Some(passed + n - (tail.len() - i - 4));
            } else if tail.len() > 3 {
                tail.drain(..tail.len() - 3);
            }
        }
        // Where the fault strikes, as a count of bytes passed on (once it is known).
        let strike = match fault {
            Some(Fault::Stall(at) | Fault::Reset(at) | Fault::HalfClose(at) | Fault::Drop(at)) => {
                match at {
                    At::Handshake(k) => Some(k),
                    At::Frames(k) => head_end.map(|h| h + k),
                }
            }
            _ => None,
        };
        let now = match strike {
            Some(k) => k.saturating_sub(passed).min(n),
            None => n,
        };
        let sent = match fault {
            Some(Fault::Trickle(pause)) => chunk[..now].iter().all(|b| {
                thread::sleep(pause); // the fault under test: a slow link
                (&**to).write_all(&[*b]).is_ok()
            }),
            Some(Fault::Delay(d)) => {
                thread::sleep(d); // the fault under test: a slow network
                (&**to).write_all(&chunk[..now]).is_ok()
            }
            _ => (&**to).write_all(&chunk[..now]).is_ok(),
        };
        if !sent {
            let _ = from.shutdown(Shutdown::Read);
            return;
        }
        passed += now;
        if strike.is_some_and(|k| passed >= k) {
            match fault {
                Some(Fault::Stall(_)) => discard(from),
                Some(Fault::Reset(_)) => {
                    reset.store(true, Ordering::SeqCst);
                    for s in [from, to] {
                        let _ = socket2::SockRef::from(&**s).set_linger(Some(Duration::ZERO));
                    }
                    // The other direction's reader wakes up and lets go of both sockets too:
                    // the last one to go closes them, and with no linger that is a reset.
                    let _ = from.shutdown(Shutdown::Read);
                    let _ = to.shutdown(Shutdown::Read);
                }
                Some(Fault::HalfClose(_)) => {
                    let _ = to.shutdown(Shutdown::Write);
                    discard(from);
                }
                Some(Fault::Drop(_)) => {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                }
                _ => unreachable!("only faults with a place strike"),
            }
            return;
        }
    }
}

/// Reads and drops what `from` sends until it ends: the bytes are taken, never passed on.
fn discard(from: &TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    while matches!((&*from).read(&mut buf), Ok(n) if n > 0) {}
}

/// Runs a spawned `wsx` (stdin at its end, output piped) to its end and returns its exit
/// status, its stdout and stderr, and the CPU time (user and system) it used in all: read from
/// `/proc` once it has exited and before it is reaped, when a zombie still has its figures.
/// Fails the test after [`super::PATIENCE`].
pub fn run_counting_cpu(mut cmd: std::process::Command) -> (Option<i32>, String, String, Duration) {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsx");
    let pid = child.id();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    // "PID (COMM) STATE PPID ...": utime and stime are the 12th and 13th fields after COMM,
    // in clock ticks (100 a second on Linux).
    let stat = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields = |stat: &str| -> Vec<String> {
        stat.rsplit_once(") ")
            .map(|(_, rest)| rest.split(' ').map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut ticks = None;
    super::eventually("wsx to exit", || {
        let f = fields(&stat());
        if f.first().map(String::as_str) != Some("Z") {
            return false;
        }
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks = Some(n(11) + n(12));
        true
    });
    let code = child.wait().expect("reaping wsx").code();
    let cpu = Duration::from_millis(ticks.unwrap_or(0) * 10);
    (
        code,
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr"),
        cpu,
    )
}
