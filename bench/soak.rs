//! Soak and churn (`bench/run soak`): figures, never timed tests. A server that runs for long
//! must give back what each connection took: memory, descriptors and threads are sampled
//! before, during and after, and "after" must come back to "before" within a small margin.
//!
//! - churn: `wsx listen --echo` through 100,000 connect / echo / close cycles (4 clients at a
//!   time, each cycle a new TCP connection and handshake, every echo checked);
//! - volume: 10 million messages echoed over 50 connections (16 in flight on each), after a
//!   first round of 100,000 over as many;
//! - reconnect: `wsx connect --reconnect` against a server that drops it 1,000 times, then
//!   keeps it: still connected at the end (an echo checked), its memory flat.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use crate::memory::status_kb;
use crate::{report, stop, url, wsx_bin, wsx_listen};

const CYCLES: usize = 100_000;
const CHURNERS: usize = 4;
const MESSAGES: usize = 10_000_000;
const CONNECTIONS: usize = 50;
const IN_FLIGHT: usize = 16;
const DROPS: usize = 1_000;

/// What a process holds at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kb: u64,
    fds: usize,
    threads: usize,
}

impl Sample {
    fn of(pid: u32) -> Sample {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Sample {
            rss_kb: field("VmRSS:"),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count()),
            threads: field("Threads:") as usize,
        }
    }

    fn show(&self) -> String {
        format!(
            "{:.1} MB, {} fds, {} threads",
            self.rss_kb as f64 / 1024.0,
            self.fds,
            self.threads
        )
    }
}

/// Samples `pid` while `running` holds, and returns the largest figures seen (from `start`).
fn peak_while(pid: u32, start: Sample, running: impl Fn() -> bool) -> Sample {
    let mut peak = start;
    while running() {
        thread::sleep(Duration::from_millis(200)); // sampling while it runs
        let now = Sample::of(pid);
        peak.rss_kb = peak.rss_kb.max(now.rss_kb);
        peak.fds = peak.fds.max(now.fds);
        peak.threads = peak.threads.max(now.threads);
    }
    peak
}

/// Waits (at most 10 s) until the process holds no more than `fds` descriptors and `threads`
/// threads (a thread that has done its work may take a moment to be gone).
fn settle_to(pid: u32, fds: usize, threads: usize) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = Sample::of(pid);
        if (now.fds <= fds && now.threads <= threads) || Instant::now() > deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(20)); // polling /proc: no event says "all gone"
    }
}

/// "after" against "before": within 1 MB (or 10%) of memory, and no more descriptors or
/// threads.
fn flat(name: &str, before: Sample, after: Sample) -> usize {
    let grew = after.rss_kb.saturating_sub(before.rss_kb);
    let ok = (grew <= 1024 || grew * 10 <= before.rss_kb)
        && after.fds <= before.fds
        && after.threads <= before.threads;
    report(
        name,
        format!("before {}; after {}", before.show(), after.show()),
        Some((
            ok,
            "after = before (memory within 1 MB or 10%, no more fds or threads)".into(),
        )),
    )
}

/// One connection, one echo, a clean close that the server ends (so that no TIME_WAIT is
/// left on the client's side to run out of ports).
fn cycle(addr: SocketAddr, n: usize) {
    let tcp = TcpStream::connect(addr).expect("connecting");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut ws, _) = tungstenite::client(url(addr), tcp).expect("handshake");
    let text = format!("cycle {n}");
    ws.send(Message::text(text.clone())).expect("sending");
    loop {
        match ws.read().expect("the echo") {
            Message::Text(t) if t.as_str() == text => break,
            Message::Text(t) => panic!("expected {text:?}, got {t:?}"),
            _ => {}
        }
    }
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

