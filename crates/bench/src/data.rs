//! Blob contents from a counter-based PRNG: byte `p` of a blob is a pure function of its seed and `p`,
//! so uploads stream straight from the generator (nothing is held in memory) and downloads are checked
//! against it at any offset.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use sha2::{Digest as _, Sha256};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// How often a streamed download is compared against the generator (one byte every this many).
pub const SAMPLE_EVERY: u64 = 512;

/// splitmix64's finaliser: a good 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for a named thing: stable across runs and servers.
pub fn seed(label: &str, a: u64, b: u64) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    for byte in label.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
    }
    mix(mix(h ^ a.wrapping_mul(GOLDEN)) ^ b)
}

fn word(seed: u64, i: u64) -> u64 {
    mix(seed ^ i.wrapping_mul(GOLDEN).wrapping_add(GOLDEN))
}

pub fn byte_at(seed: u64, pos: u64) -> u8 {
    word(seed, pos / 8).to_le_bytes()[(pos % 8) as usize]
}

/// Fills `buf` with the blob's bytes `[offset, offset + buf.len())`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let head = (offset.next_multiple_of(8) - offset).min(buf.len() as u64) as usize;
    let (first, rest) = buf.split_at_mut(head);
    for (k, b) in first.iter_mut().enumerate() {
        *b = byte_at(seed, offset + k as u64);
    }
    let mut i = (offset + head as u64) / 8;
    let mut words = rest.chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&word(seed, i).to_le_bytes());
        i += 1;
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let n = tail.len();
        tail.copy_from_slice(&word(seed, i).to_le_bytes()[..n]);
    }
}

pub fn bytes(seed: u64, len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    fill(seed, 0, &mut v);
    Bytes::from(v)
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Checks the bytes at every `SAMPLE_EVERY`-th position of a received piece that starts at `offset`.
pub fn sample_ok(seed: u64, offset: u64, piece: &[u8]) -> bool {
    let end = offset + piece.len() as u64;
    let mut p = offset.next_multiple_of(SAMPLE_EVERY);
    while p < end {
        if piece[(p - offset) as usize] != byte_at(seed, p) {
            return false;
        }
        p += SAMPLE_EVERY;
    }
    true
}

/// A blob the bench pushes and pulls: its contents come from `seed`.
#[derive(Clone, Debug)]
pub struct BlobSpec {
    pub seed: u64,
    pub size: u64,
    pub digest: String,
}

impl BlobSpec {
    /// Computes the digest (one pass over generated data, 1 MiB at a time): call off the async runtime.
    pub fn compute(seed: u64, size: u64) -> Self {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0;
        while pos < size {
            let n = (size - pos).min(buf.len() as u64) as usize;
            fill(seed, pos, &mut buf[..n]);
            h.update(&buf[..n]);
            pos += n as u64;
        }
        BlobSpec { seed, size, digest: format!("sha256:{}", hex::encode(h.finalize())) }
    }
}

/// A request body that generates bytes `[start, end)` of a blob as it is sent, 1 MiB at a time.
/// `sized` bodies announce their length (Content-Length); unsized ones go out chunked, as docker's
/// streamed PATCH does.
#[derive(Debug)]
pub struct PrngBody {
    seed: u64,
    pos: u64,
    end: u64,
    sized: bool,
}

impl PrngBody {
    pub fn sized(seed: u64, start: u64, end: u64) -> Self {
        PrngBody { seed, pos: start, end, sized: true }
    }
    pub fn streamed(seed: u64, start: u64, end: u64) -> Self {
        PrngBody { seed, pos: start, end, sized: false }
    }
}

const BODY_CHUNK: u64 = 1 << 20;

impl Body for PrngBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.pos >= this.end {
            return Poll::Ready(None);
        }
        let n = (this.end - this.pos).min(BODY_CHUNK);
        let mut v = vec![0u8; n as usize];
        fill(this.seed, this.pos, &mut v);
        this.pos += n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(v)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        if self.sized {
            SizeHint::with_exact(self.end - self.pos)
        } else {
            SizeHint::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_at_any_offset_matches_byte_at() {
        let seed = seed("t", 1, 2);
        for offset in [0u64, 1, 7, 8, 13, 4096] {
            for len in [0usize, 1, 5, 8, 9, 100] {
                let mut buf = vec![0u8; len];
                fill(seed, offset, &mut buf);
                for (k, b) in buf.iter().enumerate() {
                    assert_eq!(*b, byte_at(seed, offset + k as u64), "offset {offset} len {len} k {k}");
                }
            }
        }
    }

    #[test]
    fn pieces_concatenate_to_the_whole() {
        let seed = seed("t", 3, 4);
        let whole = bytes(seed, 10_000);
        let mut pieces = Vec::new();
        for (a, b) in [(0u64, 3u64), (3, 4096), (4096, 9999), (9999, 10_000)] {
            let mut v = vec![0u8; (b - a) as usize];
            fill(seed, a, &mut v);
            assert!(sample_ok(seed, a, &v));
            pieces.extend_from_slice(&v);
        }
        assert_eq!(&whole[..], &pieces[..]);
        assert_eq!(BlobSpec::compute(seed, 10_000).digest, sha256_digest(&whole));
    }

    #[test]
    fn sampling_catches_a_wrong_byte() {
        let seed = seed("t", 5, 6);
        let mut v = bytes(seed, 4096).to_vec();
        v[1024] ^= 1;
        assert!(!sample_ok(seed, 0, &v));
    }
}
