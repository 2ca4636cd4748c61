//! wsx in the middle (issue #19): `wsx listen --forward` as a relay and as a TCP bridge,
//! beside the same traffic without a relay, through a bare tungstenite relay hop (reference
//! programs in this file, run as processes of their own as wsx is), and through websocat.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

use crate::{
    child_figures, echo_load, echo_server, listening, median_of, p50_micros, report,
    round_trip_runs, spawn_piped, stop, url, websocat_serving, ws_client, wsx_bin, wsx_listen,
    ECHO_CLIENTS, LINE_BYTES, MESSAGES, ROUND_TRIPS,
};

/// The bridge's bulk transfer: this many blocks of 1 MiB, out and back.
const STREAM_MIB: usize = 256;
const BLOCK: usize = 1 << 20;
/// Throughput runs per server, alternating; the median is the figure.
const RUNS: usize = 5;
/// A bridge client that delivers nothing for this long is stalled.
const STALL: Duration = Duration::from_secs(30);

/// Runs this bench's reference programs when asked to by `args`; whether it did.
pub fn child(args: &[String]) -> bool {
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if args.iter().any(|a| a == "--relay-round-trip-child") {
        round_trip_child();
    } else if let Some(upstream) = arg("--relay-hop") {
        relay_hop(upstream);
    } else if let Some(target) = arg("--bare-bridge") {
        bare_bridge(target);
    } else if let Some(url) = arg("--bare-stream") {
        bare_stream(url);
    } else {
        return false;
    }
    true
}

/// Every bench here, or only those `only` names (`bench/run relay throughput bridge`).
pub fn benches(websocat: Option<&PathBuf>, only: &[String]) -> usize {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut misses = 0;
    if wanted("round-trip") {
        misses += round_trip(websocat, true);
        misses += round_trip(websocat, false);
    }
    if wanted("throughput") {
        misses += throughput(websocat);
    }
    if wanted("bridge") {
        misses += bridge(websocat);
    }
    misses
}

// ---- round trip -----------------------------------------------------------------------------

/// A message's round trip to an echo server, direct and through each relay: wsx's target is
/// to be ahead of websocat's relay, and to add at most 1.5x what a bare relay hop adds.
fn round_trip(websocat: Option<&PathBuf>, pinned: bool) -> usize {
    let (runs, how) = round_trip_runs(pinned);
    println!("relay round trip: a {LINE_BYTES} B message to an echo server and back, {ROUND_TRIPS} times, {how}");
    let Some(figures) = child_figures("--relay-round-trip-child", pinned, runs, websocat) else {
        return 0;
    };
    let figure = |name: &str| median_of(&figures, name);
    let (Some((direct, direct_shown)), Some((hop, hop_shown)), Some((wsx, wsx_shown))) =
        (figure("direct"), figure("hop"), figure("wsx"))
    else {
        println!("  skipped: no figures");
        return 0;
    };
    report("direct to the echo server p50", direct_shown, None);
    let (hop_adds, wsx_adds) = (hop - direct, wsx - direct);
    println!(
        "  {:<34} {hop_shown:>12}   (adds {hop_adds:.1} µs)",
        "bare tungstenite relay hop p50"
    );
    let websocat = figure("websocat");
    if let Some((w, shown)) = &websocat {
        println!(
            "  {:<34} {shown:>12}   (adds {:.1} µs)",
            "websocat relay p50",
            w - direct
        );
    }
    let added = wsx_adds / hop_adds;
    let (ahead, vs) = match websocat {
        Some((w, _)) => (wsx <= w, format!("{:.2}x websocat's relay, ", wsx / w)),
        None => (true, "no websocat, ".to_string()),
    };
    let misses = report(
        "wsx listen --forward p50",
        wsx_shown,
        Some((
            ahead && added <= 1.5,
            format!(
                "{vs}adds {wsx_adds:.1} µs = {added:.2}x the hop's; \
                 target <= websocat and <= 1.5x"
            ),
        )),
    );
    println!();
    misses
}