/// Half of the churn's cycles (`half` 0 or 1), sampled while they run: how long they took,
/// the most the server held meanwhile, and what it holds once every client has gone.
fn churn_half(
    pid: u32,
    addr: SocketAddr,
    half: usize,
    start: Sample,
) -> (Duration, Sample, Sample) {
    let done = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let each = CYCLES / 2;
    let workers: Vec<_> = (0..CHURNERS)
        .map(|w| {
            let done = done.clone();
            thread::spawn(move || {
                for n in (half * each + w..(half + 1) * each).step_by(CHURNERS) {
                    cycle(addr, n);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let peak = peak_while(pid, start, || {
        done.load(Ordering::Relaxed) < each && !workers.iter().all(|w| w.is_finished())
    });
    for w in workers {
        w.join().expect("a churning client");
    }
    let took = began.elapsed();
    (took, peak, settle_to(pid, start.fds, start.threads))
}

fn churn() -> usize {
    println!(
        "churn: {CYCLES} connect/echo/close cycles against wsx listen --echo, {CHURNERS} at a time"
    );
    let (child, addr) = wsx_listen(&["--echo", "--timestamps", "none"]);
    let pid = child.id();
    let idle = Sample::of(pid);
    for n in 0..1_000 {
        cycle(addr, n); // warm-up: the allocator's pools and the poller's tables
    }
    // The handshakes' threads wait a moment for more work, then end.
    let before = settle_to(pid, usize::MAX, idle.threads);
    // Two halves: what the server holds after the first is what it must hold after both.
    let (first, peak1, mid) = churn_half(pid, addr, 0, before);
    let (second, peak2, after) = churn_half(pid, addr, 1, mid);
    let took = first + second;
    report(
        "cycles",
        format!(
            "{CYCLES} in {:.1} s ({:.0}/s); during, at most {} and {}",
            took.as_secs_f64(),
            CYCLES as f64 / took.as_secs_f64(),
            peak1.show(),
            peak2.show()
        ),
        None,
    );
    report("after the first half", mid.show(), None);
    let misses = flat("wsx listen --echo", before, after);
    stop(child);
    println!();
    misses
}

fn volume() -> usize {
    println!("volume: {MESSAGES} messages of 64 B echoed over {CONNECTIONS} connections, {IN_FLIGHT} in flight each");
    let (child, addr) = wsx_listen(&["--echo", "--timestamps", "none"]);
    let pid = child.id();
    let idle = Sample::of(pid);
    // A first round with as many connections, so that "before" is a server that has served
    // them once (the allocator keeps what it was given; a leak grows on from there).
    for c in echo_clients(addr, MESSAGES / 100) {
        c.join().expect("a client");
    }
    let before = settle_to(pid, usize::MAX, idle.threads);
    let start = Instant::now();
    let clients = echo_clients(addr, MESSAGES);
    let during = peak_while(pid, before, || !clients.iter().all(|c| c.is_finished()));
    for c in clients {
        c.join().expect("a client");
    }
    let took = start.elapsed();
    let after = settle_to(pid, before.fds, before.threads);
    report(
        "messages",
        format!(
            "{MESSAGES} in {:.1} s ({:.0}k/s); during, at most {}",
            took.as_secs_f64(),
            MESSAGES as f64 / took.as_secs_f64() / 1000.0,
            during.show()
        ),
        None,
    );
    let misses = flat("wsx listen --echo", before, after);
    stop(child);
    println!();
    misses
}

/// [`CONNECTIONS`] clients that echo `messages` between them, each checking its echoes.
fn echo_clients(addr: SocketAddr, messages: usize) -> Vec<thread::JoinHandle<()>> {
    let per = messages / CONNECTIONS;
    (0..CONNECTIONS)
        .map(|c| {
            thread::spawn(move || {
                let tcp = TcpStream::connect(addr).expect("connecting");
                tcp.set_nodelay(true).expect("nodelay");
                let (mut ws, _) = tungstenite::client(url(addr), tcp).expect("handshake");
                let body = |n: usize| format!("{c:02}-{n:09}-{}", "v".repeat(51));
                let (mut sent, mut got) = (0, 0);
                while got < per {
                    while sent < per && sent - got < IN_FLIGHT {
                        ws.write(Message::text(body(sent))).expect("sending");
                        sent += 1;
                    }
                    ws.flush().expect("flushing");
                    if let Message::Text(t) = ws.read().expect("an echo") {
                        assert_eq!(t.as_str(), body(got), "echoes in order, each once");
                        got += 1;
                    }
                }
                close(ws);
            })
        })
        .collect()
}

fn close(mut ws: WebSocket<TcpStream>) {
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

/// Accepts `drops` WebSocket connections and drops each (no Close) right after its
/// handshake, then keeps the next one and echoes on it.
fn dropping_server(drops: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for (n, tcp) in listener.incoming().enumerate() {
            let Ok(tcp) = tcp else { continue };
            let Ok(mut ws) = tungstenite::accept(tcp) else {
                continue;
            };
            if n < drops {
                continue; // dropped: wsx sees the connection lost
            }
            while let Ok(msg) = ws.read() {
                if msg.is_text() && ws.send(msg).is_err() {
                    return;
                }
            }
            return;
        }
    });
    addr
}

fn reconnect() -> usize {
    println!("reconnect: wsx connect --reconnect, dropped {DROPS} times after the handshake (0.5 s apart: about {} min)", DROPS / 120);
    let addr = dropping_server(DROPS);
    let mut child = Command::new(wsx_bin())
        .args(["connect", &url(addr), "--reconnect", "-w", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsx");
    let pid = child.id();
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut samples = Vec::new();
    let mut lost = 0;
    for line in stderr.lines() {
        let Ok(line) = line else { break };
        if line.contains("reconnecting in") {
            lost += 1;
            if lost == 10 || lost % 100 == 0 {
                // As at the 10th: the last dial's thread gone, no connection open.
                let (fds, threads) = samples
                    .first()
                    .map_or((usize::MAX, usize::MAX), |(_, s): &(usize, Sample)| {
                        (s.fds, s.threads)
                    });
                samples.push((lost, settle_to(pid, fds, threads)));
            }
            if lost == DROPS {
                break;
            }
        }
    }
    stdin.write_all(b"still here\n").expect("writing");
    let mut echo = String::new();
    stdout.read_line(&mut echo).expect("the echo");
    let connected_now = Sample::of(pid);
    let peak = status_kb(pid, "VmHWM:");
    drop(stdin);
    let _ = child.wait();
    let connected = echo == "still here\n";
    let mut misses = report(
        "connected at the end",
        format!("{lost} connections lost, then the echo {echo:?}"),
        Some((connected && lost == DROPS, "echoed after every drop".into())),
    );
    // Compared in the same state: just after a drop, waiting to dial again.
    let (_, before) = samples.first().copied().unwrap_or((0, connected_now));
    let (_, after) = samples.last().copied().unwrap_or((0, connected_now));
    for (n, s) in &samples {
        if n % 250 == 0 {
            report(&format!("after {n} drops"), s.show(), None);
        }
    }
    report("connected again", connected_now.show(), None);
    report("peak RSS", format!("{:.1} MB", peak as f64 / 1024.0), None);
    misses += flat(
        "wsx connect --reconnect (10th drop vs the last)",
        before,
        after,
    );
    println!();
    misses
}

/// `bench/run soak [churn|volume|reconnect]...`.
pub fn benches(only: &[String]) -> usize {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut misses = 0;
    if wanted("churn") {
        misses += churn();
    }
    if wanted("volume") {
        misses += volume();
    }
    if wanted("reconnect") {
        misses += reconnect();
    }
    misses
}
