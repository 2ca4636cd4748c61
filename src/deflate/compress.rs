//! The sending side: one message in, one compressed payload out (RFC 7692, section 7.2.1).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tungstenite::Bytes;
use zlib_rs::{Deflate, DeflateConfig, DeflateFlush};

use super::Params;
use tungstenite::protocol::Role;

/// The four bytes every sync-flushed deflate block ends with, which the sender strips and the
/// receiver puts back.
pub(super) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib's default level, as browsers, Node's `ws` and Python's `websockets` compress.
const LEVEL: i32 = 6;

/// zlib's memory level, as Python's `websockets` sets it. It sizes the buffer of pending
/// symbols, which zlib-rs clears for every message: 48 KiB at zlib's default (8), more work
/// than compressing a small message; 6 KiB at 5, for the same bytes on the wire within 0.5%
/// on our benchmarks. (zlib-rs's hash table is 128 KiB whatever the level.)
const MEM_LEVEL: i32 = 5;

/// The compressed messages of the largest size kept between messages (scratch space).
const KEEP: usize = 64 * 1024;

/// A compressor that has sent nothing for this long gives up its zlib state (about 160 KiB,
/// most of it zlib-rs's hash table), keeping only the window's bytes to start the next
/// state with. A connection that sends after a quiet spell at least as long gives it up again
/// right after that message: one message now and then costs a state made and dropped, not
/// 160 KiB for as long as the connection lasts.
pub const QUIET: Duration = Duration::from_secs(1);

/// Messages from this size on are sent as they are when compressing does not pay or their
/// bytes look random: they are where it costs (about 30 µs per KiB of random bytes here),
/// and where it can be seen not to.
/// Smaller ones are always compressed, so that their context carries over.
const LARGE: usize = 4096;

/// After a large message that did not pay (it shrank by less than a sixteenth), the next ones
/// go out without trying: one, then twice as many each time another did not pay, up to this
/// many. A large message that pays starts over. Encrypted, compressed or random payloads (a
/// bridged ssh session, images) then cost about what they cost without compression.
const MAX_SKIP: u32 = 256;

/// A large message whose sampled bytes carry more than this many bits each (order-0 entropy)
/// is not tried at all: random, encrypted and already-compressed bytes sample at 7.8 (of 8);
/// text and JSON at 4 to 5, base64 at 6, arrays of floats at about 7.2.
const RANDOM_BITS: f64 = 7.5;

/// How much of a large message is sampled: four stretches of this many bytes, spread over it.
const SAMPLE: usize = 256;

/// Whether `data` looks like bytes deflate cannot shrink, from a sample of 1 KiB (about a
/// microsecond, against about 2 ms to try compressing 64 KiB of them).
fn looks_random(data: &[u8]) -> bool {
    let mut counts = [0u32; 256];
    let step = data.len() / 4;
    for i in 0..4 {
        for &b in data.iter().skip(i * step).take(SAMPLE) {
            counts[usize::from(b)] += 1;
        }
    }
    let n = f64::from(counts.iter().sum::<u32>());
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits > RANDOM_BITS
}

/// Compresses one side's messages. zlib's state is made on the first message and dropped
/// after a quiet while ([`QUIET`]), so an idle connection costs little more than the bytes of
/// its window.
pub struct Compressor {
    z: Option<Deflate>,
    /// With context takeover: the last bytes compressed since the window was last emptied,
    /// at most a window's worth once trimmed. A new zlib state starts with them as its
    /// dictionary, which is what the dropped one held: the peer's window has them too.
    history: Vec<u8>,
    /// When the last message was compressed.
    last: Option<Instant>,
    /// No context takeover: every message starts with an empty window.
    reset: bool,
    window_bits: u8,
    /// Where zlib writes: zeroed when it grows, not for every message.
    buf: Vec<u8>,
    /// How many messages the last large one that did not pay made us skip, and how many of
    /// those are left.
    skip: u32,
    left: u32,
}

impl Compressor {
    /// The compressor for `role`'s side of a connection that agreed on `params`; `None` when
    /// the agreed window is 8 bits, which zlib cannot produce for raw deflate (RFC 7692 lets
    /// such a sender send its messages uncompressed).
    pub fn new(params: &Params, role: Role) -> Option<Compressor> {
        let (reset, window_bits) = params.sending(role);
        (window_bits >= 9).then_some(Compressor {
            z: None,
            history: Vec::new(),
            last: None,
            reset,
            window_bits,
            buf: Vec::new(),
            skip: 0,
            left: 0,
        })
    }