/// Prints `NAME P50_MICROS` for a client direct to an echo server and for one through each
/// relay in front of it, taking turns in blocks.
fn round_trip_child() {
    const BLOCKS: usize = 10;
    let echo = echo_server();
    let upstream = url(echo);
    let mut servers: Vec<(&str, Child)> = Vec::new();
    let mut clients: Vec<(&str, WebSocket<TcpStream>)> = vec![("direct", ws_client(echo))];
    let (wsx, addr) = wsx_listen(&["--forward", &upstream]);
    servers.push(("wsx", wsx));
    clients.push(("wsx", ws_client(addr)));
    let (hop, addr) = listening(reference(&["--relay-hop", &upstream]));
    servers.push(("hop", hop));
    clients.push(("hop", ws_client(addr)));
    if let Some(w) = std::env::var_os("WSX_BENCH_WEBSOCAT") {
        let (websocat, addr) = websocat_serving(&PathBuf::from(w), &["-t"], &upstream);
        servers.push(("websocat", websocat));
        clients.push(("websocat", ws_client(addr)));
    }
    let text = "x".repeat(LINE_BYTES);
    let round = |ws: &mut WebSocket<TcpStream>| {
        let start = Instant::now();
        ws.send(Message::text(text.clone())).expect("sending");
        let echo = ws.read().expect("the echo");
        let elapsed = start.elapsed();
        assert_eq!(echo.into_data().len(), LINE_BYTES, "the echo");
        elapsed
    };
    for (_, ws) in &mut clients {
        for _ in 0..50 {
            round(ws);
        }
    }
    let mut samples: Vec<Vec<Duration>> = clients.iter().map(|_| Vec::new()).collect();
    for _ in 0..BLOCKS {
        for ((_, ws), samples) in clients.iter_mut().zip(&mut samples) {
            for _ in 0..ROUND_TRIPS / BLOCKS {
                samples.push(round(ws));
            }
        }
    }
    for ((name, _), mut samples) in clients.into_iter().zip(samples) {
        println!("{name} {:.2}", p50_micros(&mut samples));
    }
    for (_, server) in servers {
        stop(server);
    }
}

/// This bench run as one of its reference programs.
fn reference(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(args);
    cmd
}

// ---- throughput -----------------------------------------------------------------------------

/// 50 clients x 2,000 echoes of 64 B through each relay to `wsx listen --echo` (the fastest
/// echo server here, so that the relay is what is measured): within 1.2x of the bare hop and
/// ahead of websocat.
fn throughput(websocat: Option<&PathBuf>) -> usize {
    println!(
        "relay throughput: {ECHO_CLIENTS} clients x {MESSAGES} messages of {LINE_BYTES} B \
         through each relay to wsx listen --echo, every echo verified; median of {RUNS}"
    );
    let (echo, echo_addr) = wsx_listen(&["--echo"]);
    let upstream = url(echo_addr);
    let mut servers: Vec<(&str, Option<(Child, SocketAddr)>)> = vec![
        ("direct", None),
        ("wsx", Some(wsx_listen(&["--forward", &upstream]))),
        (
            "hop",
            Some(listening(reference(&["--relay-hop", &upstream]))),
        ),
    ];
    if let Some(w) = websocat {
        servers.push(("websocat", Some(websocat_serving(w, &["-t"], &upstream))));
    }
    let mut times: Vec<Vec<f64>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..RUNS {
        for ((_, server), times) in servers.iter().zip(&mut times) {
            let addr = server.as_ref().map_or(echo_addr, |(_, a)| *a);
            times.push(echo_load(addr).as_secs_f64());
        }
    }
    let median = |i: usize| {
        let mut t = times[i].clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let figures: Vec<(&str, f64)> = servers
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, median(i)))
        .collect();
    for (_, server) in servers {
        if let Some((child, _)) = server {
            stop(child);
        }
    }
    stop(echo);
    let of = |name: &str| figures.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
    let secs = |t: f64| format!("{t:.3} s");
    let (Some(direct), Some(hop), Some(wsx)) = (of("direct"), of("hop"), of("wsx")) else {
        return 0;
    };
    report("direct to wsx listen --echo", secs(direct), None);
    report("bare tungstenite relay hop", secs(hop), None);
    let websocat = of("websocat");
    if let Some(w) = websocat {
        report("websocat relay", secs(w), None);
    }
    let misses = verdict("wsx listen --forward", wsx, hop, websocat);
    println!();
    misses
}

/// Reports wsx's time against the bare reference's (target <= 1.2x) and websocat's (ahead).
fn verdict(name: &str, wsx: f64, bare: f64, websocat: Option<f64>) -> usize {
    let ratio = wsx / bare;
    let (ahead, vs) = match websocat {
        Some(w) => (wsx < w, format!(", {:.2}x websocat", wsx / w)),
        None => (true, String::new()),
    };
    report(
        name,
        format!("{wsx:.3} s"),
        Some((
            ratio <= 1.2 && ahead,
            format!("{ratio:.2}x bare{vs}; target <= 1.2x bare and ahead of websocat"),
        )),
    )
}

