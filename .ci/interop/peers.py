#!/usr/bin/env python3
"""wsx against the WebSocket implementations people run: Python `websockets` and Node `ws`
as servers for `wsx connect` and as clients of `wsx listen`, and headless Chromium opening a
page that talks to `wsx listen` over ws:// and wss://.

Run by .ci/interop/run, which installs the peers. Every wait is bounded, every process is
ended by its PID, and everything listens on 127.0.0.1 port 0. Prints one line per check and a
total; exits 1 if any check failed.

usage: peers.py WSX NODE_MODULES
"""
import base64
import functools
import http.server
import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import traceback

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

HERE = os.path.dirname(os.path.abspath(__file__))
PATIENCE = 15
MIB = 1 << 20
WSX = ""
NODE_PATH = ""

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    detail = str(detail)
    if len(detail) > 300:
        detail = detail[:300] + f"... ({len(detail)} characters)"
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""),
          flush=True)


def scenario(fn):
    """Runs a scenario; an exception is one failed check, not the end of the run."""

    @functools.wraps(fn)
    def run(*args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - reported, never swallowed
            check(f"{fn.__name__}{args}", False, f"{type(e).__name__}: {e}")
            traceback.print_exc()

    return run


# --- processes ------------------------------------------------------------------------------


class Process:
    """A child whose stdout and stderr lines are queued as they come; killed by PID at exit."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.out, self.err = queue.Queue(), queue.Queue()
        self.seen = []
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line.decode("utf-8", "replace").rstrip("\n"))
        q.put(None)

    def expect(self, q, pattern, timeout=PATIENCE):
        """The first line matching `pattern` (a regex) within `timeout`, or an error."""
        while True:
            try:
                line = q.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no line matching {pattern!r}; saw {self.seen[-5:]}")
            if line is None:
                raise EOFError(f"ended without a line matching {pattern!r}; saw {self.seen[-5:]}")
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def type(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=PATIENCE)


class Listen(Process):
    """`wsx listen 127.0.0.1:0 ARGS` (human format unless told), ready once it printed its
    address."""

    def __init__(self, *args, format="human"):
        super().__init__([WSX, "listen", "127.0.0.1:0", "--timestamps", "none",
                          "--format", format, *args])
        line = self.expect(self.err, r"^listening on ")
        self.url = line.split(" ")[-1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wsx_connect(url, *args, stdin=b""):
    """Runs `wsx connect URL ARGS` with `stdin`; returns (status, stdout, stderr)."""
    proc = subprocess.Popen([WSX, "connect", url, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin, timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, out, err.decode("utf-8", "replace")


# --- the servers wsx connects to ------------------------------------------------------------


def python_handler(ws):
    """The Python server's side of the shared protocol (see node_peer.js)."""
    try:
        python_commands(ws)
    except ConnectionClosed:
        pass


def python_commands(ws):
    for message in ws:
        if message == "frag":
            ws.send(["frag", "ment", "ed"])
        elif message == "big":
            ws.send("b" * MIB)
        elif message == "bin":
            ws.send(bytes([0, 255, 10, 13]))
        elif message == "ping":
            if ws.ping(b"srv").wait(PATIENCE):
                ws.send("pong srv")
        elif message == "close":
            ws.close(4001, "bye")
        else:
            ws.send(message)


def python_auth(connection, request):
    if request.path.startswith("/auth"):
        expected = "Basic " + base64.b64encode(b"user:pass").decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(401, "who are you?\n")
    return None


class PythonServer:
    name = "python websockets"

    def __enter__(self):
        self.server = ws_serve(python_handler, "127.0.0.1", 0, subprotocols=["chat"],
                               process_request=python_auth, select_subprotocol=choose_chat,
                               max_size=4 * MIB)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def choose_chat(connection, subprotocols):
    return "chat" if "chat" in subprotocols else None


class NodeServer:
    name = "node ws"

    def __enter__(self):
        self.process = Process(["node", os.path.join(HERE, "node_peer.js"), "server"],
                               env=dict(os.environ, NODE_PATH=NODE_PATH))
        port = self.process.expect(self.process.out, r"^listening \d+$").split()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.process.stop()


@scenario
def connect_to(server_class):
    with server_class() as server:
        name = server.name
        big = "w" * MIB
        lines = ["hello", "big", "frag", "bin", "ping", big]
        status, out, err = wsx_connect(server.url + "/", "--binary-output", "hex",
                                       stdin="\n".join(lines).encode() + b"\n")
        # One line per message; a server may answer "ping" after what follows it.
        got = out.decode().split("\n")
        check(f"wsx connect -> {name}: exit 0", status == 0, err)
        check(f"{name} -> wsx: text", got[0] == "hello", got[0])
        check(f"{name} -> wsx: 1 MiB message", "b" * MIB in got, [len(g) for g in got])
        check(f"{name} -> wsx: fragmented message", "fragmented" in got, got[:3])
        check(f"{name} -> wsx: binary", "00 ff 0a 0d" in got, got[:4])
        check(f"{name} pings, wsx answers", "pong srv" in got, [g[:20] for g in got])
        check(f"wsx -> {name}: 1 MiB line", big in got, [len(g) for g in got])

        # The default linger: a server may answer after it has seen the Close (Python's
        # sync server answers the Close on its own thread, before its handler echoes).
        status, out, err = wsx_connect(server.url + "/", "--slash", "--format",
                                       "jsonl", "--timestamps", "none",
                                       stdin=b"/ping hi\n/binary 00 ff\n")
        events = [json.loads(line) for line in out.decode().splitlines()]
        hi = base64.b64encode(b"hi").decode()  # control and binary payloads are base64
        pongs = [e for e in events if e.get("type") == "pong" and e.get("data") == hi]
        check(f"wsx pings {name}, the pong is shown", status == 0 and len(pongs) == 1,
              f"{status} {out[:300]!r} {err}")
        echoed = [e for e in events if e["dir"] == "in" and e.get("type") == "binary"]
        check(f"wsx -> {name}: binary, echoed", len(echoed) == 1, out[:300])

        status, _, err = wsx_connect(server.url + "/", "-w", "-1", stdin=b"close\n")
        check(f"{name} closes with 4001 bye: exit 6",
              status == 6 and "4001" in err and "bye" in err, f"{status} {err}")

        status, out, err = wsx_connect(server.url + "/", "-s", "chat", "-w", "0",
                                       "--format", "jsonl", "--timestamps", "none")
        opened = json.loads(out.decode().splitlines()[0]) if out else {}
        check(f"{name} chooses the subprotocol", opened.get("subprotocol") == "chat",
              f"{out[:200]!r} {err}")
        check(f"{name} agrees on permessage-deflate",
              (opened.get("extensions") or "").startswith("permessage-deflate"),
              f"{out[:200]!r} {err}")

        status, _, err = wsx_connect(server.url + "/auth", "--auth", "user:pass", "-w", "0")
        check(f"{name} accepts Basic auth", status == 0, err)
        status, _, err = wsx_connect(server.url + "/auth", "-w", "0")
        check(f"{name} refuses without auth: exit 4", status == 4 and "401" in err,
              f"{status} {err}")


# --- the clients of wsx listen --------------------------------------------------------------


@scenario
def python_client():
    name = "python websockets"
    with Listen("--echo", format="jsonl") as wsx:
        with ws_connect(wsx.url, max_size=4 * MIB, open_timeout=PATIENCE) as ws:
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            check(f"wsx listen agrees on {name}'s permessage-deflate offer",
                  agreed.startswith("permessage-deflate"), agreed)
            ws.send("hello wsx")
            check(f"{name} -> wsx listen: text echo", ws.recv(timeout=PATIENCE) == "hello wsx")
            ws.send(bytes([0, 255, 1]))
            check(f"{name} -> wsx listen: binary echo",
                  ws.recv(timeout=PATIENCE) == bytes([0, 255, 1]))
            big = "p" * MIB
            ws.send(big)
            check(f"{name} -> wsx listen: 1 MiB echo", ws.recv(timeout=PATIENCE) == big)
            ws.send(["frag", "ment", "ed"])
            check(f"{name} -> wsx listen: fragmented message reassembled",
                  ws.recv(timeout=PATIENCE) == "fragmented")
            check(f"{name} pings wsx listen", ws.ping(b"hey").wait(PATIENCE))
            ws.close(4002, "done")
        line = wsx.expect(wsx.out, r'"type":"close"')
        event = json.loads(line)
        check(f"{name} closes with 4002 done, wsx shows it",
              event["code"] == 4002 and event["reason"] == "done", line)

    with Listen() as wsx:
        with ws_connect(wsx.url, open_timeout=PATIENCE) as ws:
            wsx.expect(wsx.out, r"connected")
            wsx.type("typed into wsx")
            check(f"wsx listen operator -> {name}",
                  ws.recv(timeout=PATIENCE) == "typed into wsx")
            ws.send("typed into python")
            wsx.expect(wsx.out, r"typed into python")
            check(f"{name} -> wsx listen operator's screen", True)

    with Listen("-s", "chat", "-s", "superchat") as wsx:
        with ws_connect(wsx.url, subprotocols=["superchat"], open_timeout=PATIENCE) as ws:
            check(f"wsx listen chooses {name}'s subprotocol", ws.subprotocol == "superchat",
                  ws.subprotocol)

    with Listen("--auth", "user:pass", "--origin", "http://good.example") as wsx:
        try:
            ws_connect(wsx.url, open_timeout=PATIENCE).close()
            check(f"{name} without credentials gets 401", False, "it was let in")
        except InvalidStatus as e:
            check(f"{name} without credentials gets 401", e.response.status_code == 401)
        auth = {"Authorization": "Basic " + base64.b64encode(b"user:pass").decode()}
        with ws_connect(wsx.url, additional_headers=auth, origin="http://good.example",
                        open_timeout=PATIENCE) as ws:
            ws.send("let in")
            wsx.expect(wsx.out, r"< let in$")
            check(f"{name} with credentials and an allowed origin is served", True)
        try:
            ws_connect(wsx.url, additional_headers=auth, origin="http://evil.example",
                       open_timeout=PATIENCE).close()
            check(f"{name} from another origin gets 403", False, "it was let in")
        except InvalidStatus as e:
            check(f"{name} from another origin gets 403", e.response.status_code == 403)


@scenario
def node_client():
    with Listen("--echo") as wsx:
        node = Process(["node", os.path.join(HERE, "node_peer.js"), "client", wsx.url],
                       env=dict(os.environ, NODE_PATH=NODE_PATH))
        try:
            while True:
                line = node.out.get(timeout=PATIENCE * 2)
                if line is None:
                    break
                r = json.loads(line)
                check(f"node ws -> wsx listen: {r['name']}", r["ok"], str(r.get("detail")))
            status = node.proc.wait(timeout=PATIENCE)
            check("node ws client finished cleanly", status == 0, status)
        finally:
            node.stop()


# --- headless Chromium ----------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class PageServer:
    """Serves .ci/interop/ over HTTP on 127.0.0.1 (the page's origin)."""

    def __enter__(self):
        handler = functools.partial(QuietHandler, directory=HERE)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()


def browser(page_url, home):
    return Process(["node", os.path.join(HERE, "browser.js"), page_url],
                   env=dict(os.environ, NODE_PATH=NODE_PATH, HOME=home))


def make_pki(dir):
    """A CA and a certificate for localhost signed by it, made with openssl."""

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=dir)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=wsx interop CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(dir, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")


def trust_in_nss(home, ca):
    """Chromium on Linux trusts the authorities in $HOME/.pki/nssdb."""
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "wsx interop CA",
                    "-t", "C,,", "-i", ca], check=True)


