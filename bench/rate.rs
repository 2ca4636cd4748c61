//! Connection rate (`bench/run rate`): 10,000 clients, 50 at a time, each connecting, doing
//! its handshake, checking one echo and closing; side by side, `wsx listen --echo`,
//! uWebSockets.js and the reference tungstenite server (a thread per connection, in a process
//! of its own). The figure is handshakes a second, the median of 5 runs, the servers taking
//! turns run by run (a run here moves by 10-25% from the one before); beside it, the median of
//! the server's CPU time per connection (from `/proc`).

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::{listening, middle, numbers_from_child, report, stop, url, wsx_listen};

const CLIENTS: usize = 10_000;
const AT_A_TIME: usize = 50;
const RUNS: usize = 5;

/// What a run measured: handshakes a second, and the server's CPU time per connection.
struct Figures {
    rate: f64,
    cpu: Duration,
}

/// `CLIENTS` clients against `addr` (the server `pid`), `AT_A_TIME` at once.
fn rate(addr: SocketAddr, pid: u32) -> Figures {
    let cpu_from = cpu_nanos(pid);
    let left = Arc::new(AtomicUsize::new(CLIENTS));
    let start = Instant::now();
    let workers: Vec<_> = (0..AT_A_TIME)
        .map(|_| {
            let left = Arc::clone(&left);
            thread::spawn(move || {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let tcp = TcpStream::connect(addr).expect("connecting");
                    tcp.set_nodelay(true).expect("nodelay");
                    let (mut ws, _) = tungstenite::client(url(addr), tcp).expect("handshake");
                    ws.send(Message::text("hello")).expect("sending");
                    assert_eq!(ws.read().expect("the echo"), Message::text("hello"));
                    // The server's side ends first: the TIME_WAIT stays with it, not with
                    // this process's ephemeral ports.
                    let _ = ws.close(None);
                    while ws.read().is_ok() {}
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client thread");
    }
    Figures {
        rate: CLIENTS as f64 / start.elapsed().as_secs_f64(),
        cpu: Duration::from_nanos((cpu_nanos(pid) - cpu_from) / CLIENTS as u64),
    }
}

/// The CPU time `pid` has used, its ended threads' included (a thread-per-connection
/// server's threads end with their connections; `/proc/PID/task` no longer lists them), in
/// the kernel's ticks of 10 ms.
fn cpu_nanos(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // After the command's name (in parentheses, which may hold anything): the state is field
    // 3, utime 14 and stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .unwrap_or(&[])
        .iter()
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks * 10_000_000
}

/// The median rate and the median CPU time per connection, each on its own.
fn median(runs: &[Figures]) -> Figures {
    Figures {
        rate: middle(runs.iter().map(|f| f.rate)).unwrap_or(0.0),
        cpu: middle(runs.iter().map(|f| f.cpu)).unwrap_or_default(),
    }
}

fn show(f: &Figures) -> String {
    format!(
        "{:.0}/s ({:.0} µs CPU each)",
        f.rate,
        f.cpu.as_secs_f64() * 1e6
    )
}

/// `bench/run rate-at ADDR PID [raw]`: one run against a server started by hand, `raw` printing
/// the figures as numbers (handshakes a second, nanoseconds of the server's CPU time each).
pub fn at(args: &[String]) {
    let (Some(addr), Some(pid)) = (
        args.first().and_then(|a| a.parse().ok()),
        args.get(1).and_then(|a| a.parse().ok()),
    ) else {
        eprintln!("usage: bench/run rate-at ADDR PID [raw]");
        std::process::exit(2);
    };
    let f = rate(addr, pid);
    if args.iter().any(|a| a == "raw") {
        println!("{} {}", f.rate, f.cpu.as_nanos());
    } else {
        println!("{}", show(&f));
    }
}

/// One run from a process of its own, started for it (`rate-at … raw`): its 50 client
/// threads start the same, whatever the benches before left in this process.
fn in_child(addr: SocketAddr, pid: u32) -> Figures {
    let n = numbers_from_child(&[
        "rate-at".into(),
        addr.to_string(),
        pid.to_string(),
        "raw".into(),
    ]);
    Figures {
        rate: n[0],
        cpu: Duration::from_nanos(n[1] as u64),
    }
}

/// `bench/run rate`: wsx ahead of µWS and of the thread-per-connection reference.
pub fn benches() -> usize {
    println!("{CLIENTS} clients, {AT_A_TIME} at a time: connect, handshake, one echo checked, close; handshakes a second (the server's CPU time per connection), medians of {RUNS} runs");
    let (child, addr) = wsx_listen(&["--echo"]);
    let uws = crate::load::uws();
    let (reference, reference_addr) = listening({
        let mut cmd = Command::new(std::env::current_exe().expect("this bench"));
        cmd.arg("--echo-server");
        cmd
    });
    // The servers take turns, run by run, so that each sees the same stretches of a machine
    // whose speed drifts.
    let (mut mine, mut theirs, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        // Who goes first alternates too.
        let uws_first = run % 2 == 1;
        if !uws_first {
            mine.push(in_child(addr, child.id()));
        }
        if let Some((uws, addr)) = &uws {
            theirs.push(in_child(*addr, uws.id()));
        }
        if uws_first {
            mine.push(in_child(addr, child.id()));
        }
        bare.push(in_child(reference_addr, reference.id()));
    }
    stop(child);
    let theirs = uws.map(|(child, _): (Child, SocketAddr)| {
        stop(child);
        median(&theirs)
    });
    stop(reference);
    let (wsx, bare) = (median(&mine), median(&bare));
    let ahead = wsx.rate >= bare.rate && theirs.as_ref().is_none_or(|u| wsx.rate >= u.rate);
    let misses = report(
        "wsx listen --echo",
        show(&wsx),
        Some((ahead, "target: ahead of µWS and the reference".into())),
    );
    if let Some(u) = &theirs {
        report("uWebSockets.js", show(u), None);
    }
    report("tungstenite, thread per connection", show(&bare), None);
    println!();
    misses
}
