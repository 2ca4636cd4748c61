//! A server's own reading of the frames that need nothing of tungstenite's state: a whole,
//! final, masked text or binary frame, with no reserved bit and no message in pieces before
//! it. That is nearly every frame a client sends, and tungstenite reads each in reads of its
//! 512-byte buffer (zeroing each first), then unmasks it 4 bytes at a time; here it is one
//! copy out of the socket's read-ahead and one unmasking pass. A frame whose head has come
//! but not all its payload ([`Partial`]) is read on straight into its message's buffer, the
//! socket's reads going there without passing through the read-ahead once 64 KiB or more is
//! still to come.
//!
//! Everything else (control frames, fragments, anything malformed, a head not yet whole,
//! a whole frame of invalid UTF-8) is left to tungstenite, which then answers exactly as it
//! always has; a frame read here in pieces ends as tungstenite would end it. For
//! that, tungstenite must never hold part of a frame when a frame is taken here: [`Bounds`]
//! follows the frames in what tungstenite is given, and gives it no byte past the end of the
//! frame it is reading.

use std::io;

use tungstenite::{Bytes, Message, Utf8Bytes};

/// The frame boundaries in the bytes handed to tungstenite.
#[derive(Default)]
pub struct Bounds {
    /// The frame head read so far, up to its length field (the mask is only counted).
    head: [u8; 10],
    /// Bytes of the current head seen.
    have: u8,
    /// Bytes of the current head and payload not yet seen, once the head's length is known.
    left: u64,
    /// A text or binary frame without FIN was seen, and its last continuation frame not yet.
    fragmented: bool,
    /// A frame read past tungstenite whose payload has not all come.
    pub taking: Option<Box<Partial>>,
}

impl Bounds {
    /// Whether everything handed out so far forms whole frames, and no message is in pieces:
    /// then tungstenite holds no byte and no state a frame taken here would skip.
    pub fn at_message(&self) -> bool {
        self.have == 0 && self.left == 0 && !self.fragmented && self.taking.is_none()
    }

    /// How many of `room` bytes may be handed out without passing the end of the current
    /// frame: within a head, only as much as tells its length.
    pub fn limit(&self, room: usize) -> usize {
        let want = match self.have {
            _ if self.left > 0 => self.left,
            0 | 1 => u64::from(2 - self.have),
            _ => (head_len(self.head[1]) - usize::from(self.have)) as u64,
        };
        room.min(usize::try_from(want).unwrap_or(usize::MAX))
    }

    /// Follows bytes handed out: no more than [`Bounds::limit`] allowed.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                self.left -= n as u64;
                bytes = &bytes[n..];
                if self.left == 0 {
                    self.have = 0;
                }
                continue;
            }
            if usize::from(self.have) < self.head.len() {
                self.head[usize::from(self.have)] = bytes[0];
            }
            self.have += 1;
            bytes = &bytes[1..];
            if self.have >= 2 && usize::from(self.have) == head_len(self.head[1]) {
                self.end_of_head();
            }
        }
    }

    /// The head is known: what is left is its mask and the payload.
    fn end_of_head(&mut self) {
        let [first, second, ..] = self.head;
        let len = match second & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => u64::from_be_bytes([
                self.head[2],
                self.head[3],
                self.head[4],
                self.head[5],
                self.head[6],
                self.head[7],
                self.head[8],
                self.head[9],
            ]),
            n => u64::from(n),
        };
        let mask = if second & 0x80 != 0 { 4 } else { 0 };
        match first & 0x0f {
            // Text or binary: a message starts; in pieces unless FIN.
            1 | 2 => self.fragmented = first & 0x80 == 0,
            // A continuation: FIN ends the message.
            0 if first & 0x80 != 0 => self.fragmented = false,
            _ => {}
        }
        self.left = len.saturating_add(mask);
        if self.left == 0 {
            self.have = 0;
        }
    }
}

/// A frame head's length up to and including its length field, from its second byte.
fn head_len(second: u8) -> usize {
    match second & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    }
}

/// The head of a frame read here: a final, masked text or binary frame without reserved
/// bits, of at most the limit's payload bytes.
struct Head {
    text: bool,
    len: usize,
    mask: [u8; 4],
    /// The head's own length.
    size: usize,
}

/// The head at the start of `bytes`, if it is whole and of a frame read here.
fn head(bytes: &[u8], max: usize) -> Option<Head> {
    let (&first, rest) = bytes.split_first()?;
    let text = match first {
        0x81 => true,
        0x82 => false,
        _ => return None,
    };
    let (&second, rest) = rest.split_first()?;
    if second & 0x80 == 0 {
        return None;
    }
    let (len, rest) = match second & 0x7f {
        126 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            (usize::from(u16::from_be_bytes(*len)), rest)
        }
        127 => {
            let (len, rest) = rest.split_first_chunk::<8>()?;
            (usize::try_from(u64::from_be_bytes(*len)).ok()?, rest)
        }
        n => (usize::from(n), rest),
    };
    if len > max {
        return None;
    }
    let (mask, rest) = rest.split_first_chunk::<4>()?;
    Some(Head {
        text,
        len,
        mask: *mask,
        size: bytes.len() - rest.len(),
    })
}

