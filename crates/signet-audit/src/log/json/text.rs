//! String-literal primitives shared by the parser, the token visitor and the writer.
//!
//! Guarantees: [`skip_plain`] finds exactly the bytes a string literal must escape (as
//! a byte loop would), eight at a time; [`decode_escaped`] decodes the content of a
//! literal the parser has validated, and errs (never panics) on anything else.

/// Index of the first byte at or after `i` that is `"`, `\\` or a control character
/// (below 0x20), or `s.len()`: the plain run of a string, eight bytes at a time. Each
/// test is the classic "has a byte below n" word trick, exact for the lowest matching
/// byte (borrows only propagate upwards), and bytes of 0x80 and above never match.
pub(super) fn skip_plain(s: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = ONES * b'"' as u64;
    const BACKSLASH: u64 = ONES * b'\\' as u64;
    while let Some(chunk) = s.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
        let hit = below(w, 0x20) | below(w ^ QUOTE, 1) | below(w ^ BACKSLASH, 1);
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = s.get(i) {
        if matches!(b, b'"' | b'\\' | 0..=0x1f) {
            break;
        }
        i += 1;
    }
    i
}

/// Decodes the content of a string literal already validated by `string_raw`.
pub(super) fn decode_escaped(raw: &[u8]) -> Result<String, &'static str> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    let hex = |i: usize| -> Result<u32, &'static str> {
        let h = raw.get(i..i + 4).ok_or("truncated \\u escape")?;
        let t = std::str::from_utf8(h).map_err(|_| "invalid \\u escape")?;
        u32::from_str_radix(t, 16).map_err(|_| "invalid \\u escape")
    };
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1).ok_or("unterminated escape")?;
        i += 2;
        let c = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let mut cp = hex(i)?;
                i += 4;
                if (0xd800..0xdc00).contains(&cp) {
                    let lo = hex(i + 2)?;
                    i += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo.wrapping_sub(0xdc00) & 0x3ff);
                }
                char::from_u32(cp).ok_or("invalid code point")?
            }
            _ => return Err("invalid escape"),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8 in string")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan finds exactly what a byte loop finds: every byte value at
    /// every position of a 19-byte run (two words and a tail), over plain fillers that
    /// include UTF-8 lead and continuation bytes.
    #[test]
    fn skip_plain_matches_a_byte_loop() {
        let naive = |s: &[u8], i: usize| {
            (i..s.len())
                .find(|&k| matches!(s[k], b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(s.len())
        };
        for filler in [
            b'a', 0x20, 0x7f, 0x80, 0xbf, 0xe2, 0xff, b'!', b'#', b'[', b']',
        ] {
            for b in 0..=255u8 {
                for pos in 0..19 {
                    let mut buf = vec![filler; 19];
                    buf[pos] = b;
                    for start in [0, 1, 5, 8, 11] {
                        assert_eq!(
                            skip_plain(&buf, start),
                            naive(&buf, start),
                            "filler {filler:#x} byte {b:#x} at {pos} from {start}"
                        );
                    }
                }
            }
        }
    }
}
