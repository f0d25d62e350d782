//! Unicode folds shared by the admission and inspection checks, so that look-alike
//! spellings meet the same patterns.
//!
//! Guarantees:
//! - Every fold here works one character at a time, so folding a text in pieces gives
//!   the concatenation of folding it whole: streamed input needs no carried state.
//! - [`is_format_char`] covers Unicode category Cf (zero-width, bidi controls, tags,
//!   soft hyphen, ...) plus the invisible fillers and variation selectors.
//!
//! Assumes: per-character NFKC misses compositions that span characters (a base letter
//! followed by a combining mark stays decomposed). Patterns over ASCII are unaffected.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};
/// True for invisible formatting characters: Unicode Cf plus fillers and variation
/// selectors that render as nothing.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// Appends `src` to `out` with format characters dropped and every other character
/// replaced by its NFKC form (full-width, circled and mathematical letters become
/// ASCII).
pub fn fold_compat(src: &str, out: &mut String) {
    for c in src.chars() {
        push_compat(c, out);
    }
}

fn push_compat(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c);
    } else if !is_format_char(c) {
        out.extend(std::iter::once(c).nfkc());
    }
}

/// Byte index `n` characters before byte index `from` of `s` (0 if fewer).
pub fn back_chars(s: &str, from: usize, n: usize) -> usize {
    if n == 0 {
        return from.min(s.len());
    }
    s.get(..from)
        .and_then(|head| head.char_indices().rev().nth(n - 1))
        .map_or(0, |(i, _)| i)
}

/// Byte index just after the character at byte index `i` (`i + 1` at the end).
pub fn next_char(s: &str, i: usize) -> usize {
    i + s
        .get(i..)
        .and_then(|t| t.chars().next())
        .map_or(1, char::len_utf8)
}

/// Length in bytes of what [`fold_compat`] makes of `c`.
fn compat_len(c: char) -> usize {
    if c.is_ascii() {
        1
    } else if is_format_char(c) {
        0
    } else {
        std::iter::once(c).nfkc().map(char::len_utf8).sum()
    }
}

/// Maps ranges of `fold_compat(src)` back to byte ranges of `src`, in one pass.
/// `ranges` must be non-empty ranges, sorted and non-overlapping. A range maps to the
/// characters that produced its bytes: from the start of the one that produced its
/// first byte to the end of the one that produced its last (format characters in
/// between are included). Ranges out of bounds are dropped.
pub fn unfold_ranges(src: &str, ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut next = ranges.iter().filter(|r| r.start < r.end).peekable();
    let mut open: Option<usize> = None;
    let mut f = 0; // folded offset before the current character
    for (i, c) in src.char_indices() {
        let f_next = f + compat_len(c);
        while let Some(r) = next.peek() {
            if f_next == f {
                break;
            }
            if open.is_none() {
                if r.start >= f_next {
                    break;
                }
                open = Some(i);
            }
            if r.end > f_next {
                break;
            }
            out.push(open.take().unwrap_or(i)..i + c.len_utf8());
            next.next();
        }
        f = f_next;
    }
    out
}

/// Appends the *skeleton* of `src` to `out`, for matching ASCII markers: format
/// characters dropped, compatibility decomposition (NFKD), combining marks dropped,
/// and Cyrillic/Greek letters that look like Latin ones replaced by those.
pub fn fold_skeleton(src: &str, out: &mut String) {
    for c in src.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if !is_format_char(c) {
            decompose_compatible(c, |d| {
                if d.is_ascii() {
                    out.push(d);
                } else if !is_combining_mark(d) && !is_format_char(d) {
                    out.push(confusable(d).unwrap_or(d));
                }
            });
        }
    }
}

/// Latin look-alike of a Cyrillic or Greek letter.
fn confusable(c: char) -> Option<char> {
    Some(match c {
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' | 'Ϲ' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' | 'Ӏ' => 'I',
        'Ј' => 'J',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'Ν' => 'N',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'Υ' | 'Ү' => 'Y',
        'Ζ' => 'Z',
        'а' => 'a',
        'с' | 'ϲ' => 'c',
        'е' => 'e',
        'і' => 'i',
        'ο' | 'о' => 'o',
        'р' => 'p',
        'ѕ' => 's',
        'х' => 'x',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_chars() {
        for c in [
            '\u{200b}', '\u{200d}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{ad}',
        ] {
            assert!(is_format_char(c), "{c:?}");
        }
        for c in ['a', ' ', 'é', '\u{2028}'] {
            assert!(!is_format_char(c), "{c:?}");
        }
    }

    #[test]
    fn compat_fold_and_mapping() {
        let src = "ｓｅｃ\u{200b}ret ﬁle and sec\u{200b}ret";
        let mut folded = String::new();
        fold_compat(src, &mut folded);
        assert_eq!(folded, "secret file and secret");
        let spans: Vec<Range<usize>> = folded
            .match_indices("secret")
            .map(|(i, m)| i..i + m.len())
            .collect();
        let orig = unfold_ranges(src, &spans);
        assert_eq!(&src[orig[0].clone()], "ｓｅｃ\u{200b}ret");
        assert_eq!(&src[orig[1].clone()], "sec\u{200b}ret");
        // A match inside a ligature covers the whole ligature.
        let i = folded.find('i').unwrap_or(0);
        let lig = unfold_ranges(src, std::slice::from_ref(&(i..i + 1)));
        assert_eq!(&src[lig[0].clone()], "ﬁ");
        let e = folded.find("le").unwrap_or(0);
        assert_eq!(
            &src[unfold_ranges(src, &[i..i + 1, e..e + 2])[1].clone()],
            "le"
        );
        assert!(unfold_ranges(src, std::slice::from_ref(&(500..510))).is_empty());
    }

    #[test]
    fn char_steps() {
        let s = "aé😀b";
        assert_eq!(
            (back_chars(s, s.len(), 1), back_chars(s, s.len(), 2)),
            (7, 3)
        );
        assert_eq!((back_chars(s, s.len(), 9), back_chars(s, 3, 0)), (0, 3));
        assert_eq!(
            (next_char(s, 1), next_char(s, 3), next_char(s, 8)),
            (3, 7, 9)
        );
    }

    #[test]
    fn skeleton_fold() {
        let mut out = String::new();
        fold_skeleton(
            "ＳＥＣＲＥＴ Ⓢ 𝐓𝐒 S\u{301}ÉCRET ЅЕСRЕТ T\u{200c}S",
            &mut out,
        );
        assert_eq!(out, "SECRET S TS SECRET SECRET TS");
        // Piecewise folding equals whole folding.
        let (a, b) = ("ＳＥＣ", "ＲＥＴ");
        let mut p = String::new();
        fold_skeleton(a, &mut p);
        fold_skeleton(b, &mut p);
        assert_eq!(p, "SECRET");
    }
}
