//! Closed-loop echo load (`bench/run load`), in the style of uWebSockets'
//! `benchmarks/load_test.c`, the field's standard: one client thread, non-blocking sockets,
//! C connections with one message in flight on each, every echo checked. Side by side in one
//! run: `wsx listen --echo`, uWebSockets.js (the fastest server there is; its Node binding is
//! installed from npm into `bench/node_modules` on first use) and the reference tungstenite
//! server (a thread per connection, in a process of its own). Each figure is the median of 5 runs
//! (3 for the reference, which is shown, not judged) of 5 s after a 1 s warm-up, the servers
//! taking turns run by run; beside it, the median of the server's CPU time per echo (from
//! `/proc`), the fairer figure where the one client thread is near its own limit. Five runs,
//! not three: on a shared 2-core VM a run moves 10-25% from the one before, more than the
//! gaps being judged.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use crate::{cpu_nanos, listening, middle, numbers_from_child, stop, url, wsx_listen};

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
const RUNS: usize = 5;
/// Runs of the reference server, which is shown beside the others but not judged.
const REFERENCE_RUNS: usize = 3;

/// The uWebSockets.js build the bench installs (Node 20's ABI).
const UWS: &str = "@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0";

/// One connection of the load. As in `load_test.c`, the client's frame is masked once and
/// sent as it is every time, and the echo is read into a buffer of its exact size, so that
/// the client costs little beside the server it measures: with tungstenite as the client
/// (a 128 KiB read buffer zeroed at every read, a copy and a masking per message) the one
/// client thread, not the server, set the rate.
struct Client {
    tcp: TcpStream,
    /// Bytes of the frame the socket has taken; short of its length, the rest waits for
    /// writability.
    sent: usize,
    /// The poller reports writability too (the frame waits).
    waiting: bool,
    /// The echo so far.
    echo: Vec<u8>,
    got: usize,
}

/// What a run measured: echoes a second, and the server's CPU time per echo (when it runs
/// in a process of its own).
struct Figures {
    rate: f64,
    cpu_per_echo: Option<Duration>,
}

/// The mask every frame is sent with (a client must mask; any key does for a benchmark).
const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x2e];