def browser_exchange(scheme, wsx, pages, home):
    page = f"{pages.origin}/page.html?ws={scheme}://localhost:{wsx.port}/"
    chromium = browser(page, home)
    try:
        opened = chromium.expect(chromium.out, r"^open")
        check(f"Chromium and wsx listen ({scheme}) agree on permessage-deflate",
              opened.startswith("open permessage-deflate"), opened)
        connected = wsx.expect(wsx.out, r"connected")
        check(f"wsx listen ({scheme}) shows the extension", "(permessage-deflate" in connected,
              connected)
        wsx.type(f"hello browser over {scheme}")
        line = chromium.expect(chromium.out, r"^message ")
        check(f"wsx listen ({scheme}) -> Chromium", line == f"message hello browser over {scheme}",
              line)
        wsx.expect(wsx.out, f"browser got: hello browser over {scheme}")
        check(f"Chromium -> wsx listen ({scheme})", True)
    finally:
        chromium.stop()


@scenario
def chromium():
    with tempfile.TemporaryDirectory() as home, PageServer() as pages:
        with Listen() as wsx:
            browser_exchange("ws", wsx, pages, home)

        make_pki(home)
        trust_in_nss(home, os.path.join(home, "ca.pem"))
        with Listen("--tls-cert", os.path.join(home, "server.pem"),
                    "--tls-key", os.path.join(home, "server.key")) as wsx:
            browser_exchange("wss", wsx, pages, home)

        with Listen("--origin", "http://allowed.example") as wsx:
            page = f"{pages.origin}/page.html?ws=ws://127.0.0.1:{wsx.port}/"
            chromium = browser(page, home)
            try:
                line = chromium.expect(chromium.out, r"^(open|error|close)")
                check("Chromium from a disallowed origin is refused",
                      not line.startswith("open"), line)
                why = wsx.expect(wsx.err, r"is not allowed")
                check("wsx says why: 403 for that origin", "(403)" in why, why)
            finally:
                chromium.stop()


