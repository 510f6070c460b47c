//! Sealing what the follower and the proxy service's replicas say to each other: encrypted and
//! authenticated with a key only they hold.
//!
//! The control network is an overlay any container may join (it must be attachable: the
//! follower is a container), and Swarm's own encryption of an overlay (IPsec) needs kernel
//! support that not every node has (the test bed's kernel carries no traffic over an encrypted
//! overlay between nodes). So the two ends encrypt and authenticate every message themselves,
//! with a 256-bit key the follower makes and docker flow gives the replicas as a Swarm secret:
//! a container on the network that lacks the key can neither read the state (every project's
//! config and records), nor post a report, nor, by taking the follower's name, serve a replica
//! a config (the replica refuses what does not open with the key).
//!
//! Written here because the helper is std only: SHA-256 (FIPS 180-4), HMAC (RFC 2104) and
//! ChaCha20 (RFC 8439), each checked against its standard's test vectors below. A sealed
//! message is `nonce (12 bytes) ‖ ChaCha20(ciphertext) ‖ HMAC-SHA256 tag (32 bytes)`
//! (encrypt-then-MAC, with keys derived from the shared one for each use), the tag covering a
//! context that says what the message is for, so that no message passes for another kind (a
//! report for a state, or the state for one request for the answer to another).

use std::io::Read;
use std::path::Path;

/// The shared key's length, in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 32;

pub type Key = [u8; KEY_LEN];

/// `len` bytes from the kernel's random source.
pub fn random(len: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(out)
}

/// A new key, as the hex text kept in a file.
pub fn new_key_text() -> Result<String, String> {
    Ok(hex(&random(KEY_LEN)?))
}

/// The key written in `path` (64 hex digits, surrounding space allowed).
pub fn read_key(path: &Path) -> Result<Key, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_key(text.trim()).ok_or_else(|| format!("{}: not a key of 64 hex digits", path.display()))
}

pub fn parse_key(text: &str) -> Option<Key> {
    if text.len() != KEY_LEN * 2 || !text.is_ascii() {
        return None;
    }
    let mut key = [0; KEY_LEN];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// A short public name for a key (its hash's first 12 hex digits): which key, not the key.
pub fn key_id(key: &Key) -> String {
    hex(&sha256(&[b"docker-flow control key id", key])[..6])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `plain`, encrypted and authenticated for `context`.
pub fn seal(key: &Key, context: &[u8], plain: &[u8]) -> Result<Vec<u8>, String> {
    let nonce: [u8; NONCE_LEN] = random(NONCE_LEN)?
        .try_into()
        .map_err(|_| "short random read".to_string())?;
    let mut out = nonce.to_vec();
    let mut body = plain.to_vec();
    chacha20(&derive(key, b"encrypt"), &nonce, 1, &mut body);
    out.extend(&body);
    let tag = tag(key, context, &out);
    out.extend(tag);
    Ok(out)
}

/// What `sealed` holds, if it was sealed with `key` for `context`; None for anything else.
pub fn open(key: &Key, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (signed, given) = sealed.split_at(sealed.len() - TAG_LEN);
    let want = tag(key, context, signed);
    // Constant time: how far a forged tag matched must not show in how long it took.
    if want
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        != 0
    {
        return None;
    }
    let (nonce, body) = signed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let mut plain = body.to_vec();
    chacha20(&derive(key, b"encrypt"), &nonce, 1, &mut plain);
    Some(plain)
}

fn tag(key: &Key, context: &[u8], signed: &[u8]) -> [u8; 32] {
    let len = (context.len() as u64).to_be_bytes();
    hmac(&derive(key, b"authenticate"), &[&len, context, signed])
}

/// A key for one use, derived from the shared one.
fn derive(key: &Key, purpose: &[u8]) -> Key {
    hmac(key, &[b"docker-flow control ", purpose])
}

/// HMAC-SHA256 of the concatenated `parts`.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(&[key]));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let mut inner_parts: Vec<&[u8]> = vec![&inner_pad];
    inner_parts.extend(parts);
    let inner = sha256(&inner_parts);
    sha256(&[&outer_pad, &inner])
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of the concatenated `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut data: Vec<u8> = parts.concat();
    let bits = (data.len() as u64).wrapping_mul(8);
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend(bits.to_be_bytes());
    for block in data.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// XORs `data` with ChaCha20's key stream for `key` and `nonce`, from block `counter`.
fn chacha20(key: &Key, nonce: &[u8; NONCE_LEN], counter: u32, data: &mut [u8]) {
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&[0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
    for i in 0..8 {
        state[4 + i] = word(&key[4 * i..]);
    }
    for i in 0..3 {
        state[13 + i] = word(&nonce[4 * i..]);
    }
    for (n, chunk) in data.chunks_mut(64).enumerate() {
        state[12] = counter.wrapping_add(n as u32);
        let mut x = state;
        for _ in 0..10 {
            for [a, b, c, d] in [
                [0, 4, 8, 12],
                [1, 5, 9, 13],
                [2, 6, 10, 14],
                [3, 7, 11, 15],
                [0, 5, 10, 15],
                [1, 6, 11, 12],
                [2, 7, 8, 13],
                [3, 4, 9, 14],
            ] {
                x[a] = x[a].wrapping_add(x[b]);
                x[d] = (x[d] ^ x[a]).rotate_left(16);
                x[c] = x[c].wrapping_add(x[d]);
                x[b] = (x[b] ^ x[c]).rotate_left(12);
                x[a] = x[a].wrapping_add(x[b]);
                x[d] = (x[d] ^ x[a]).rotate_left(8);
                x[c] = x[c].wrapping_add(x[d]);
                x[b] = (x[b] ^ x[c]).rotate_left(7);
            }
        }
        let mut stream = [0u8; 64];
        for i in 0..16 {
            stream[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(state[i]).to_le_bytes());
        }
        for (byte, k) in chunk.iter_mut().zip(stream) {
            *byte ^= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standards_vectors() {
        assert_eq!(
            hex(&sha256(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkl",
                b"jklmklmnlmnomnopnopq"
            ])),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 2 and 6 (a key longer than a block).
        assert_eq!(
            hex(&hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn chacha20_matches_rfc_8439() {
        // Section 2.4.2.
        let key: Key = std::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let mut text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        chacha20(&key, &nonce, 1, &mut text);
        assert_eq!(
            hex(&text),
            "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d"
        );
    }

    #[test]
    fn a_sealed_message_opens_only_with_its_key_and_context_and_unchanged() {
        let key = parse_key(&new_key_text().unwrap()).unwrap();
        let sealed = seal(&key, b"report", b"hash abc\n").unwrap();
        assert_eq!(open(&key, b"report", &sealed).unwrap(), b"hash abc\n");
        assert!(
            !sealed.windows(3).any(|w| w == b"abc"),
            "the text must not show"
        );
        assert_eq!(open(&key, b"state", &sealed), None, "another context");
        let other = parse_key(&new_key_text().unwrap()).unwrap();
        assert_eq!(open(&other, b"report", &sealed), None, "another key");
        for i in [0, 12, sealed.len() - 1] {
            let mut changed = sealed.clone();
            changed[i] ^= 1;
            assert_eq!(open(&key, b"report", &changed), None, "byte {i} changed");
        }
        assert_eq!(open(&key, b"report", &sealed[..20]), None);
        assert_ne!(
            seal(&key, b"report", b"x").unwrap(),
            seal(&key, b"report", b"x").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(key_id(&key).len(), 12);
        assert_eq!(parse_key("zz"), None);
    }
}
