//! The receiving side: a reader under tungstenite that turns compressed frames back into plain
//! ones (RFC 7692, section 7.2.2).
//!
//! Bytes from the socket are parsed frame by frame. A message whose first frame has RSV1 set
//! is inflated as it arrives and handed on as plain frames of at most one buffer each (the
//! first with the message's opcode, the rest continuations, the last final); everything else
//! (control frames, uncompressed messages, and anything malformed, which tungstenite then
//! rejects as it would on any connection) passes through byte for byte. The inflated size of
//! a message is bounded here, so a small frame that would inflate past `--max-message-size`
//! is refused before it is allocated.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read};

use flate2::{Decompress, FlushDecompress, Status};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::compress::TAIL;
use super::Error;

/// Room kept at the start of the output buffer for the header of the frame that follows.
const HEADROOM: usize = 14;
/// The most read from the socket at a time, and the largest inflated frame handed on: the two
/// buffers a compressed connection keeps. Each starts at [`FIRST_ROOM`] and doubles when it
/// is filled, so a connection of small messages keeps small buffers.
const CHUNK: usize = 16 * 1024;
const FIRST_ROOM: usize = 2 * 1024;

/// Where the reader is in the byte stream.
enum Frame {
    /// At a frame boundary.
    Between,
    /// Copying an uncompressed frame's payload through.
    Pass { left: u64 },
    /// Inflating a compressed message's frame.
    Inflate {
        /// Payload bytes still to come from the socket.
        left: u64,
        mask: Option<[u8; 4]>,
        /// Payload bytes consumed so far (the mask's phase).
        offset: u64,
        /// Bytes at the read position already unmasked.
        unmasked: usize,
        fin: bool,
        /// How much of [`TAIL`] the inflater has taken (final frames only).
        tail: usize,
    },
}

/// The message being received, as far as this reader is concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Message {
    None,
    /// An uncompressed fragmented message: its frames pass through.
    Plain,
    /// A compressed one.
    Compressed {
        opcode: Data,
        /// A plain frame of it has been handed on (the next ones are continuations).
        started: bool,
        /// Compressed payload bytes so far.
        wire: usize,
        /// Inflated bytes so far.
        size: usize,
    },
}

/// Inflates one connection's incoming compressed messages.
pub struct Inflater {
    /// Bytes from the socket; `raw[pos..end]` is what is not parsed yet. Zeroed once when it
    /// grows, never for each read.
    raw: Vec<u8>,
    pos: usize,
    end: usize,
    /// How much to read at a time (grows to [`CHUNK`]).
    raw_room: usize,
    /// Plain frame bytes for tungstenite; `out[out_pos..]` is what it has not taken yet.
    out: Vec<u8>,
    out_pos: usize,
    /// Room for inflated bytes per frame (grows to [`CHUNK`]).
    out_room: usize,
    frame: Frame,
    message: Message,
    /// Made on the first compressed message: an idle connection costs nothing.
    z: Option<Decompress>,
    max_message: usize,
    window_bits: u8,
    /// For each data message handed on, in order: its compressed size, or `None` if it came
    /// uncompressed.
    sizes: VecDeque<Option<usize>>,
    /// A failure found after frames that are handed on first.
    failed: Option<Error>,
}

impl Inflater {
    /// `tail`: bytes already read past the handshake. `max_message`: the largest inflated
    /// message accepted (`--max-message-size`). `window_bits`: the peer's largest window.
    pub fn new(tail: Vec<u8>, max_message: usize, window_bits: u8) -> Inflater {
        Inflater {
            end: tail.len(),
            raw: tail,
            pos: 0,
            raw_room: FIRST_ROOM,
            out_room: FIRST_ROOM,
            out: Vec::new(),
            out_pos: 0,
            frame: Frame::Between,
            message: Message::None,
            z: None,
            max_message,
            // zlib inflates raw deflate with 9 bits at least; a larger window than the
            // sender's is always enough.
            window_bits: window_bits.clamp(9, 15),
            sizes: VecDeque::new(),
            failed: None,
        }
    }

    /// The compressed size of the next data message tungstenite returns (`None`: it came
    /// uncompressed). Called once per data message, in order.
    pub fn next_size(&mut self) -> Option<usize> {
        self.sizes.pop_front().flatten()
    }