@scenario
def chromium_chat_room():
    """The README's first browser example: `wsx listen --static DIR --chat`, the page from wsx
    itself, chatting with a `wsx connect` in a shell."""
    with Listen("--static", os.path.join(HERE, "chat"), "--chat") as wsx:
        shell = Process([WSX, "connect", f"ws://127.0.0.1:{wsx.port}/", "-w", "-1"])
        try:
            wsx.expect(wsx.out, r"#1 connected")
            page = f"http://127.0.0.1:{wsx.port}/"
            with tempfile.TemporaryDirectory() as home:
                chromium = Process(
                    ["node", os.path.join(HERE, "browser.js"), page, "--type",
                     "hello from the browser", "--expect", "hello from the shell"],
                    env=dict(os.environ, NODE_PATH=NODE_PATH, HOME=home))
                try:
                    line = shell.expect(shell.out, r"hello from the browser")
                    check("Chromium, on the page wsx served, -> wsx connect through --chat",
                          line == "hello from the browser", line)
                    shell.type("hello from the shell")
                    got = chromium.expect(chromium.out, r"^got ")
                    check("wsx connect -> Chromium through --chat", got.endswith("shell"), got)
                finally:
                    chromium.stop()
        finally:
            shell.stop()


# --- wsx listen --forward, the relay --------------------------------------------------------