/// A bare relay hop: one thread each way per client, each client with its own upstream.
fn relay_hop(upstream: &str) {
    let target = host_port(upstream);
    serve(move |tcp| {
        let Ok(client) = tungstenite::accept(tcp) else {
            return;
        };
        let Ok(up) = TcpStream::connect(&target) else {
            return;
        };
        let _ = up.set_nodelay(true);
        let Ok((up, _)) = tungstenite::client(url_of(&target), up) else {
            return;
        };
        let (Some(client_out), Some(up_out)) =
            (writer(&client, Role::Server), writer(&up, Role::Client))
        else {
            return;
        };
        let there = thread::spawn(move || relay_messages(client, up_out));
        relay_messages(up, client_out);
        let _ = there.join();
    });
}

/// Binds 127.0.0.1:0, says `listening on ws://ADDR` on stderr, and runs `each` on a thread of
/// its own for every connection.
fn serve(each: impl Fn(TcpStream) + Send + Clone + 'static) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("local addr");
    eprintln!("listening on ws://{addr}");
    for tcp in listener.incoming().flatten() {
        let each = each.clone();
        thread::spawn(move || {
            let _ = tcp.set_nodelay(true);
            each(tcp);
        });
    }
}

/// A second handle on a WebSocket's socket, to write from another thread.
fn writer(ws: &WebSocket<TcpStream>, role: Role) -> Option<WebSocket<TcpStream>> {
    let tcp = ws.get_ref().try_clone().ok()?;
    Some(WebSocket::from_raw_socket(tcp, role, None))
}

/// Sends each data message `from` reads to `to`; a Close ends it (and is passed on).
fn relay_messages(mut from: WebSocket<TcpStream>, mut to: WebSocket<TcpStream>) {
    while let Ok(msg) = from.read() {
        if msg.is_close() {
            break;
        }
        if (msg.is_text() || msg.is_binary()) && to.send(msg).is_err() {
            return;
        }
    }
    let _ = to.close(None);
    let _ = to.flush();
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_string()
}

fn url_of(host_port: &str) -> String {
    format!("ws://{host_port}/")
}

// ---- the TCP bridge -------------------------------------------------------------------------

/// 256 MiB out and back: a client streaming stdin to a bridge in front of a TCP echo server,
/// and the echo from its stdout, every byte checked.
fn bridge(websocat: Option<&PathBuf>) -> usize {
    println!(
        "TCP bridge: {STREAM_MIB} MiB through a stdin/stdout client, a WebSocket-to-TCP \
         bridge and a TCP echo server, out and back, every byte checked; median of {RUNS}"
    );
    let echo = tcp_echo_server();
    let target = format!("tcp:{echo}");
    let (wsx_server, wsx_addr) = wsx_listen(&["--forward", &target]);
    let (bare_server, bare_addr) = listening(reference(&["--bare-bridge", &echo.to_string()]));
    let websocat_server = websocat.map(|w| websocat_serving(w, &["--binary"], &target));
    let block = block();
    let mut runs: Vec<(&str, Vec<f64>)> = vec![("wsx", vec![]), ("bare", vec![])];
    if websocat.is_some() {
        runs.push(("websocat", vec![]));
    }
    for _ in 0..RUNS {
        for (name, times) in &mut runs {
            let cmd = match *name {
                "wsx" => {
                    let mut cmd = Command::new(wsx_bin());
                    cmd.args(["connect", &url(wsx_addr), "--stream"]);
                    cmd
                }
                "bare" => reference(&["--bare-stream", &url(bare_addr)]),
                _ => {
                    let (w, (_, addr)) = (
                        websocat.expect("websocat"),
                        websocat_server.as_ref().expect("its server"),
                    );
                    let mut cmd = Command::new(w);
                    cmd.args(["--binary", &url(*addr)]);
                    cmd
                }
            };
            match stream_through(cmd, &block) {
                Some(t) => times.push(t.as_secs_f64()),
                None => println!("  ({name}: a run stalled for {STALL:?} and was killed)"),
            }
        }
    }
    stop(wsx_server);
    stop(bare_server);
    if let Some((child, _)) = websocat_server {
        stop(child);
    }
    let median = |name: &str| {
        let (_, t) = runs.iter().find(|(n, _)| *n == name)?;
        if t.is_empty() {
            return None;
        }
        let mut t = t.clone();
        t.sort_by(f64::total_cmp);
        Some(t[t.len() / 2])
    };
    let rate = |t: f64| format!("{:.0} MiB/s each way", STREAM_MIB as f64 / t);
    let (Some(bare), Some(wsx)) = (median("bare"), median("wsx")) else {
        println!("  MISS: every run of wsx or the bare bridge stalled");
        return 1;
    };
    println!(
        "  {:<34} {:>12}   ({})",
        "bare tungstenite client and bridge",
        format!("{bare:.3} s"),
        rate(bare)
    );
    let websocat = median("websocat");
    if let Some(w) = websocat {
        println!(
            "  {:<34} {:>12}   ({})",
            "websocat --binary, both ends",
            format!("{w:.3} s"),
            rate(w)
        );
    }
    let misses = verdict("wsx --stream, listen --forward tcp:", wsx, bare, websocat);
    println!("  {:<34} {:>12}   ({})", "", "", rate(wsx));
    println!();
    misses
}

