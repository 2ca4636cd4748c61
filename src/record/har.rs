//! HAR 1.2 recordings, in the form Chrome's DevTools, Playwright and mitmproxy export a
//! WebSocket: one entry per connection (`_resourceType: "websocket"`, the handshake's request
//! and response headers, status 101) whose `_webSocketMessages` are `{type, time, opcode,
//! data}` with `send` for what the client sent, whichever side recorded. Closes are in
//! `_wsxCloses` (`{type, time, code, reason}`), which HAR readers ignore as they ignore every
//! field of their own they do not know.
//!
//! The file is valid from the start: a header, the entries of the connections that ended, and
//! a trailer that each new entry is written over (and written again after it). Messages wait
//! in memory per connection until it ends, and past [`SPILL_AT`] in a temporary file, so
//! that memory stays bounded however long a connection lasts. A write that fails (a full
//! disk) leaves the file as it was before that entry, trailer included.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::time::SystemTime;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::event::{Dir, Event, Kind, Opened};

/// What follows the last entry, in a valid file.
const TRAILER: &[u8] = b"\n]}}\n";

/// How many bytes of one connection's messages wait in memory before they go to a
/// temporary file.
const SPILL_AT: usize = 256 * 1024;

/// Request and response headers whose values are credentials.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// A file the recording can be written to: written, repositioned, and cut back after a
/// failed write.
pub trait Store: Write + Seek {
    /// # Errors
    /// The file could not be cut.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Store for File {
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// A HAR file being written; see the module docs.
pub struct Har<F: Store> {
    file: F,
    /// Where the trailer starts: before it, the header and the complete entries.
    end: u64,
    entries: usize,
    /// The connections not written yet, by client id (0 for `wsx connect`).
    open: BTreeMap<u64, Entry>,
    /// The events are a server's: what came in is what a client sent.
    server: bool,
    credentials: bool,
}

/// One connection's entry, until it ends.
struct Entry {
    started: SystemTime,
    last: SystemTime,
    request: Value,
    response: Value,
    closes: Vec<Value>,
    messages: Spool,
}

/// A connection's messages as JSON, comma-separated: in memory, then in a temporary file.
#[derive(Default)]
struct Spool {
    memory: Vec<u8>,
    disk: Option<File>,
    count: usize,
}

impl<F: Store> Har<F> {
    /// Writes the header and the trailer: an empty, valid HAR file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn new(mut file: F, server: bool, credentials: bool) -> io::Result<Har<F>> {
        let header = json!({
            "version": "1.2",
            "creator": {"name": "wsx", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
        });
        let mut head = serde_json::to_vec(&header).map_err(io::Error::other)?;
        // `{"version":…,"pages":[]}` becomes `{"log":{"version":…,"pages":[],"entries":[`.
        head.pop();
        let mut bytes = b"{\"log\":".to_vec();
        bytes.extend_from_slice(&head);
        bytes.extend_from_slice(b",\"entries\":[");
        file.write_all(&bytes)?;
        file.write_all(TRAILER)?;
        file.flush()?;
        Ok(Har {
            file,
            end: bytes.len() as u64,
            entries: 0,
            open: BTreeMap::new(),
            server,
            credentials,
        })
    }

    /// Records one event: a connection's start, a message or close, or its end (which writes
    /// its entry).
    ///
    /// # Errors
    /// Writing failed (the file keeps the entries written before).
    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        let key = ev.client.unwrap_or(0);
        let side = self.side(ev.dir);
        if let Kind::Open(open) = &ev.kind {
            // `--reconnect`: the connection before it is over.
            self.write_entry(key)?;
            let entry = Entry::new(ev.at, open, self.credentials);
            self.open.insert(key, entry);
            return Ok(());
        }
        let Some(entry) = self.open.get_mut(&key) else {
            return Ok(());
        };
        entry.last = ev.at;
        let time = seconds(ev.at);
        let message = match &ev.kind {
            Kind::Text(text) => {
                json!({"type": side, "time": time, "opcode": 1, "data": text.as_str()})
            }
            Kind::Binary(bytes) => {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                json!({"type": side, "time": time, "opcode": 2, "data": data})
            }
            Kind::Close(info) => {
                let close =
                    json!({"type": side, "time": time, "code": info.code, "reason": info.reason});
                entry.closes.push(close);
                if entry.closes.len() >= 2 {
                    self.write_entry(key)?;
                }
                return Ok(());
            }
            Kind::Disconnected { .. } => return self.write_entry(key),
            Kind::Ping(_) | Kind::Pong { .. } | Kind::Open(_) => return Ok(()),
        };
        entry.messages.push(&message)
    }