    /// The compressed payload of a message (the whole of it, not yet framed), or `None` for a
    /// message that goes out as it is: an empty one, and a large one that compressing would
    /// not shrink (or that comes while such messages are skipped).
    pub fn compress(&mut self, data: &[u8]) -> Option<Bytes> {
        if data.is_empty() {
            return None;
        }
        if self.left > 0 {
            self.left -= 1;
            return None;
        }
        // Not compressed, the message is in neither window: nothing to reset.
        if data.len() >= LARGE && looks_random(data) {
            return None;
        }
        let now = Instant::now();
        let quiet = self.last.is_none_or(|t| now.duration_since(t) >= QUIET);
        self.last = Some(now);
        let z = match &mut self.z {
            Some(z) => z,
            None => self.z.insert(fresh_state(self.window_bits, &self.history)),
        };
        if self.buf.len() < 256 {
            self.buf.resize(4096, 0);
        }
        let (mut taken, mut made) = (0, 0);
        loop {
            if made == self.buf.len() {
                let len = self.buf.len() * 2;
                self.buf.resize(len, 0);
            }
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z.compress(
                &data[taken..],
                &mut self.buf[made..],
                DeflateFlush::SyncFlush,
            );
            if status.is_err() {
                // Not expected (the stream is ours and never finished). Starting afresh is
                // always safe: the peer's window only holds what it already has.
                self.forget();
                return None;
            }
            taken += usize::try_from(z.total_in() - in0).unwrap_or(0);
            made += usize::try_from(z.total_out() - out0).unwrap_or(0);
            // A sync flush that took all the input and left room has written everything;
            // without room left, zlib must be called again.
            if taken >= data.len() && made < self.buf.len() {
                break;
            }
        }
        if self.buf[..made].ends_with(&TAIL) {
            made -= TAIL.len();
        }
        if data.len() >= LARGE {
            if made + made / 16 < data.len() {
                self.skip = 0;
            } else {
                self.skip = (self.skip * 2).clamp(1, MAX_SKIP);
                self.left = self.skip;
            }
            if made >= data.len() {
                // Sent as it is, the message is not in the peer's window: nor may it be in
                // ours.
                self.forget();
                return None;
            }
        }
        let out = Bytes::copy_from_slice(&self.buf[..made]);
        if self.reset {
            z.reset();
        } else {
            self.remember(data);
        }
        if self.buf.len() > KEEP {
            self.buf = Vec::new();
        }
        if quiet {
            self.shed();
        }
        Some(out)
    }

    /// Gives up the zlib state and the scratch space if nothing was compressed for
    /// [`QUIET`] (a server calls this now and then for every client). Returns whether a
    /// state is still held.
    pub fn shed_if_quiet(&mut self, now: Instant) -> bool {
        if self.z.is_some() && self.last.is_some_and(|t| now.duration_since(t) >= QUIET) {
            self.shed();
        }
        self.z.is_some()
    }

    /// Gives up the zlib state (to the thread's spares) and the scratch space; the next
    /// message takes a state again.
    fn shed(&mut self) {
        if let Some(z) = self.z.take() {
            SPARES.with_borrow_mut(|spares| {
                if spares.len() < MAX_SPARES {
                    spares.push((self.window_bits, z));
                }
            });
        }
        self.buf = Vec::new();
        let window = 1usize << self.window_bits;
        if self.history.len() > window {
            self.history.drain(..self.history.len() - window);
        }
        self.history.shrink_to_fit();
    }

    /// Empties the window: the next message refers to nothing before it.
    fn forget(&mut self) {
        if let Some(z) = &mut self.z {
            z.reset();
        }
        self.history = Vec::new();
    }

    /// Adds a compressed message to the window's bytes: they may grow to twice the window
    /// before the oldest are let go, so that small messages do not move it every time.
    fn remember(&mut self, data: &[u8]) {
        let window = 1usize << self.window_bits;
        if data.len() >= window {
            self.history.clear();
            self.history.extend_from_slice(&data[data.len() - window..]);
            return;
        }
        if self.history.len() + data.len() > 2 * window {
            self.history
                .drain(..self.history.len() + data.len() - window);
        }
        self.history.extend_from_slice(data);
    }
}

/// zlib states given up by this thread's quiet compressors, with their window bits, for the
/// next ones that need one: made and freed for every such message, 160 KiB states would
/// scatter the heap between the small allocations of the connections around them.
const MAX_SPARES: usize = 4;

