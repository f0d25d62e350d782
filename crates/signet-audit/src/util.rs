//! Small helpers: hex, randomness, UUID v4, wall clock.
//!
//! Guarantees: randomness comes from the operating system (getrandom); a failure to
//! obtain it aborts the operation rather than returning weak bytes. Entry ids draw on a
//! per-thread pool of OS random bytes (one `getrandom` per 32 ids); no byte is used twice.

use std::time::{SystemTime, UNIX_EPOCH};

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    prefixed_hex("", bytes)
}

/// Decodes lowercase or uppercase hex; `None` if malformed.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let h = s.as_bytes();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    h.chunks_exact(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// True for exactly 64 lowercase hex characters.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Fills `buf` from the OS random source.
#[allow(
    clippy::panic,
    reason = "no safe fallback exists without OS randomness"
)]
pub fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        // Without an OS random source no key or id can be made safely.
        panic!("operating system random source failed: {e}");
    }
}

/// Bytes of OS randomness each thread fetches at once for [`new_uuid_v4`].
const ID_POOL: usize = 512;

thread_local! {
    /// OS random bytes not yet used, and how many of them are left (from the end).
    static ID_RANDOM: std::cell::RefCell<([u8; ID_POOL], usize)> =
        const { std::cell::RefCell::new(([0; ID_POOL], 0)) };
}

/// Sixteen bytes from the OS random source, taken from a per-thread pool that is
/// refilled (one `getrandom` call per 32 ids) and never hands out a byte twice.
fn id_random() -> [u8; 16] {
    ID_RANDOM.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (pool, left) = &mut *guard;
        if *left < 16 {
            fill_random(pool);
            *left = ID_POOL;
        }
        let start = ID_POOL - *left;
        let mut b = [0u8; 16];
        b.copy_from_slice(&pool[start..start + 16]);
        // Used bytes do not stay in memory.
        pool[start..start + 16].fill(0);
        *left -= 16;
        b
    })
}

/// A random RFC 4122 version 4 UUID, lowercase hyphenated.
pub fn new_uuid_v4() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = id_random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 15) as usize] as char);
    }
    s
}

/// Appends the decimal digits of `n` to `out` (no `fmt`: this runs for every entry).
pub fn push_decimal(n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The decimal digits of `n`, with a minus sign when `negative`.
pub fn decimal(n: u64, negative: bool) -> String {
    let mut out = Vec::with_capacity(21);
    if negative {
        out.push(b'-');
    }
    push_decimal(n, &mut out);
    // Only ASCII digits and '-' were written.
    String::from_utf8(out).unwrap_or_default()
}

/// `prefix` followed by the lowercase hex of `bytes`, in one allocation.
pub fn prefixed_hex(prefix: &str, bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(prefix.len() + bytes.len() * 2);
    s.push_str(prefix);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Wall-clock nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(from_hex("00abFF"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert!(is_hex64(&"a".repeat(64)));
        assert!(!is_hex64(&"A".repeat(64)));
    }

    #[test]
    fn uuid_shape() {
        let u = new_uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, new_uuid_v4());
        // Well past one refill of the pool: every id distinct, every one a v4 UUID.
        let ids: std::collections::HashSet<String> = (0..200).map(|_| new_uuid_v4()).collect();
        assert_eq!(ids.len(), 200);
        for u in &ids {
            let groups: Vec<usize> = u.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{u}");
            assert!(
                u.bytes()
                    .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn decimals_print_as_rust_prints_them() {
        for n in [0u64, 7, 10, 301, 1_795_314_860_257_604_513, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(n, &mut out);
            assert_eq!(out, n.to_string().into_bytes());
            assert_eq!(decimal(n, false), n.to_string());
            assert_eq!(decimal(n, true), format!("-{n}"));
        }
    }

    #[test]
    fn prefixed_hex_is_prefix_then_hex() {
        assert_eq!(prefixed_hex("sha256:", &[0x01, 0xfe]), "sha256:01fe");
        assert_eq!(prefixed_hex("", &[]), "");
    }
}
