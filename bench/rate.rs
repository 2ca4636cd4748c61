//! Connection rate (`bench/run rate`): 10,000 clients, 50 at a time, each connecting, doing
//! its handshake, checking one echo and closing; side by side, `wsx listen --echo`,
//! uWebSockets.js and the reference tungstenite server (a thread per connection, in a process
//! of its own). The figure is handshakes a second, the median of 3 runs, the servers taking
//! turns run by run.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use tungstenite::Message;

use crate::{listening, report, stop, url, wsx_listen};

const CLIENTS: usize = 10_000;
const AT_A_TIME: usize = 50;
const RUNS: usize = 3;

/// Handshakes a second: `CLIENTS` clients against `addr`, `AT_A_TIME` at once.
fn rate(addr: SocketAddr) -> f64 {
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
    CLIENTS as f64 / start.elapsed().as_secs_f64()
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn show(rate: f64) -> String {
    format!("{:.0}/s", rate)
}

/// `bench/run rate`: wsx ahead of µWS and of the thread-per-connection reference.
pub fn benches() -> usize {
    println!("{CLIENTS} clients, {AT_A_TIME} at a time: connect, handshake, one echo checked, close; handshakes a second, the median of {RUNS} runs");
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
    for _ in 0..RUNS {
        mine.push(rate(addr));
        if let Some((_, addr)) = &uws {
            theirs.push(rate(*addr));
        }
        bare.push(rate(reference_addr));
    }
    stop(child);
    let theirs = uws.map(|(child, _): (Child, SocketAddr)| {
        stop(child);
        median(theirs)
    });
    stop(reference);
    let (wsx, bare) = (median(mine), median(bare));
    let ahead = wsx >= bare && theirs.is_none_or(|u| wsx >= u);
    let misses = report(
        "wsx listen --echo",
        show(wsx),
        Some((ahead, "target: ahead of µWS and the reference".into())),
    );
    if let Some(u) = theirs {
        report("uWebSockets.js", show(u), None);
    }
    report("tungstenite, thread per connection", show(bare), None);
    println!();
    misses
}