@scenario
def relay_to(server_class):
    """`wsx connect` -> `wsx listen --forward` -> a real server: what connect_to checks
    directly, through the relay."""
    with server_class() as server, Listen("--forward", server.url) as relay:
        name = f"the relay to {server.name}"
        url = f"ws://127.0.0.1:{relay.port}/"
        big = "w" * MIB
        lines = ["hello", "big", "frag", "bin", "ping", big]
        status, out, err = wsx_connect(url, "--binary-output", "hex",
                                       stdin="\n".join(lines).encode() + b"\n")
        got = out.decode().split("\n")
        check(f"wsx connect -> {name}: exit 0", status == 0, err)
        check(f"{name}: text both ways", got[0] == "hello", got[0])
        check(f"{name}: 1 MiB message", "b" * MIB in got, [len(g) for g in got])
        check(f"{name}: fragmented message, reassembled", "fragmented" in got, got[:3])
        check(f"{name}: binary stays binary", "00 ff 0a 0d" in got, got[:4])
        check(f"{name}: the server's ping is answered", "pong srv" in got,
              [g[:20] for g in got])
        check(f"{name}: 1 MiB line", big in got, [len(g) for g in got])
        relay.expect(relay.out, r"#1 > pong srv")
        check(f"{name}: both directions shown", True)

        status, _, err = wsx_connect(url, "-w", "-1", stdin=b"close\n")
        check(f"{name}: the server's close 4001 bye passes: exit 6",
              status == 6 and "4001" in err and "bye" in err, f"{status} {err}")

        status, out, err = wsx_connect(url, "-s", "chat", "-w", "0", "--format", "jsonl",
                                       "--timestamps", "none")
        opened = json.loads(out.decode().splitlines()[0]) if out else {}
        check(f"{name}: the server's subprotocol choice passes",
              opened.get("subprotocol") == "chat", f"{out[:200]!r} {err}")

        status, _, err = wsx_connect(url + "auth", "--auth", "user:pass", "-w", "0")
        check(f"{name}: the client's credentials pass", status == 0, err)
        status, _, err = wsx_connect(url + "auth", "-w", "0")
        check(f"{name}: the server's 401 passes: exit 4", status == 4 and "401" in err,
              f"{status} {err}")


@scenario
def relay_to_python_over_tls():
    with tempfile.TemporaryDirectory() as dir:
        make_pki(dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(dir, "server.pem"), os.path.join(dir, "server.key"))
        server = ws_serve(python_handler, "127.0.0.1", 0, ssl=context)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        upstream = f"wss://localhost:{server.socket.getsockname()[1]}/"
        try:
            ca = os.path.join(dir, "ca.pem")
            with Listen("--forward", upstream, "--forward-ca", ca) as relay:
                status, out, err = wsx_connect(f"ws://127.0.0.1:{relay.port}/",
                                               stdin=b"hello over tls\n")
                check("the relay to python websockets over wss:// (--forward-ca)",
                      status == 0 and out == b"hello over tls\n", f"{status} {out!r} {err}")
            with Listen("--forward", upstream) as relay:
                status, _, err = wsx_connect(f"ws://127.0.0.1:{relay.port}/", "-w", "0")
                check("the relay refuses an upstream it cannot verify: 502",
                      status == 4 and "502" in err, f"{status} {err}")
        finally:
            server.shutdown()


