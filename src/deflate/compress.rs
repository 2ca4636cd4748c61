//! The sending side: one message in, one compressed payload out (RFC 7692, section 7.2.1).

use flate2::{Compress, Compression, FlushCompress};
use tungstenite::Bytes;

use super::Params;
use tungstenite::protocol::Role;

/// The four bytes every sync-flushed deflate block ends with, which the sender strips and the
/// receiver puts back.
pub(super) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses one side's messages. The zlib state (about 256 KiB with a 32 KiB window) is
/// made on the first message, so an idle connection costs nothing.
pub struct Compressor {
    z: Option<Compress>,
    /// No context takeover: every message starts with an empty window.
    reset: bool,
    window_bits: u8,
}

impl Compressor {
    /// The compressor for `role`'s side of a connection that agreed on `params`; `None` when
    /// the agreed window is 8 bits, which zlib cannot produce for raw deflate (RFC 7692 lets
    /// such a sender send its messages uncompressed).
    pub fn new(params: &Params, role: Role) -> Option<Compressor> {
        let (reset, window_bits) = params.sending(role);
        (window_bits >= 9).then_some(Compressor {
            z: None,
            reset,
            window_bits,
        })
    }

    /// The compressed payload of a message (the whole of it, not yet framed), or `None` for an
    /// empty message, which goes out as it is.
    pub fn compress(&mut self, data: &[u8]) -> Option<Bytes> {
        if data.is_empty() {
            return None;
        }
        let bits = self.window_bits;
        let z = self.z.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, bits)
        });
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let start = z.total_in();
        let taken = |z: &Compress| usize::try_from(z.total_in() - start).unwrap_or(usize::MAX);
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let input = data.get(taken(z)..).unwrap_or_default();
            if z.compress_vec(input, &mut out, FlushCompress::Sync)
                .is_err()
            {
                // Not expected (the stream is ours and never finished). Starting afresh is
                // always safe: the peer's window only holds what it already has.
                z.reset();
                return None;
            }
            // A sync flush that took all the input and left room has written everything;
            // without room left, zlib must be called again.
            if taken(z) >= data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.reset {
            z.reset();
        }
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn messages_round_trip_and_context_carries_over() {
        let params = Params::default();
        let mut c = Compressor::new(&params, Role::Client).unwrap();
        let mut d = Decompress::new_with_window_bits(false, 15);
        let text = b"Hello, Hello, Hello, WebSocket compression!".repeat(20);
        let first = c.compress(&text).unwrap();
        assert!(first.len() < text.len() / 4, "{}", first.len());
        assert_eq!(inflate(&mut d, &first), text);
        // The second copy refers back to the first: a few bytes.
        let second = c.compress(&text).unwrap();
        assert!(second.len() < 16, "{}", second.len());
        assert_eq!(inflate(&mut d, &second), text);
        assert_eq!(c.compress(b""), None);
    }

    #[test]
    fn no_context_takeover_starts_afresh() {
        let params = Params {
            client_no_context_takeover: true,
            client_max_window_bits: Some(9),
            ..Params::default()
        };
        let mut c = Compressor::new(&params, Role::Client).unwrap();
        let text = b"0123456789abcdef".repeat(10);
        let first = c.compress(&text).unwrap();
        let second = c.compress(&text).unwrap();
        assert_eq!(first, second);
        // Each one inflates on its own.
        let mut d = Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate(&mut d, &second), text);
    }

    #[test]
    fn incompressible_data_grows_a_little_and_survives() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let out = c.compress(&noise).unwrap();
        assert!(out.len() < noise.len() + noise.len() / 100 + 64);
        let mut d = Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate(&mut d, &out), noise);
    }

    #[test]
    fn an_8_bit_window_sends_uncompressed() {
        let params = Params {
            server_max_window_bits: Some(8),
            ..Params::default()
        };
        assert!(Compressor::new(&params, Role::Server).is_none());
        assert!(Compressor::new(&params, Role::Client).is_some());
    }
}
