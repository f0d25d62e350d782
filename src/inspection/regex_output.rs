//! `regex_output`: abort a response whose text matches an operator-supplied pattern
//! (leaked keys, internal host names, ...).
//!
//! Guarantees:
//! - Patterns run on the compatibility fold of the text ([`fold_compat`]: NFKC per
//!   character, zero-width and other format characters removed), so full-width or
//!   zero-width-interleaved spellings match the plain pattern.
//! - Incremental with a bounded window: each rule keeps the last `window_chars`
//!   characters (default [`DEFAULT_WINDOW_CHARS`]) and each `feed` searches the new
//!   text together with that window, so a match split across chunks is found as long
//!   as the match is no longer than the window. Longer matches may be missed: that is
//!   the stated assumption. Cost per feed is O(window + chunk) per rule.
//! - A match fires as soon as it is seen, before the chunk is released. Patterns
//!   ending in `$` or `\b` may therefore fire at a chunk boundary that the whole text
//!   would not have matched at (a false positive, never a miss). Empty matches never
//!   fire.
//! - Refusal: 403, decision Block, reason names the rule; the matched text is never
//!   copied into the refusal (it may be the secret itself).

use std::sync::Arc;

use regex::Regex;

use super::{InspectCtx, InspectionCheck, Inspector};
use crate::fold::{back_chars, fold_compat, next_char};
use crate::verdict::Refusal;

pub const CHECK: &str = "regex_output";
/// Window kept per rule unless configured, in characters.
pub const DEFAULT_WINDOW_CHARS: usize = 1024;

/// One compiled rule.
#[derive(Clone, Debug)]
pub struct OutputRule {
    pub name: String,
    pub regex: Regex,
    /// Longest match guaranteed to be found across chunk boundaries, in characters.
    pub window_chars: usize,
}

pub struct RegexOutput {
    rules: Arc<[OutputRule]>,
}

impl RegexOutput {
    pub fn new(rules: Vec<OutputRule>) -> RegexOutput {
        RegexOutput {
            rules: rules.into(),
        }
    }
}

impl InspectionCheck for RegexOutput {
    fn name(&self) -> &'static str {
        CHECK
    }
    fn start(&self, _ctx: &InspectCtx) -> Box<dyn Inspector> {
        let keep = self.rules.iter().map(|r| r.window_chars).max().unwrap_or(0);
        Box::new(OutputInspector {
            rules: self.rules.clone(),
            keep,
            buf: String::new(),
        })
    }
}

struct OutputInspector {
    rules: Arc<[OutputRule]>,
    /// Characters of context kept between feeds (the largest window).
    keep: usize,
    /// Folded text: the kept context followed by the newest chunk.
    buf: String,
}

impl Inspector for OutputInspector {
    fn feed(&mut self, text: &str) -> Result<(), Refusal> {
        let new_start = self.buf.len();
        fold_compat(text, &mut self.buf);
        for rule in self.rules.iter() {
            let mut at = back_chars(&self.buf, new_start, rule.window_chars);
            while let Some(m) = rule.regex.find_at(&self.buf, at) {
                if !m.is_empty() {
                    let mut r =
                        Refusal::new(403, CHECK, format!("output rule '{}' matched", rule.name));
                    r.metadata.insert("rule".into(), rule.name.as_str().into());
                    return Err(r);
                }
                at = next_char(&self.buf, m.end());
                if at > self.buf.len() {
                    break;
                }
            }
        }
        let cut = back_chars(&self.buf, self.buf.len(), self.keep);
        self.buf.drain(..cut);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Level;

    fn check(rules: &[(&str, &str, usize)]) -> RegexOutput {
        RegexOutput::new(
            rules
                .iter()
                .map(|(n, p, w)| OutputRule {
                    name: (*n).to_owned(),
                    regex: Regex::new(p).unwrap(),
                    window_chars: *w,
                })
                .collect(),
        )
    }

    fn run(c: &RegexOutput, chunks: &[&str]) -> Option<Refusal> {
        let mut i = c.start(&InspectCtx {
            classification: Level::Unclass,
            max_tokens: None,
        });
        for ch in chunks {
            if let Err(r) = i.feed(ch) {
                return Some(r);
            }
        }
        i.finish().err()
    }

    const KEY: &str = r"sk-[A-Za-z0-9]{20,}";

    #[test]
    fn allows_and_refuses() {
        let c = check(&[("api_key", KEY, DEFAULT_WINDOW_CHARS)]);
        assert!(run(&c, &["nothing to see here", " sk-short"]).is_none());
        let r = run(&c, &["your key is sk-abcdefghijklmnopqrstuvwxyz"]).unwrap();
        assert_eq!((r.status, r.check), (403, CHECK));
        assert_eq!(r.reason, "output rule 'api_key' matched");
        assert!(
            !format!("{:?}", r.metadata).contains("abcdef"),
            "match not copied"
        );
    }

    #[test]
    fn split_across_chunks_and_evasions() {
        let c = check(&[("api_key", KEY, DEFAULT_WINDOW_CHARS)]);
        assert!(run(&c, &["key: sk-abcdefghij", "klmnopqrstuvwxyz"]).is_some());
        let key = "sk-abcdefghijklmnopqrstuvwxyz";
        let chars: Vec<String> = key.chars().map(String::from).collect();
        let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert!(run(&c, &refs).is_some(), "one character per chunk");
        assert!(
            run(&c, &["ｓｋ－ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔ"]).is_some(),
            "full-width"
        );
        assert!(
            run(&c, &["sk-abcdefghij\u{200b}klmnopqrstuvwxyz"]).is_some(),
            "zero-width"
        );
        assert!(run(&c, &["sk-abc\u{feff}defghij", "klm\u{2060}nopqrstuvwxyz"]).is_some());
    }

    #[test]
    fn window_bounds_memory_and_matches() {
        let c = check(&[("long", r"BEGIN[a-z]*END", 16)]);
        // A 10-character match split across chunks fits the window.
        assert!(run(&c, &["xx BEGINab", "cEND"]).is_some());
        // A match longer than the window, split, is missed (documented).
        assert!(run(&c, &["BEGIN", &"a".repeat(100), "END"]).is_none());
        let mut i = OutputInspector {
            rules: c.rules.clone(),
            keep: 16,
            buf: String::new(),
        };
        for _ in 0..1000 {
            i.feed("filler text without the pattern ").unwrap();
            assert!(i.buf.chars().count() <= 16);
        }
    }

    #[test]
    fn empty_matches_never_fire() {
        let c = check(&[("opt", r"x*", 64), ("word", r"\bzzz\b", 64)]);
        assert!(run(&c, &["abc", "def"]).is_none());
        assert!(run(&c, &["a zzz b"]).is_some());
    }
}