/// A whole, final, masked text or binary frame at the start of `bytes`, of at most `max`
/// payload bytes (and valid UTF-8 if text), as its message and the bytes it took; `None` for
/// anything else, which is tungstenite's to read.
pub fn take(bytes: &[u8], max: usize) -> Option<(Message, usize)> {
    let head = head(bytes, max)?;
    let payload = bytes.get(head.size..)?.get(..head.len)?;
    let mut data = payload.to_vec();
    unmask(&mut data, head.mask);
    let msg = if head.text {
        Message::Text(Utf8Bytes::try_from(data).ok()?)
    } else {
        Message::Binary(Bytes::from(data))
    };
    Some((msg, head.size + head.len))
}

/// A frame read here whose head is at the start of `bytes` and whose payload has not all
/// come: all of `bytes` is its, and the rest is read with [`Partial::fill`]. `None` for
/// anything else (a frame that is whole is [`take`]n).
pub fn start(bytes: &[u8], max: usize) -> Option<Box<Partial>> {
    let head = head(bytes, max)?;
    let have = bytes.get(head.size..)?;
    if have.len() >= head.len {
        return None;
    }
    // Room for the whole payload is reserved, not touched: memory is used as bytes come, and
    // never more than the limit allows.
    let mut data = Vec::new();
    data.try_reserve_exact(head.len).ok()?;
    data.extend_from_slice(have);
    Some(Box::new(Partial {
        text: head.text,
        mask: head.mask,
        filled: data.len(),
        data,
        len: head.len,
    }))
}

/// A frame being read here, its payload still coming (masked, as it came).
pub struct Partial {
    text: bool,
    mask: [u8; 4],
    /// The payload so far, and room after it made ready to read into.
    data: Vec<u8>,
    /// Bytes of `data` that came.
    filled: usize,
    /// The payload's length.
    len: usize,
}

impl Partial {
    /// Reads on from `from` into the payload: `true` once it is whole, `false` if the
    /// stream ended first.
    ///
    /// # Errors
    /// As the reads: `WouldBlock` while more must come.
    pub fn fill(&mut self, from: &mut impl io::Read) -> io::Result<bool> {
        while self.filled < self.len {
            if self.filled == self.data.len() {
                // Made ready in steps that at most double what came, up to the length.
                let to = self.len.min(self.filled + self.filled.max(GROWTH));
                self.data.resize(to, 0);
            }
            match from.read(&mut self.data[self.filled..])? {
                0 => return Ok(false),
                n => self.filled += n,
            }
        }
        Ok(true)
    }

    /// The whole frame's message, once [`Partial::fill`] said so.
    ///
    /// # Errors
    /// A text frame's payload is not UTF-8 (tungstenite's own error for it).
    pub fn message(self) -> tungstenite::Result<Message> {
        let mut data = self.data;
        data.truncate(self.filled);
        unmask(&mut data, self.mask);
        Ok(if self.text {
            Message::Text(Utf8Bytes::try_from(Bytes::from(data))?)
        } else {
            Message::Binary(Bytes::from(data))
        })
    }
}

/// The least a partial payload's buffer grows by.
const GROWTH: usize = 64 * 1024;