@scenario
def chromium_relay():
    """A page in Chromium talks to Node ws through `wsx listen --forward`, which shows both
    directions and lets the operator inject a message."""
    with tempfile.TemporaryDirectory() as home, PageServer() as pages, NodeServer() as node:
        with Listen("--forward", node.url) as relay:
            page = f"{pages.origin}/page.html?once&ws=ws://127.0.0.1:{relay.port}/"
            chromium = browser(page, home)
            try:
                opened = chromium.expect(chromium.out, r"^open")
                check("Chromium -> the relay -> node ws: open, permessage-deflate",
                      opened.startswith("open permessage-deflate"), opened)
                connected = relay.expect(relay.out, r"relayed to")
                check("the relay names node ws as the upstream", node.url in connected,
                      connected)
                relay.type("hello through the relay")
                line = chromium.expect(chromium.out, r"^message ")
                check("a line typed into the relay reaches Chromium",
                      line == "message hello through the relay", line)
                relay.expect(relay.out, r"#1 < browser got: hello through the relay")
                relay.expect(relay.out, r"#1 > browser got: hello through the relay")
                line = chromium.expect(chromium.out, r"^message ")
                check("Chromium -> node ws -> Chromium through the relay, both shown",
                      line == "message browser got: hello through the relay", line)
            finally:
                chromium.stop()


@scenario
def chromium_har():
    """Chromium (through Playwright's recordHar) records a session with wsx listen as HAR;
    wsx listen --replay serves that HAR back to the same page as a mock."""
    with tempfile.TemporaryDirectory() as home, PageServer() as pages:
        har = os.path.join(home, "chromium.har")
        with Listen() as live:
            page = f"{pages.origin}/page.html?once&close&ws=ws://127.0.0.1:{live.port}/feed?x=1"
            recorder = Process(["node", os.path.join(HERE, "browser.js"), page,
                                "--record-har", har],
                               env=dict(os.environ, NODE_PATH=NODE_PATH, HOME=home))
            try:
                recorder.expect(recorder.out, r"^open")
                # The page's socket is open once its 101 arrives; a typed line reaches the
                # clients wsx has taken in, so wait for that first.
                live.expect(live.out, r"#1 connected")
                live.type('{"price": 101.5}')
                recorder.expect(recorder.out, r"^close")
                recorder.proc.wait(timeout=PATIENCE)
            finally:
                recorder.stop()
        with open(har) as f:
            entries = [e for e in json.load(f)["log"]["entries"]
                       if e.get("_resourceType") == "websocket"]
        messages = entries[0].get("_webSocketMessages", []) if entries else []
        check("Chromium's HAR has the WebSocket entry with both messages",
              [m.get("type") for m in messages] == ["receive", "send"], messages)
        with Listen("--replay", har) as mock:
            page = f"{pages.origin}/page.html?once&close&ws=ws://127.0.0.1:{mock.port}/feed?x=1"
            chromium = browser(page, home)
            try:
                line = chromium.expect(chromium.out, r"^message ")
                check("wsx listen --replay plays Chromium's HAR to the page",
                      line == 'message {"price": 101.5}', line)
                shown = mock.expect(mock.out, r"#1 < browser got")
                check("the page answers as recorded",
                      shown == '#1 < browser got: {"price": 101.5}', shown)
                chromium.expect(chromium.out, r"^close")
                differs = []
                while not mock.err.empty():
                    line = mock.err.get_nowait()
                    if line and "differs" in line:
                        differs.append(line)
                check("no message differs from the recording", not differs, differs)
            finally:
                chromium.stop()


def main():
    global WSX, NODE_PATH
    WSX, NODE_PATH = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    connect_to(PythonServer)
    connect_to(NodeServer)
    python_client()
    node_client()
    chromium()
    chromium_chat_room()
    relay_to(PythonServer)
    relay_to(NodeServer)
    relay_to_python_over_tls()
    chromium_relay()
    chromium_har()
    failed = results.count(False)
    print(f"interop: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