    /// Reads plain frame bytes into `buf`: as many whole frames as are here (tungstenite makes
    /// one call per read, so frames handed over one at a time would cost a call each), and
    /// `inner` only when nothing here can make more.
    ///
    /// # Errors
    /// `inner` failed (`WouldBlock` included), or the compressed data is invalid or too big:
    /// an [`Error`] inside the `io::Error` carries the close code (after the frames before it).
    pub fn read(&mut self, inner: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.failed.take() {
            return Err(e.into_io());
        }
        let mut n = 0;
        loop {
            if self.out_pos < self.out.len() {
                let k = (buf.len() - n).min(self.out.len() - self.out_pos);
                buf[n..n + k].copy_from_slice(&self.out[self.out_pos..self.out_pos + k]);
                self.out_pos += k;
                n += k;
                if n == buf.len() {
                    return Ok(n);
                }
            }
            self.out.clear();
            self.out_pos = 0;
            match self.step() {
                Ok(true) => continue,
                Ok(false) if n > 0 => return Ok(n),
                Ok(false) => {}
                Err(e) if n > 0 => {
                    self.failed = Some(e);
                    return Ok(n);
                }
                Err(e) => return Err(e.into_io()),
            }
            // Nothing more to make from what is here: read the socket.
            if self.pos > 0 {
                self.raw.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.raw.len() < self.end + self.raw_room {
                self.raw.resize(self.end + self.raw_room, 0);
            }
            let n = inner.read(&mut self.raw[self.end..])?;
            if n == 0 {
                return Ok(0);
            }
            if n == self.raw.len() - self.end {
                self.raw_room = (self.raw_room * 2).min(CHUNK);
            }
            self.end += n;
        }
    }

    /// Makes progress on what is buffered: `true` if it did (output may be ready), `false`
    /// if more bytes from the socket are needed.
    fn step(&mut self) -> Result<bool, Error> {
        match self.frame {
            Frame::Between => self.header(),
            Frame::Pass { left } => {
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(self.end - self.pos);
                if n == 0 && left > 0 {
                    return Ok(false);
                }
                self.out
                    .extend_from_slice(&self.raw[self.pos..self.pos + n]);
                self.pos += n;
                let left = left - n as u64;
                self.frame = if left == 0 {
                    Frame::Between
                } else {
                    Frame::Pass { left }
                };
                Ok(true)
            }
            Frame::Inflate { .. } => self.inflate(),
        }
    }

    /// Parses the next frame header and decides what to do with the frame.
    fn header(&mut self) -> Result<bool, Error> {
        let mut cursor = Cursor::new(&self.raw[self.pos..self.end]);
        let parsed = FrameHeader::parse(&mut cursor)
            .map_err(|e| Error::new(1002, format!("protocol error: {e}")))?;
        let Some((header, len)) = parsed else {
            return Ok(false);
        };
        let header_len = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
        let reserved = header.rsv2 || header.rsv3;
        let starts = match (header.opcode, self.message) {
            (OpCode::Data(d @ (Data::Text | Data::Binary)), Message::None) => Some(d),
            _ => None,
        };
        let continues = matches!(
            (header.opcode, self.message),
            (OpCode::Data(Data::Continue), Message::Compressed { .. })
        );
        if !reserved && ((header.rsv1 && starts.is_some()) || (!header.rsv1 && continues)) {
            if let Some(opcode) = starts {
                self.message = Message::Compressed {
                    opcode,
                    started: false,
                    wire: 0,
                    size: 0,
                };
            }
            self.pos += header_len;
            self.frame = Frame::Inflate {
                left: len,
                mask: header.mask,
                offset: 0,
                unmasked: 0,
                fin: header.is_final,
                tail: 0,
            };
            return Ok(true);
        }
        // Anything else goes through as it came; tungstenite judges it. Track where
        // uncompressed messages begin and end, and note them in the list of sizes.
        match (header.opcode, self.message) {
            (OpCode::Data(Data::Text | Data::Binary), Message::None) => {
                if header.is_final {
                    self.sizes.push_back(None);
                } else {
                    self.message = Message::Plain;
                }
            }
            (OpCode::Data(Data::Continue), Message::Plain) if header.is_final => {
                self.sizes.push_back(None);
                self.message = Message::None;
            }
            _ => {}
        }
        self.out
            .extend_from_slice(&self.raw[self.pos..self.pos + header_len]);
        self.pos += header_len;
        self.frame = if len == 0 {
            Frame::Between
        } else {
            Frame::Pass { left: len }
        };
        Ok(true)
    }

    /// Inflates as much of the current compressed frame as is here, into one plain frame.
    fn inflate(&mut self) -> Result<bool, Error> {
        let Frame::Inflate {
            mut left,
            mask,
            mut offset,
            mut unmasked,
            fin,
            mut tail,
        } = self.frame
        else {
            return Ok(false);
        };
        let Message::Compressed {
            opcode,
            started,
            mut wire,
            mut size,
        } = self.message
        else {
            return Ok(false);
        };
        let z = self
            .z
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, self.window_bits));
        self.out.resize(HEADROOM, 0);
        self.out.reserve(self.out_room);
        let mut done = false;
        loop {
            let here = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.end - self.pos);
            if let Some(key) = mask {
                let phase = ((offset + unmasked as u64) % 4) as usize;
                unmask(
                    &mut self.raw[self.pos + unmasked..self.pos + here],
                    key,
                    phase,
                );
            }
            unmasked = here;
            let (input, flush) = if left > 0 || !fin {
                (&self.raw[self.pos..self.pos + here], FlushDecompress::None)
            } else {
                (&TAIL[tail..], FlushDecompress::Sync)
            };
            if (left > 0 && input.is_empty()) || (left == 0 && !fin) {
                break; // this frame's bytes are all used, or the rest is not here yet
            }
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z
                .decompress_vec(input, &mut self.out, flush)
                .map_err(|e| Error::new(1007, format!("invalid compressed data ({e})")))?;
            let took = usize::try_from(z.total_in() - in0).unwrap_or(usize::MAX);
            let made = usize::try_from(z.total_out() - out0).unwrap_or(usize::MAX);
            size += made;
            if size > self.max_message {
                return Err(Error::new(
                    1009,
                    format!(
                        "message too big: it inflates past the limit of {} bytes",
                        self.max_message
                    ),
                ));
            }
            if left > 0 {
                self.pos += took;
                left -= took as u64;
                offset += took as u64;
                unmasked -= took;
                wire += took;
            } else {
                tail += took;
            }
            if status == Status::StreamEnd {
                // The peer ended its deflate stream (BFINAL): what follows starts a new one.
                z.reset(false);
            }
            if self.out.len() == self.out.capacity() {
                self.out_room = (self.out_room * 2).min(CHUNK);
                break;
            }
            if left == 0 && fin && tail == TAIL.len() {
                done = true;
                break;
            }
            if took == 0 && made == 0 && status != Status::StreamEnd {
                return Err(Error::new(1007, "invalid compressed data (no progress)"));
            }
        }
        let frame_over = left == 0 && (!fin || done);
        self.frame = if frame_over {
            Frame::Between
        } else {
            Frame::Inflate {
                left,
                mask,
                offset,
                unmasked,
                fin,
                tail,
            }
        };
        let made = self.out.len() - HEADROOM;
        self.message = if done {
            self.sizes.push_back(Some(wire));
            Message::None
        } else {
            Message::Compressed {
                opcode,
                started: started || made > 0,
                wire,
                size,
            }
        };
        if made == 0 && !done {
            self.out.clear();
            // Nothing to hand on: progress if the frame ended (on to the next header).
            return Ok(frame_over);
        }
        let header = FrameHeader {
            is_final: done,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: if started {
                OpCode::Data(Data::Continue)
            } else {
                OpCode::Data(opcode)
            },
            // tungstenite checks masking as on any connection; the payload is unmasked
            // already, and a zero key leaves it as it is.
            mask: mask.map(|_| [0; 4]),
        };
        let mut head = [0u8; HEADROOM];
        let mut cursor = Cursor::new(&mut head[..]);
        header
            .format(made as u64, &mut cursor)
            .map_err(|e| Error::new(1011, format!("internal error: {e}")))?;
        let head_len = usize::try_from(cursor.position()).unwrap_or(HEADROOM);
        self.out[HEADROOM - head_len..HEADROOM].copy_from_slice(&head[..head_len]);
        self.out_pos = HEADROOM - head_len;
        Ok(true)
    }
}