    /// Writes the entries of the connections still open: the file is complete.
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(&mut self) -> io::Result<()> {
        let keys: Vec<u64> = self.open.keys().copied().collect();
        for key in keys {
            self.write_entry(key)?;
        }
        Ok(())
    }

    /// `send` for what a client sent, `receive` for what it got.
    fn side(&self, dir: Dir) -> &'static str {
        match (self.server, dir) {
            (false, Dir::Out) | (true, Dir::In) => "send",
            _ => "receive",
        }
    }

    /// Writes connection `key`'s entry over the trailer, if it is still open.
    fn write_entry(&mut self, key: u64) -> io::Result<()> {
        let Some(mut entry) = self.open.remove(&key) else {
            return Ok(());
        };
        let elapsed = entry.last.duration_since(entry.started).unwrap_or_default();
        let mut head = Map::new();
        head.insert("startedDateTime".into(), json!(rfc3339(entry.started)));
        head.insert("time".into(), json!(elapsed.as_micros() as f64 / 1000.0));
        head.insert("request".into(), entry.request.take());
        head.insert("response".into(), entry.response.take());
        head.insert("cache".into(), json!({}));
        head.insert(
            "timings".into(),
            json!({"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": 0, "receive": 0}),
        );
        head.insert("_resourceType".into(), json!("websocket"));
        if !entry.closes.is_empty() {
            head.insert("_wsxCloses".into(), Value::Array(entry.closes));
        }
        let mut bytes = serde_json::to_vec(&Value::Object(head)).map_err(io::Error::other)?;
        bytes.pop(); // the closing brace: the messages come last
        let spool = &mut entry.messages;
        self.append(|out| {
            out.write_all(&bytes)?;
            out.write_all(b",\"_webSocketMessages\":[\n")?;
            spool.copy_to(out)?;
            out.write_all(b"\n]}")
        })
    }

    /// Writes one entry where the trailer starts, then the trailer. If that fails, the file
    /// is cut back to where it was and the trailer written again (into space it already had).
    fn append(&mut self, entry: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        let separator: &[u8] = if self.entries == 0 { b"\n" } else { b",\n" };
        let end = self.end;
        let file = &mut self.file;
        let written = (|| {
            file.seek(SeekFrom::Start(end))?;
            let mut out = Counted {
                inner: BufWriter::new(&mut *file),
                count: 0,
            };
            out.write_all(separator)?;
            entry(&mut out)?;
            let count = out.count;
            out.write_all(TRAILER)?;
            out.flush()?;
            Ok(count)
        })();
        match written {
            Ok(count) => {
                self.end += count;
                self.entries += 1;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.truncate(end);
                let _ = self
                    .file
                    .seek(SeekFrom::Start(end))
                    .and_then(|_| self.file.write_all(TRAILER))
                    .and_then(|()| self.file.flush());
                Err(e)
            }
        }
    }
}

impl Entry {
    fn new(at: SystemTime, open: &Opened, credentials: bool) -> Entry {
        let (url, request, response) = match &open.exchange {
            Some(x) => (x.url.as_str(), x.request.as_slice(), x.response.as_slice()),
            None => (open.peer.as_str(), &[][..], &[][..]),
        };
        let query: Vec<Value> = url::Url::parse(url)
            .map(|u| {
                u.query_pairs()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect()
            })
            .unwrap_or_default();
        Entry {
            started: at,
            last: at,
            request: json!({
                "method": "GET",
                "url": url,
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": headers(request, credentials),
                "queryString": query,
                "headersSize": -1,
                "bodySize": 0,
            }),
            response: json!({
                "status": 101,
                "statusText": "Switching Protocols",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": headers(response, credentials),
                "content": {"size": 0, "mimeType": "x-unknown"},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": 0,
            }),
            closes: Vec::new(),
            messages: Spool::default(),
        }
    }
}