/// A frame's head for `len` payload bytes, `first` its first byte, masked or not.
fn head(first: u8, len: usize, masked: bool) -> Vec<u8> {
    let bit = if masked { 0x80 } else { 0 };
    let mut head = vec![first];
    match len {
        0..=125 => head.push(bit | len as u8),
        126..=65_535 => {
            head.push(bit | 126);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            head.push(bit | 127);
            head.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        head.extend_from_slice(&MASK);
    }
    head
}

/// Runs the load against `addr` once: `connections` clients, `size`-byte messages.
fn load(
    addr: SocketAddr,
    server: Option<u32>,
    connections: usize,
    size: usize,
    binary: bool,
) -> Figures {
    let poller = Poller::new().expect("a poller");
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let first = if binary { 0x82 } else { 0x81 };
    // What each client sends, and the echo it must get back: the same payload, unmasked.
    let mut frame = head(first, size, true);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    let mut expected = head(first, size, false);
    expected.extend_from_slice(&payload);
    let mut clients: Vec<Client> = (0..connections)
        .map(|key| {
            let tcp = TcpStream::connect(addr).expect("connecting");
            tcp.set_nodelay(true).expect("nodelay");
            let (ws, _) = tungstenite::client(url(addr), tcp).expect("handshake");
            let tcp = ws.into_inner();
            tcp.set_nonblocking(true).expect("non-blocking");
            // SAFETY: the socket stays open (in `clients`) until it is deleted from the poller.
            unsafe { poller.add_with_mode(&tcp, Event::readable(key), PollMode::Level) }
                .expect("watching");
            Client {
                tcp,
                sent: 0,
                waiting: false,
                echo: vec![0; expected.len()],
                got: 0,
            }
        })
        .collect();
    for (key, c) in clients.iter_mut().enumerate() {
        send(&poller, key, c, &frame);
    }
    let mut events = Events::new();
    let mut echoes = 0u64;
    let started = Instant::now();
    let (mut counted_from, mut cpu_from) = (None, 0u64);
    loop {
        let now = Instant::now();
        if counted_from.is_none() && now >= started + WARM_UP {
            counted_from = Some((now, echoes));
            cpu_from = server.map_or(0, cpu_nanos);
        }
        if let Some((from, at)) = counted_from {
            if now >= from + MEASURE {
                let seconds = now.duration_since(from).as_secs_f64();
                let done = echoes - at;
                let cpu = server
                    .map(|pid| Duration::from_nanos((cpu_nanos(pid) - cpu_from) / done.max(1)));
                for c in &clients {
                    let _ = poller.delete(&c.tcp);
                }
                return Figures {
                    rate: done as f64 / seconds,
                    cpu_per_echo: cpu,
                };
            }
        }
        events.clear();
        poller
            .wait(&mut events, Some(Duration::from_millis(100)))
            .expect("waiting");
        for ev in events.iter() {
            let c = &mut clients[ev.key];
            if ev.writable && c.sent < frame.len() {
                send(&poller, ev.key, c, &frame);
            }
            if ev.readable {
                match c.tcp.read(&mut c.echo[c.got..]) {
                    Ok(0) => panic!("the server closed a load connection"),
                    Ok(n) => c.got += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("the load's connection failed: {e}"),
                }
                if c.got == expected.len() {
                    assert!(c.echo == expected, "an echo changed");
                    c.got = 0;
                    echoes += 1;
                    send(&poller, ev.key, c, &frame);
                }
            }
        }
    }
}

/// Sends (the rest of) the frame without waiting: what the socket does not take now waits for
/// writability.
fn send(poller: &Poller, key: usize, c: &mut Client, frame: &[u8]) {
    if c.sent == frame.len() {
        c.sent = 0;
    }
    while c.sent < frame.len() {
        match c.tcp.write(&frame[c.sent..]) {
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("sending: {e}"),
        }
    }
    let waiting = c.sent < frame.len();
    if waiting != c.waiting {
        c.waiting = waiting;
        let interest = if waiting {
            Event::all(key)
        } else {
            Event::readable(key)
        };
        poller.modify(&c.tcp, interest).expect("watching again");
    }
}

/// uWebSockets.js's echo server (`bench/uws-echo.js`), installed on first use.
pub fn uws() -> Option<(Child, SocketAddr)> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let module = bench.join("node_modules/@trufflesuite/uws-js-unofficial");
    if !module.exists() {
        let installed = crate::memory::npm_install(&bench, UWS);
        if !installed {
            println!("uWebSockets.js could not be installed: its rows are skipped");
            return None;
        }
    }
    let mut child = Command::new("node")
        .arg(bench.join("uws-echo.js"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stderr.take()?)
        .read_line(&mut line)
        .ok()?;
    let addr = line
        .trim()
        .trim_start_matches("listening on ws://")
        .parse()
        .ok()?;
    Some((child, addr))
}

/// The median rate and the median CPU time per echo of the runs (each on its own: the run
/// of the median rate need not be the one of the median CPU time).
fn median(runs: &[Figures]) -> Figures {
    Figures {
        rate: middle(runs.iter().map(|f| f.rate)).unwrap_or(0.0),
        cpu_per_echo: middle(runs.iter().filter_map(|f| f.cpu_per_echo)),
    }
}

fn show(f: &Figures) -> String {
    match f.cpu_per_echo {
        Some(cpu) => format!(
            "{:>7.1}k/s ({:.1} µs)",
            f.rate / 1000.0,
            cpu.as_secs_f64() * 1e6
        ),
        None => format!("{:>7.1}k/s", f.rate / 1000.0),
    }
}

/// `bench/run load-at ADDR CONNECTIONS SIZE [binary] [PID] [raw]`: one run against a server
/// started by hand, its CPU time per echo counted if its PID is given; `raw` prints the
/// figures as numbers (echoes a second, nanoseconds per echo) for [`in_child`].
pub fn at(args: &[String]) {
    let usage = "usage: bench/run load-at ADDR CONNECTIONS SIZE [binary] [PID] [raw]";
    let (Some(addr), Some(connections), Some(size)) = (
        args.first().and_then(|a| a.parse().ok()),
        args.get(1).and_then(|a| a.parse().ok()),
        args.get(2).and_then(|a| a.parse().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let rest = &args[3..];
    let binary = rest.iter().any(|a| a == "binary");
    let pid = rest.iter().find_map(|a| a.parse().ok());
    let f = load(addr, pid, connections, size, binary);
    if rest.iter().any(|a| a == "raw") {
        let cpu = f.cpu_per_echo.map_or(0, |c| c.as_nanos());
        println!("{} {cpu}", f.rate);
    } else {
        println!("{}", show(&f));
    }
}

/// One run of the load from a process of its own, started for it (`load-at … raw`).
fn in_child(addr: SocketAddr, pid: u32, connections: usize, size: usize, binary: bool) -> Figures {
    let mut args = vec![
        "load-at".to_string(),
        addr.to_string(),
        connections.to_string(),
        size.to_string(),
        pid.to_string(),
        "raw".to_string(),
    ];
    if binary {
        args.push("binary".into());
    }
    let n = numbers_from_child(&args);
    Figures {
        rate: n[0],
        cpu_per_echo: Some(Duration::from_nanos(n[1] as u64)),
    }
}

/// `bench/run load [SIZE...]`: the table, one row per connections × size (only the rows of
/// the sizes named, in bytes, if any).
pub fn benches(only: &[String]) -> usize {
    println!("closed-loop echo, one client thread, one message in flight per connection: medians of {RUNS} runs ({REFERENCE_RUNS} for the reference) of {}s after {}s, msg/s (server CPU per echo)", MEASURE.as_secs(), WARM_UP.as_secs());
    let uws = uws();
    let (reference, reference_addr) = listening({
        let mut cmd = Command::new(std::env::current_exe().expect("this bench"));
        cmd.arg("--echo-server");
        cmd
    });
    let rows = [
        (100, 512, false),
        (500, 512, false),
        (100, 16 * 1024, false),
        (500, 16 * 1024, false),
        (100, 16 * 1024, true),
        (10, 1024 * 1024, false),
        (10, 1024 * 1024, true),
    ];
    println!(
        "  {:<24} {:>24} {:>24} {:>24}",
        "connections x size", "wsx listen --echo", "uWebSockets.js", "tungstenite, thread/conn"
    );
    let mut misses = 0;
    let wanted = |size: usize| only.is_empty() || only.iter().any(|o| *o == size.to_string());
    for (connections, size, binary) in rows.into_iter().filter(|r| wanted(r.1)) {
        // The servers take turns, run by run, so that each sees the same stretches of a
        // machine whose speed drifts.
        let (child, addr) = wsx_listen(&["--echo"]);
        let (mut mine, mut theirs, mut bare) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..RUNS {
            // Who goes first alternates too.
            let uws_first = run % 2 == 1;
            let wsx_run = || in_child(addr, child.id(), connections, size, binary);
            if !uws_first {
                mine.push(wsx_run());
            }
            if let Some((uws, addr)) = &uws {
                theirs.push(in_child(*addr, uws.id(), connections, size, binary));
            }
            if uws_first {
                mine.push(wsx_run());
            }
            if run < REFERENCE_RUNS {
                let pid = reference.id();
                bare.push(in_child(reference_addr, pid, connections, size, binary));
            }
        }
        stop(child);
        let wsx = median(&mine);
        let theirs_median = uws.as_ref().map(|_| median(&theirs));
        let bare = median(&bare);
        let name = format!(
            "{connections} x {} {}",
            if size >= 1024 * 1024 {
                format!("{} MiB", size / (1024 * 1024))
            } else if size >= 1024 {
                format!("{} KiB", size / 1024)
            } else {
                format!("{size} B")
            },
            if binary { "binary" } else { "text" }
        );
        let verdict = match &theirs_median {
            Some(u) => {
                let ahead = wsx.rate >= u.rate
                    && wsx
                        .cpu_per_echo
                        .zip(u.cpu_per_echo)
                        .is_some_and(|(a, b)| a <= b);
                if !ahead {
                    misses += 1;
                }
                if ahead {
                    "  ahead of µWS"
                } else {
                    "  MISS: behind µWS"
                }
            }
            None => "",
        };
        println!(
            "  {name:<24} {:>24} {:>24} {:>24}{verdict}",
            show(&wsx),
            theirs_median.as_ref().map_or("-".into(), show),
            show(&bare)
        );
        // Each run, in the order they ran: how far the machine moved, for a reader to judge.
        let each = |runs: &[Figures]| {
            let runs: Vec<String> = runs.iter().map(|f| show(f).trim().to_string()).collect();
            runs.join(", ")
        };
        println!("    runs: wsx {}; µWS {}", each(&mine), each(&theirs));
    }
    if let Some((child, _)) = uws {
        stop(child);
    }
    stop(reference);
    println!();
    misses
}