/// Unmasks a payload 8 bytes at a time (the compiler widens it further).
fn unmask(buf: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    // The rest starts at a multiple of 8, so on a whole turn of the mask.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const TEXT: u8 = 1;
    const BINARY: u8 = 2;
    const CONTINUE: u8 = 0;
    const PING: u8 = 9;

    /// A frame as a client writes it.
    fn masked(payload: &[u8], opcode: u8, fin: bool) -> Vec<u8> {
        crate::fuzz::client_frame(opcode | if fin { 0x80 } else { 0 }, payload)
    }

    #[test]
    fn unmasking_matches_byte_by_byte_at_every_length() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let mut buf: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            unmask(&mut buf, mask);
            assert_eq!(buf, plain, "length {len}");
        }
    }

    #[test]
    fn whole_data_frames_are_taken_at_each_length_format() {
        for len in [0, 1, 125, 126, 65_535, 65_536] {
            let payload = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let mut bytes = masked(payload.as_bytes(), TEXT, true);
            let whole = bytes.len();
            bytes.extend_from_slice(b"\x81\x80next");
            let (msg, used) = take(&bytes, usize::MAX).unwrap();
            assert_eq!((msg, used), (Message::text(payload.clone()), whole));
            // Cut anywhere before its end, it is not taken.
            for cut in [0, 1, 2, whole / 2, whole - 1] {
                assert!(take(&bytes[..cut], usize::MAX).is_none(), "{len} cut {cut}");
            }
            assert!(
                len == 0 || take(&bytes, len - 1).is_none(),
                "over the limit"
            );
        }
        let bin = masked(&[0, 255, 7], BINARY, true);
        assert_eq!(
            take(&bin, 3).unwrap(),
            (Message::binary(vec![0, 255, 7]), bin.len())
        );
    }

    #[test]
    fn anything_else_is_left_to_tungstenite() {
        let unfinished = masked(b"part", TEXT, false);
        let invalid = masked(b"\xff\xfe", TEXT, true);
        let ping = masked(b"p", PING, true);
        let mut unmasked = masked(b"x", TEXT, true);
        unmasked[1] &= 0x7f;
        let mut reserved = masked(b"x", TEXT, true);
        reserved[0] |= 0x40;
        for bytes in [unfinished, invalid, ping, unmasked, reserved] {
            assert!(take(&bytes, usize::MAX).is_none(), "{bytes:?}");
        }
    }

    /// Bytes that come in pieces, nothing between them (`WouldBlock`), then the end.
    struct Pieces(std::collections::VecDeque<Vec<u8>>);

    impl io::Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.front_mut() {
                None => Ok(0),
                Some(piece) if piece.is_empty() => {
                    self.0.pop_front();
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Some(piece) => {
                    let n = buf.len().min(piece.len());
                    buf[..n].copy_from_slice(&piece[..n]);
                    piece.drain(..n);
                    if piece.is_empty() {
                        self.0.pop_front();
                    }
                    Ok(n)
                }
            }
        }
    }

    #[test]
    fn a_frame_still_coming_is_read_on_into_its_message() {
        for len in [3, 200, 70_000, 300_000] {
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let bytes = masked(&payload, TEXT, true);
            assert!(start(&bytes, usize::MAX).is_none(), "whole: take it");
            let cut = (bytes.len() / 3).max(7);
            let mut partial = start(&bytes[..cut], usize::MAX).expect("begun");
            // The rest in two pieces, a pause between them and after them.
            let rest = &bytes[cut..];
            let (one, two) = rest.split_at(rest.len() / 2);
            let mut from = Pieces(
                [one.to_vec(), Vec::new(), two.to_vec(), Vec::new()]
                    .into_iter()
                    .collect(),
            );
            let paused = partial.fill(&mut from).unwrap_err();
            assert_eq!(paused.kind(), io::ErrorKind::WouldBlock);
            assert!(partial.fill(&mut from).unwrap(), "whole");
            let msg = partial.message().unwrap();
            assert_eq!(msg, Message::text(String::from_utf8(payload).unwrap()));
            // Nothing past the frame was read.
            assert_eq!(
                from.read(&mut [0; 8]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
        }
    }

    #[test]
    fn a_frame_still_coming_ends_as_tungstenite_would_have_it() {
        let bytes = masked(b"\xff\xfe and more", TEXT, true);
        // Not UTF-8: tungstenite's own error.
        let mut partial = start(&bytes[..8], usize::MAX).unwrap();
        assert!(partial
            .fill(&mut Pieces([bytes[8..].to_vec()].into()))
            .unwrap());
        assert!(matches!(
            partial.message(),
            Err(tungstenite::Error::Utf8(_))
        ));
        // The stream ends inside it.
        let mut partial = start(&bytes[..8], usize::MAX).unwrap();
        assert!(!partial
            .fill(&mut Pieces([bytes[8..10].to_vec()].into()))
            .unwrap());
        // Over the limit, in pieces, a ping, no head yet: tungstenite's.
        assert!(start(&bytes[..8], 3).is_none());
        assert!(start(&masked(b"ping", PING, true)[..4], usize::MAX).is_none());
        assert!(start(&bytes[..3], usize::MAX).is_none());
        assert!(start(&masked(b"part", TEXT, false)[..7], usize::MAX).is_none());
    }

    /// Feeds `stream` through [`Bounds`] in the pieces its limit allows, at most `room` at
    /// once; returns where each piece ended and whether a message started there.
    fn walk(stream: &[u8], room: usize) -> Vec<(usize, bool)> {
        let mut bounds = Bounds::default();
        let mut at = 0;
        let mut marks = Vec::new();
        while at < stream.len() {
            let n = bounds.limit(room).min(stream.len() - at);
            assert!(n > 0, "the limit always lets something through");
            bounds.feed(&stream[at..at + n]);
            at += n;
            marks.push((at, bounds.at_message()));
        }
        marks
    }

    #[test]
    fn bounds_stop_at_every_frame_end_and_know_a_message_in_pieces() {
        let frames = [
            masked(b"one", TEXT, true),
            masked(&[b'a'; 300], TEXT, false),
            masked(b"", PING, true),
            masked(&[b'b'; 70_000], CONTINUE, true),
            masked(b"", BINARY, true),
        ];
        let stream = frames.concat();
        let mut ends = Vec::new();
        let mut end = 0;
        for frame in &frames {
            end += frame.len();
            ends.push(end);
        }
        for room in [1, 3, 512, usize::MAX] {
            let marks = walk(&stream, room);
            // Every frame end is a piece's end; messages start after the 1st, 4th and 5th.
            for (i, end) in ends.iter().enumerate() {
                let at = marks.iter().find(|(at, _)| at == end);
                assert_eq!(
                    at.map(|m| m.1),
                    Some(i != 1 && i != 2),
                    "frame {i}, room {room}"
                );
            }
            // Nowhere else does a message start.
            assert!(marks
                .iter()
                .all(|&(at, start)| !start || ends.contains(&at)));
        }
    }
}