thread_local! {
    static SPARES: RefCell<Vec<(u8, Deflate)>> = const { RefCell::new(Vec::new()) };
}

/// A zlib state for raw deflate with `window_bits` (a spare one reset, or a new one), its
/// window primed with `history`.
fn fresh_state(window_bits: u8, history: &[u8]) -> Deflate {
    let spare = SPARES.with_borrow_mut(|spares| {
        let i = spares.iter().position(|(bits, _)| *bits == window_bits)?;
        Some(spares.swap_remove(i).1)
    });
    let mut z = match spare {
        Some(mut z) => {
            z.reset();
            z
        }
        None => Deflate::new_with_config(DeflateConfig {
            level: LEVEL,
            // Negative: raw deflate, without zlib's header and checksum.
            window_bits: -i32::from(window_bits),
            mem_level: MEM_LEVEL,
            ..DeflateConfig::default()
        }),
    };
    if !history.is_empty() {
        let window = 1usize << window_bits;
        let start = history.len().saturating_sub(window);
        // Fails only for a stream already started, which a fresh one is not.
        let _ = z.set_dictionary(&history[start..]);
    }
    z
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

    /// JSON-like messages that share most of their bytes with the ones before.
    fn trades(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":{i},"type":"trade","symbol":"BTC-USD","price":"{}.{}","size":"0.{}"}}"#,
                    43_000 + i * 7 % 500,
                    i * 13 % 100,
                    i * 31 % 1000
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn a_state_given_up_between_messages_starts_where_it_left_off() {
        // A server's window (12 bits): the history it keeps is what its peer inflates with.
        let params = Params {
            server_max_window_bits: Some(12),
            ..Params::default()
        };
        let mut kept = Compressor::new(&params, Role::Server).unwrap();
        let mut shed = Compressor::new(&params, Role::Server).unwrap();
        let mut d = Decompress::new_with_window_bits(false, 15);
        let (mut kept_bytes, mut shed_bytes) = (0, 0);
        // Past the window, so that the history is trimmed as it goes.
        for (i, msg) in trades(400).iter().enumerate() {
            kept_bytes += kept.compress(msg).unwrap().len();
            let payload = shed.compress(msg).unwrap();
            shed_bytes += payload.len();
            assert_eq!(inflate(&mut d, &payload), *msg, "message {i}");
            if i % 3 == 0 {
                shed.shed();
                assert!(shed.z.is_none() && shed.history.len() <= 4096);
            }
        }
        // The same bytes on the wire, within 1 %.
        assert!(
            shed_bytes * 100 <= kept_bytes * 101,
            "{shed_bytes} against {kept_bytes}"
        );
    }

    #[test]
    fn a_quiet_compressor_gives_up_its_state_and_a_busy_one_keeps_it() {
        let params = Params::default();
        let mut c = Compressor::new(&params, Role::Server).unwrap();
        let start = Instant::now();
        // The first message comes after silence: the state goes right after it.
        c.compress(b"first").unwrap();
        assert!(c.z.is_none());
        // The next one soon after: kept, and kept while not quiet for long.
        c.compress(b"second").unwrap();
        assert!(c.z.is_some());
        let last = c.last.unwrap();
        assert!(c.shed_if_quiet(last + QUIET / 2));
        assert!(!c.shed_if_quiet(last + QUIET));
        assert!(c.z.is_none() && c.buf.is_empty());
        assert!(
            start.elapsed() < QUIET,
            "the test itself was too slow to tell"
        );
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

    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn small_incompressible_messages_are_compressed_all_the_same() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let mut d = Decompress::new_with_window_bits(false, 15);
        for seed in 1..20 {
            let noise = noise(LARGE - 1, seed);
            let out = c.compress(&noise).unwrap();
            assert!(out.len() < noise.len() + 64);
            assert_eq!(inflate(&mut d, &out), noise);
        }
    }

    /// Random bytes that do not sample as random: zeros where [`looks_random`] looks.
    fn disguised_noise(len: usize, seed: u32) -> Vec<u8> {
        let mut data = noise(len, seed);
        for i in 0..4 {
            data[i * (len / 4)..][..SAMPLE].fill(0);
        }
        data
    }

    /// The message went out as it was, or compressed by less than a sixteenth.
    fn did_not_pay(out: Option<Bytes>, len: usize) -> bool {
        out.is_none_or(|out| out.len() + out.len() / 16 >= len)
    }

    #[test]
    fn random_looking_bytes_are_told_from_the_rest() {
        assert!(looks_random(&noise(65_536, 9)));
        assert!(looks_random(&noise(LARGE, 9)));
        assert!(!looks_random(&disguised_noise(65_536, 9)));
        assert!(!looks_random(
            &b"{\"op\":\"subscribe\",\"ch\":42}".repeat(2000)
        ));
        let floats: Vec<u8> = (0..16_384u16)
            .flat_map(|i| (f32::from(i) / 100.0).sin().to_le_bytes())
            .collect();
        assert!(!looks_random(&floats));
        // Every byte value the same number of times: 8 bits, but deflate still finds runs.
        let ramp: Vec<u8> = (0..=255u8).cycle().take(65_536).collect();
        assert!(looks_random(&ramp), "a ramp is the known blind spot");
    }

    #[test]
    fn random_large_messages_are_not_tried_and_leave_the_window_as_it_was() {
        let mut c = Compressor::new(&Params::default(), Role::Client).unwrap();
        let mut d = Decompress::new_with_window_bits(false, 15);
        let text: Vec<u8> = (0..1500)
            .flat_map(|i| format!("{i} ").into_bytes())
            .collect();
        let first = c.compress(&text).unwrap();
        assert_eq!(inflate(&mut d, &first), text);
        for seed in 1..50 {
            assert_eq!(c.compress(&noise(100_000, seed)), None);
        }
        // Nothing was skipped for them, and the window still holds the text.
        let again = c.compress(&text).unwrap();
        assert!(
            again.len() < first.len() / 10,
            "{} {}",
            again.len(),
            first.len()
        );
        assert_eq!(inflate(&mut d, &again), text);
    }

    #[test]
    fn large_incompressible_messages_go_as_they_are_and_then_are_not_tried_for_a_while() {
        let mut c = Compressor::new(&Params::default(), Role::Client).unwrap();
        let mut d = Decompress::new_with_window_bits(false, 15);
        let text = b"Hello, Hello, Hello, WebSocket compression!".repeat(200);
        let first = c.compress(&text).unwrap();
        assert_eq!(inflate(&mut d, &first), text);
        // Tried once, does not pay; the next one is not tried.
        let noisy = disguised_noise(100_000, 1);
        let out = c.compress(&noisy);
        assert!(did_not_pay(out.clone(), noisy.len()));
        if let Some(out) = out {
            assert_eq!(inflate(&mut d, &out), noisy);
        }
        assert_eq!(c.compress(&text), None);
        // Tried again: another that does not pay makes the next two go as they are.
        let noisy = disguised_noise(100_000, 2);
        let out = c.compress(&noisy);
        assert!(did_not_pay(out.clone(), noisy.len()));
        if let Some(out) = out {
            assert_eq!(inflate(&mut d, &out), noisy);
        }
        assert_eq!((c.compress(&text), c.compress(&text)), (None, None));
        // One that pays is compressed, with the window both sides have, and starts over.
        let again = c.compress(&text).unwrap();
        assert_eq!(inflate(&mut d, &again), text);
        assert!(c.compress(&text).is_some());
        // Small messages are always tried.
        for seed in 0..10 {
            let noisy = disguised_noise(100_000, 3 + seed);
            if let Some(out) = c.compress(&noisy) {
                assert!(did_not_pay(Some(out.clone()), noisy.len()));
                assert_eq!(inflate(&mut d, &out), noisy);
            }
        }
        assert!(c.compress(b"small").is_some());
        let mut skipped = 0;
        while c.compress(&text).is_none() {
            skipped += 1;
        }
        assert!(skipped <= MAX_SKIP, "{skipped}");
    }

    #[test]
    fn a_message_that_barely_shrinks_is_sent_compressed_but_counts_as_not_paying() {
        let mut c = Compressor::new(&Params::default(), Role::Server).unwrap();
        let mut d = Decompress::new_with_window_bits(false, 15);
        // Random bytes with a run of zeros: shrinks by a few percent.
        let mut data = noise(64_000, 5);
        data[..2000].fill(0);
        let out = c.compress(&data).unwrap();
        assert!(out.len() < data.len() && out.len() + out.len() / 16 >= data.len());
        assert_eq!(inflate(&mut d, &out), data);
        assert_eq!(c.compress(&data), None);
        assert!(c.compress(&data).is_some());
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