impl Spool {
    fn push(&mut self, message: &Value) -> io::Result<()> {
        if self.count > 0 {
            self.memory.extend_from_slice(b",\n");
        }
        serde_json::to_writer(&mut self.memory, message).map_err(io::Error::other)?;
        self.count += 1;
        if self.memory.len() >= SPILL_AT {
            let disk = match &mut self.disk {
                Some(disk) => disk,
                None => self.disk.insert(tempfile::tempfile()?),
            };
            disk.write_all(&self.memory)?;
            self.memory.clear();
        }
        Ok(())
    }

    fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(disk) = &mut self.disk {
            disk.seek(SeekFrom::Start(0))?;
            io::copy(disk, out)?;
        }
        out.write_all(&self.memory)
    }
}

/// HAR's `[{name, value}]`, credentials redacted unless `credentials`.
fn headers(list: &[(String, String)], credentials: bool) -> Vec<Value> {
    list.iter()
        .map(|(name, value)| {
            let secret = SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s));
            let value = if secret && !credentials {
                "[redacted]"
            } else {
                value.as_str()
            };
            json!({"name": name, "value": value})
        })
        .collect()
}

/// Seconds since the epoch, to the microsecond (as Chrome writes a message's `time`).
fn seconds(at: SystemTime) -> f64 {
    let d = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_micros() as f64 / 1e6
}