/// XORs a client's mask over `bytes`, which start `phase` bytes into the key.
fn unmask(bytes: &mut [u8], key: [u8; 4], phase: usize) {
    let key: [u8; 4] = std::array::from_fn(|i| key[(phase + i) % 4]);
    let mut words = bytes.chunks_exact_mut(4);
    for word in &mut words {
        for (b, k) in word.iter_mut().zip(key) {
            *b ^= k;
        }
    }
    for (b, k) in words.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{Compressor, Params};
    use std::io::Write;
    use tungstenite::error::ProtocolError;
    use tungstenite::protocol::frame::coding::Control;
    use tungstenite::protocol::{Role, WebSocketConfig};
    use tungstenite::{Error as WsError, Message, WebSocket};

    /// Frames as a peer sends them: `mask` for a client's.
    fn frame(out: &mut Vec<u8>, opcode: OpCode, rsv1: bool, fin: bool, payload: &[u8], mask: bool) {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let header = FrameHeader {
            is_final: fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: mask.then_some(key),
        };
        header.format(payload.len() as u64, out).unwrap();
        out.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| if mask { b ^ key[i % 4] } else { *b }),
        );
    }

    fn text(out: &mut Vec<u8>, c: &mut Compressor, s: &str, mask: bool) {
        let z = c.compress(s.as_bytes()).unwrap();
        frame(out, OpCode::Data(Data::Text), true, true, &z, mask);
    }

    /// The peer's bytes, handed over `step` at a time with a `WouldBlock` between reads.
    struct Peer {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
        blocked: bool,
        inflater: Inflater,
    }

    struct Raw<'a>(&'a mut Vec<u8>, &'a mut usize, usize, &'a mut bool);

    impl Read for Raw<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if std::mem::take(self.3) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *self.3 = true;
            let n = buf.len().min(self.2).min(self.0.len() - *self.1);
            buf[..n].copy_from_slice(&self.0[*self.1..*self.1 + n]);
            *self.1 += n;
            Ok(n)
        }
    }

    impl Read for Peer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut raw = Raw(&mut self.bytes, &mut self.at, self.step, &mut self.blocked);
            self.inflater.read(&mut raw, buf)
        }
    }

    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Reads every message from `bytes` as `role`, feeding them `step` bytes at a time.
    fn read_all(
        bytes: Vec<u8>,
        role: Role,
        step: usize,
        max: usize,
    ) -> (Vec<Message>, Option<WsError>, Vec<Option<usize>>) {
        let peer = Peer {
            bytes,
            at: 0,
            step,
            blocked: false,
            inflater: Inflater::new(Vec::new(), max, 15),
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let mut ws = WebSocket::from_raw_socket(peer, role, Some(config));
        let (mut got, mut sizes) = (Vec::new(), Vec::new());
        loop {
            match ws.read() {
                Ok(m) => {
                    if m.is_text() || m.is_binary() {
                        sizes.push(ws.get_mut().inflater.next_size());
                    }
                    got.push(m);
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return (got, Some(e), sizes),
            }
        }
    }

    fn code_of(err: &Option<WsError>) -> Option<u16> {
        match err {
            Some(WsError::Io(e)) => Error::of(e).map(|e| e.code),
            _ => None,
        }
    }

    #[test]
    fn compressed_messages_come_out_whole_whatever_the_chunks() {
        for (role, mask) in [(Role::Client, false), (Role::Server, true)] {
            let peer_role = if mask { Role::Client } else { Role::Server };
            let mut c = Compressor::new(&Params::default(), peer_role).unwrap();
            let mut bytes = Vec::new();
            text(&mut bytes, &mut c, "Hello", mask);
            text(&mut bytes, &mut c, "Hello", mask); // refers back to the first
            frame(
                &mut bytes,
                OpCode::Data(Data::Text),
                false,
                true,
                b"plain",
                mask,
            );
            let big = "wsx ".repeat(40_000); // inflates to more than one chunk
            text(&mut bytes, &mut c, &big, mask);
            for step in [1, 7, 100_000] {
                let (got, err, sizes) = read_all(bytes.clone(), role, step, 64 << 20);
                assert!(
                    matches!(
                        err,
                        Some(WsError::Protocol(
                            ProtocolError::ResetWithoutClosingHandshake
                        ))
                    ),
                    "{err:?}"
                );
                assert_eq!(got.len(), 4, "step {step}");
                assert_eq!(got[0], Message::text("Hello"));
                assert_eq!(got[1], Message::text("Hello"));
                assert_eq!(got[2], Message::text("plain"));
                assert_eq!(got[3], Message::text(big.clone()));
                assert!(sizes[0].is_some() && sizes[1] < sizes[0], "{sizes:?}");
                assert_eq!(sizes[2], None);
                assert!(sizes[3].unwrap() < 2_000, "{sizes:?}");
            }
        }
    }

    #[test]
    fn fragments_with_a_ping_between() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let z = c
            .compress(&b"fragmented and compressed ".repeat(100))
            .unwrap();
        let (a, b) = z.split_at(z.len() / 2);
        let mut bytes = Vec::new();
        frame(
            &mut bytes,
            OpCode::Data(Data::Binary),
            true,
            false,
            a,
            false,
        );
        frame(
            &mut bytes,
            OpCode::Control(Control::Ping),
            false,
            true,
            b"hi",
            false,
        );
        frame(
            &mut bytes,
            OpCode::Data(Data::Continue),
            false,
            false,
            &[],
            false,
        );
        frame(
            &mut bytes,
            OpCode::Data(Data::Continue),
            false,
            true,
            b,
            false,
        );
        let (got, _, sizes) = read_all(bytes, Role::Client, 3, 1 << 20);
        assert_eq!(got[0], Message::Ping("hi".into()));
        assert_eq!(
            got[1],
            Message::binary(b"fragmented and compressed ".repeat(100))
        );
        assert_eq!(sizes, vec![Some(z.len())]);
    }

    #[test]
    fn a_small_frame_that_inflates_past_the_limit_is_refused() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let bomb = vec![0u8; 10 << 20];
        let mut bytes = Vec::new();
        frame(
            &mut bytes,
            OpCode::Data(Data::Binary),
            true,
            true,
            &c.compress(&bomb).unwrap(),
            false,
        );
        assert!(bytes.len() < 20_000);
        let (got, err, _) = read_all(bytes, Role::Client, 1 << 20, 1 << 20);
        assert!(got.is_empty());
        assert_eq!(code_of(&err), Some(1009), "{err:?}");
    }

    #[test]
    fn invalid_compressed_data_is_1007() {
        let mut bytes = Vec::new();
        frame(
            &mut bytes,
            OpCode::Data(Data::Text),
            true,
            true,
            &[0xff, 0xff, 0xff],
            false,
        );
        let (_, err, _) = read_all(bytes, Role::Client, 100, 1 << 20);
        assert_eq!(code_of(&err), Some(1007), "{err:?}");
    }

    #[test]
    fn rsv1_where_it_does_not_belong_is_a_protocol_error() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let z = c.compress(b"x").unwrap();
        let (mut ping, mut second, mut plain) = (Vec::new(), Vec::new(), Vec::new());
        frame(
            &mut ping,
            OpCode::Control(Control::Ping),
            true,
            true,
            b"",
            false,
        );
        // RSV1 belongs on a message's first frame only.
        frame(
            &mut second,
            OpCode::Data(Data::Text),
            true,
            false,
            &z,
            false,
        );
        frame(
            &mut second,
            OpCode::Data(Data::Continue),
            true,
            true,
            b"",
            false,
        );
        frame(
            &mut plain,
            OpCode::Data(Data::Text),
            false,
            false,
            b"a",
            false,
        );
        frame(
            &mut plain,
            OpCode::Data(Data::Continue),
            true,
            true,
            &z,
            false,
        );
        for bytes in [ping, second, plain] {
            let (_, err, _) = read_all(bytes, Role::Client, 100, 1 << 20);
            assert!(
                matches!(
                    err,
                    Some(WsError::Protocol(ProtocolError::NonZeroReservedBits))
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_after_inflating_is_caught_by_tungstenite() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let mut bytes = Vec::new();
        frame(
            &mut bytes,
            OpCode::Data(Data::Text),
            true,
            true,
            &c.compress(&[0xc3, 0x28]).unwrap(),
            false,
        );
        let (_, err, _) = read_all(bytes, Role::Client, 100, 1 << 20);
        assert!(matches!(err, Some(WsError::Utf8(_))), "{err:?}");
    }
}