/// 1 MiB of varied bytes (newlines among them), sent over and over.
fn block() -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..BLOCK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Streams `STREAM_MIB` copies of `block` into the client's stdin and reads them back from its
/// stdout, checking each byte; the time from the first byte written to the last read. Stdin
/// stays open until then, so no client closes with echoes still on their way. `None` when
/// the client stalled for [`STALL`] (websocat does, now and then) and was killed.
fn stream_through(mut cmd: Command, block: &[u8]) -> Option<Duration> {
    let mut child = spawn_piped(&mut cmd);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (progress, watched) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = thread::spawn(move || loop {
        match watched.recv_timeout(STALL) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = Command::new("kill").args(["-9", &pid]).status();
                return true;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    });
    let start = Instant::now();
    let data = block.to_vec();
    let writer = thread::spawn(move || {
        for _ in 0..STREAM_MIB {
            if stdin.write_all(&data).is_err() {
                break;
            }
        }
        stdin
    });
    let mut buf = vec![0; 256 * 1024];
    let mut at = 0usize;
    let total = STREAM_MIB * BLOCK;
    while at < total {
        let n = stdout.read(&mut buf).expect("reading stdout");
        if n == 0 {
            break;
        }
        let _ = progress.send(());
        for (i, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, block[(at + i) % BLOCK], "byte {}", at + i);
        }
        at += n;
    }
    let elapsed = start.elapsed();
    drop(progress);
    let stalled = watchdog.join().expect("the watchdog");
    drop(writer.join().expect("the writer"));
    stop(child);
    if stalled {
        return None;
    }
    assert_eq!(at, total, "the client ended after {at} of {total} bytes");
    Some(elapsed)
}

/// A TCP echo server: one thread per connection, each read written back.
fn tcp_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the TCP echo server");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = tcp.set_nodelay(true);
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = tcp.read(&mut buf) {
                    if tcp.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A bare WebSocket-to-TCP bridge: each client's data frames are written to a new TCP
/// connection to `target`, and what it reads goes back as binary frames, a thread each way.
fn bare_bridge(target: &str) {
    let target = target.to_string();
    serve(move |tcp| {
        let Ok(mut ws) = tungstenite::accept(tcp) else {
            return;
        };
        let Ok(mut service) = TcpStream::connect(&target) else {
            return;
        };
        let _ = service.set_nodelay(true);
        let (Some(mut out), Ok(mut from_service)) =
            (writer(&ws, Role::Server), service.try_clone())
        else {
            return;
        };
        let back = thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n @ 1..) = from_service.read(&mut buf) {
                if out.send(Message::binary(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            let _ = out.close(None);
            let _ = out.flush();
        });
        while let Ok(msg) = ws.read() {
            if msg.is_close() {
                break;
            }
            if (msg.is_text() || msg.is_binary()) && service.write_all(&msg.into_data()).is_err() {
                break;
            }
        }
        let _ = service.shutdown(std::net::Shutdown::Both);
        let _ = back.join();
    });
}

/// A bare stdin/stdout WebSocket client: each read of stdin a binary frame, each data frame's
/// payload written to stdout, a thread each way.
fn bare_stream(url: &str) {
    let tcp = TcpStream::connect(host_port(url)).expect("connecting");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut ws, _) = tungstenite::client(url, tcp).expect("handshake");
    let mut out = writer(&ws, Role::Client).expect("a second handle");
    thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            out.send(Message::binary(buf[..n].to_vec()))
                .expect("sending");
        }
        let _ = out.close(None);
        let _ = out.flush();
    });
    let mut stdout = std::io::stdout().lock();
    while let Ok(msg) = ws.read() {
        if msg.is_close() {
            return;
        }
        stdout.write_all(&msg.into_data()).expect("writing stdout");
        stdout.flush().expect("flushing stdout");
    }
}