fn rfc3339(at: SystemTime) -> String {
    let utc: chrono::DateTime<chrono::Utc> = at.into();
    utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Counts what goes through it.
struct Counted<W: Write> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CloseInfo, Exchange};
    use std::io::Cursor;
    use std::time::Duration;

    /// A disk that holds `room` bytes.
    struct Disk {
        data: Cursor<Vec<u8>>,
        room: usize,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let at = self.data.position() as usize;
            if at + buf.len() > self.room {
                let fits = self.room.saturating_sub(at);
                if fits == 0 {
                    return Err(io::Error::other("No space left on device"));
                }
                return self.data.write(&buf[..fits]);
            }
            self.data.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Disk {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.data.seek(to)
        }
    }

    impl Store for Disk {
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.get_mut().truncate(len as usize);
            Ok(())
        }
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn ev(client: Option<u64>, ms: u64, dir: Dir, kind: Kind) -> Event {
        Event {
            at: at(ms),
            client,
            dir,
            kind,
            wire: None,
            replayed: false,
        }
    }

    fn open(client: Option<u64>, ms: u64, path: &str) -> Event {
        let exchange = Exchange {
            url: format!("ws://127.0.0.1:9/{path}?room=1"),
            request: vec![
                ("Host".into(), "127.0.0.1:9".into()),
                ("Authorization".into(), "Bearer s3cret".into()),
            ],
            response: vec![("Set-Cookie".into(), "id=42".into())],
        };
        let open = Opened {
            peer: "127.0.0.1:5000".into(),
            exchange: Some(exchange),
            ..Default::default()
        };
        ev(client, ms, Dir::In, Kind::Open(Box::new(open)))
    }

    fn parse(disk: &Disk) -> Value {
        serde_json::from_slice(disk.data.get_ref()).expect("valid JSON")
    }

    fn disk(room: usize) -> Disk {
        Disk {
            data: Cursor::new(Vec::new()),
            room,
        }
    }

    #[test]
    fn interleaved_connections_become_one_entry_each_from_the_clients_side() {
        let mut har = Har::new(disk(1 << 20), true, false).unwrap();
        assert_eq!(parse(&har.file)["log"]["entries"], json!([]));
        har.event(&open(Some(1), 0, "a")).unwrap();
        har.event(&open(Some(2), 5, "b")).unwrap();
        har.event(&ev(Some(1), 10, Dir::In, Kind::Text("from 1".into())))
            .unwrap();
        har.event(&ev(
            Some(2),
            20,
            Dir::Out,
            Kind::Binary(vec![0, 255].into()),
        ))
        .unwrap();
        har.event(&ev(Some(1), 30, Dir::Out, Kind::Text("to 1".into())))
            .unwrap();
        har.event(&ev(
            Some(2),
            40,
            Dir::Out,
            Kind::Close(CloseInfo::new(4000, "bye")),
        ))
        .unwrap();
        har.event(&ev(
            Some(2),
            41,
            Dir::In,
            Kind::Close(CloseInfo::new(4000, "bye")),
        ))
        .unwrap();
        // Client 2 is written once both closes passed; the file is valid meanwhile.
        let log = parse(&har.file);
        let entries = log["log"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["request"]["url"], "ws://127.0.0.1:9/b?room=1");
        assert_eq!(
            entries[0]["_webSocketMessages"],
            json!([{"type": "receive", "time": 1_700_000_000.02, "opcode": 2, "data": "AP8="}])
        );
        assert_eq!(entries[0]["_wsxCloses"][0]["type"], "receive");
        assert_eq!(entries[0]["_wsxCloses"][1]["code"], 4000);
        har.event(&ev(
            Some(1),
            50,
            Dir::In,
            Kind::Disconnected { reason: None },
        ))
        .unwrap();
        har.finish().unwrap();
        let log = parse(&har.file);
        let entries = log["log"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let first = &entries[1];
        assert_eq!(first["_resourceType"], "websocket");
        assert_eq!(first["response"]["status"], 101);
        assert_eq!(first["time"], 50.0);
        assert_eq!(first["startedDateTime"], "2023-11-14T22:13:20.000Z");
        assert_eq!(
            first["request"]["queryString"],
            json!([{"name": "room", "value": "1"}])
        );
        let types: Vec<&str> = first["_webSocketMessages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["send", "receive"]);
        // Credentials are not written.
        assert_eq!(first["request"]["headers"][1]["value"], "[redacted]");
        assert_eq!(first["response"]["headers"][0]["value"], "[redacted]");
        assert_eq!(first["request"]["headers"][0]["value"], "127.0.0.1:9");
    }

    #[test]
    fn a_client_recording_sends_what_goes_out_and_keeps_credentials_when_asked() {
        let mut har = Har::new(disk(1 << 20), false, true).unwrap();
        har.event(&open(None, 0, "c")).unwrap();
        har.event(&ev(None, 1, Dir::Out, Kind::Text("hi".into())))
            .unwrap();
        har.event(&ev(None, 2, Dir::In, Kind::Text("hello".into())))
            .unwrap();
        // A reconnection starts the next entry.
        har.event(&open(None, 3, "c")).unwrap();
        har.finish().unwrap();
        let log = parse(&har.file);
        let entries = log["log"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["_webSocketMessages"][0]["type"], "send");
        assert_eq!(entries[0]["_webSocketMessages"][1]["type"], "receive");
        assert_eq!(
            entries[0]["request"]["headers"][1]["value"],
            "Bearer s3cret"
        );
        assert_eq!(entries[1]["_webSocketMessages"], json!([]));
    }

    #[test]
    fn long_connections_spill_to_disk_and_come_back_whole() {
        let mut har = Har::new(disk(64 << 20), false, false).unwrap();
        har.event(&open(None, 0, "c")).unwrap();
        let text = "x".repeat(1000);
        for i in 0..1000 {
            har.event(&ev(None, i, Dir::Out, Kind::Text(text.clone().into())))
                .unwrap();
        }
        assert!(har.open[&0].messages.disk.is_some());
        assert!(har.open[&0].messages.memory.len() < SPILL_AT);
        har.finish().unwrap();
        let log = parse(&har.file);
        let messages = log["log"]["entries"][0]["_webSocketMessages"]
            .as_array()
            .unwrap();
        assert_eq!(messages.len(), 1000);
        assert!(messages.iter().all(|m| m["data"] == text.as_str()));
    }

    #[test]
    fn a_full_disk_is_an_error_and_the_file_keeps_what_was_written() {
        let mut har = Har::new(disk(1 << 20), false, false).unwrap();
        har.event(&open(None, 0, "c")).unwrap();
        har.event(&ev(None, 1, Dir::Out, Kind::Text("first".into())))
            .unwrap();
        har.event(&open(None, 2, "c")).unwrap();
        let written = har.file.data.get_ref().len();
        // Room for a little more than the first entry: the second does not fit.
        har.file.room = written + 100;
        har.event(&ev(None, 3, Dir::Out, Kind::Text("y".repeat(500).into())))
            .unwrap();
        let err = har.finish().unwrap_err();
        assert!(err.to_string().contains("No space"), "{err}");
        let log = parse(&har.file);
        let entries = log["log"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["_webSocketMessages"][0]["data"], "first");
    }
}
