//! The canonical writer.
//!
//! Guarantees: [`write_canonical`] writes keys in code point order (a [`super::Map`]
//! is sorted), no whitespace, only the escapes signet 0.1 writes (`\"`, `\\`,
//! `\b \f \n \r \t`, other controls as `\u00xx`, everything else raw), and numbers
//! as their stored text; for a parsed canonical value it reproduces the input bytes.
//! [`python_float_repr`] is Python's `repr` of a float, which decides whether a float
//! is canonical.

use super::Value;
use super::text::skip_plain;

/// Write `v` in canonical form.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.0.as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(x, out);
            }
            out.push(b'}');
        }
    }
}

/// Write a string literal with the canonical escapes.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        // Plain runs are copied whole; the scan stops exactly at the bytes escaped here.
        let i = skip_plain(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// Python's `repr` of the float whose JSON text is `text`, or `None` if not finite.
pub fn python_float_repr(text: &str) -> Option<String> {
    let x: f64 = text.parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    let sci = format!("{:e}", x.abs()); // shortest round-trip digits, e.g. "1.25e-5"
    let (mant, exp) = sci.split_once('e')?;
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().ok()?;
    let decpt = exp + 1; // value = 0.DIGITS * 10^decpt
    let n = digits.len() as i32;
    let mut s = String::with_capacity(digits.len() + 8);
    if x.is_sign_negative() {
        s.push('-');
    }
    if (-4 < decpt) && (decpt <= 16) {
        if decpt <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-decpt) as usize));
            s.push_str(&digits);
        } else if decpt < n {
            s.push_str(&digits[..decpt as usize]);
            s.push('.');
            s.push_str(&digits[decpt as usize..]);
        } else {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', (decpt - n) as usize));
            s.push_str(".0");
        }
    } else {
        s.push_str(&digits[..1]);
        if n > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        s.push('e');
        s.push(if e < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", e.abs()));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-copying writer escapes exactly as a byte-at-a-time writer does: every
    /// ASCII character and some wider ones, alone, between plain runs of each length
    /// around the eight-byte word, and next to each other.
    #[test]
    fn write_string_matches_a_byte_loop() {
        fn naive(s: &str) -> Vec<u8> {
            let mut out = vec![b'"'];
            for &b in s.as_bytes() {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                    _ => out.push(b),
                }
            }
            out.push(b'"');
            out
        }
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['\u{e9}', '\u{2028}', '\u{1f600}', '\u{ffff}']);
        for &c in &chars {
            for pad in 0..10 {
                let run = "x".repeat(pad);
                for s in [
                    format!("{c}"),
                    format!("{run}{c}"),
                    format!("{c}{run}"),
                    format!("{run}{c}{run}{c}"),
                    format!("{c}{c}{run}"),
                ] {
                    let mut out = Vec::new();
                    write_string(&s, &mut out);
                    assert_eq!(out, naive(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn python_repr_matches_known_outputs() {
        for (input, want) in [
            ("0.294", "0.294"),
            ("1e-05", "1e-05"),
            ("0.00001", "1e-05"),
            ("0.0001", "0.0001"),
            ("1.0", "1.0"),
            ("1e16", "1e+16"),
            ("1e15", "1000000000000000.0"),
            ("123456789012345678.0", "1.2345678901234568e+17"),
            ("-2.5", "-2.5"),
            ("-0.0", "-0.0"),
            ("1.5e300", "1.5e+300"),
            ("5e-324", "5e-324"),
            ("0.1", "0.1"),
            ("100.0", "100.0"),
        ] {
            assert_eq!(python_float_repr(input).as_deref(), Some(want), "{input}");
        }
    }
}
