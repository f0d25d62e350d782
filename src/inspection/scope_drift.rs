//! `scope_drift`: abort a response that carries classification markings above the
//! request's `X-Classification`, or that runs far past the request's `max_tokens`.
//!
//! Guarantees:
//! - Markers are matched on the text's skeleton ([`fold_skeleton`]): NFKC/NFKD
//!   compatibility folding, zero-width and other format characters removed, combining
//!   marks removed, Cyrillic/Greek look-alikes mapped to Latin. Full-width, circled,
//!   mathematical, accented and zero-width-interleaved spellings match.
//! - Banner markings are whole words (not preceded or followed by a letter, digit or
//!   `_`): `TOP SECRET`, `SECRET`, `CONFIDENTIAL`, `CUI`, `FOUO`, `NOFORN` in upper
//!   case only (so prose such as "a secret" never fires), and the slash forms
//!   (`TOP SECRET//SCI`, `TS//SCI`, `SECRET//NOFORN`, `CUI//SP-PRVCY`, `TS/SCI`, ...) in
//!   any case. Portion markings `(S)`, `(TS)`, `(C)`, `(CUI)`, `(U//FOUO)`,
//!   `(TS//SCI)`, `(SECRET)`, ... are upper case and fire only when not preceded by a
//!   letter or digit, so `file(s)` or `PROCESS(ES)` never fire; `(C)` after
//!   "Copyright" or before a year is a copyright sign, not a marking.
//! - Levels: the ladder of [`Level`]; `CONFIDENTIAL`/`(C)` and `NOFORN` count as
//!   SECRET (the lowest ladder level that may carry them), any `SCI` caveat as TS/SCI.
//! - Incremental and linear: each `feed` scans the new text plus a bounded tail, so
//!   a marker split across chunks is found. Portion and slash forms fire as soon as
//!   seen; a bare banner word ending a chunk is decided when the next character
//!   arrives (that word may already be released; what follows it is not).
//! - Length cap: with `max_tokens = n` the response may carry at most
//!   `n * chars_per_token + length_slack_chars` characters of fed text.
//! - Refusals are 403 (the caller is not cleared for what came back), decision Block,
//!   with signet's reason wording.
//!
//! Assumes: the text fed is the generated text (see `text::split_for_inspection`).

use std::sync::Arc;

use regex::Regex;
use signet_audit::json::Value;

use super::{InspectCtx, InspectionCheck, Inspector};
use crate::fold::{back_chars, fold_skeleton, next_char};
use crate::verdict::{Level, Refusal};

pub const CHECK: &str = "scope_drift";
/// Longest text the marker pattern can match, in characters.
const MAX_MARKER_CHARS: usize = 64;
/// Context kept before the first undecided position ("Copyright " before `(C)`).
const LOOKBEHIND_CHARS: usize = 16;

const MARKERS: &str = concat!(
    r"\((?:TOP SECRET|CONFIDENTIAL|SECRET|CUI|TS|S|C|U)(?://[A-Z][A-Z0-9 /,-]{0,24})?\)",
    r"|(?i:(?:top {1,3}secret|ts|secret|confidential|cui)//[a-z][a-z0-9-]{0,11}(?://?[a-z][a-z0-9-]{0,11}){0,2})",
    r"|(?i:top {1,3}secret/sci|ts/sci)",
    r"|TOP {1,3}SECRET|SECRET|CONFIDENTIAL|CUI|FOUO|NOFORN",
);

/// Settings of the check (validated by the policy).
#[derive(Clone, Debug)]
pub struct ScopeDriftSettings {
    pub chars_per_token: u64,
    pub length_slack_chars: u64,
}

impl Default for ScopeDriftSettings {
    fn default() -> Self {
        ScopeDriftSettings {
            chars_per_token: 8,
            length_slack_chars: 512,
        }
    }
}

pub struct ScopeDrift {
    settings: ScopeDriftSettings,
    /// The constant marker pattern; should it ever fail to compile, every response
    /// is refused (fail closed) instead of passing unchecked.
    markers: Option<Arc<Regex>>,
}

impl ScopeDrift {
    pub fn new(settings: ScopeDriftSettings) -> ScopeDrift {
        ScopeDrift {
            settings,
            // Shared, not cloned: a cloned `Regex` starts with an empty cache pool.
            markers: Regex::new(MARKERS).ok().map(Arc::new),
        }
    }
}

impl InspectionCheck for ScopeDrift {
    fn name(&self) -> &'static str {
        CHECK
    }
    fn start(&self, ctx: &InspectCtx) -> Box<dyn Inspector> {
        Box::new(self.inspector(ctx))
    }
}

impl ScopeDrift {
    fn inspector(&self, ctx: &InspectCtx) -> DriftInspector {
        let (per_token, slack) = (
            self.settings.chars_per_token,
            self.settings.length_slack_chars,
        );
        DriftInspector {
            markers: self.markers.clone(),
            level: ctx.classification,
            cap: ctx
                .max_tokens
                .map(|n| (n.saturating_mul(per_token).saturating_add(slack), n)),
            fed: 0,
            buf: String::new(),
            from: 0,
            deferred: false,
        }
    }
}

struct DriftInspector {
    markers: Option<Arc<Regex>>,
    level: Level,
    /// Length cap in characters, and the `max_tokens` it derives from.
    cap: Option<(u64, u64)>,
    fed: u64,
    /// Skeleton of the undecided tail of the text, with some context before it.
    buf: String,
    /// First position in `buf` not yet decided.
    from: usize,
    /// A marker at the end of the text awaits the next character.
    deferred: bool,
}

enum Verdict {
    Fire(Level),
    Reject,
    Defer,
}

impl Inspector for DriftInspector {
    fn feed(&mut self, text: &str) -> Result<(), Refusal> {
        fold_skeleton(text, &mut self.buf);
        self.scan(false)?;
        self.fed = self.fed.saturating_add(text.chars().count() as u64);
        if let Some((cap, n)) = self.cap
            && self.fed > cap
        {
            let mut r = Refusal::new(
                403,
                CHECK,
                format!(
                    "response length exceeds the length cap of {cap} characters derived from max_tokens={n}"
                ),
            );
            r.metadata.insert("drift_kind".into(), "length".into());
            r.metadata
                .insert("length_cap_chars".into(), Value::from(cap));
            r.metadata.insert("max_tokens".into(), Value::from(n));
            return Err(r);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Refusal> {
        // Every match the feeds found was decided already unless one was deferred: a
        // verdict differs between the last scan and an earlier one only where the
        // earlier one deferred, and no text came since. So only a deferral needs the
        // final scan (`finish_needs_a_scan_only_after_a_deferral` checks this).
        if !self.deferred {
            return Ok(());
        }
        self.scan(true)
    }

    fn holding(&self) -> bool {
        self.deferred
    }
}

impl DriftInspector {
    fn scan(&mut self, last: bool) -> Result<(), Refusal> {
        let Some(markers) = &self.markers else {
            return Err(Refusal::new(
                500,
                CHECK,
                "classification marker pattern unavailable",
            ));
        };
        let mut at = self.from;
        let mut deferred = None;
        while let Some(m) = markers.find_at(&self.buf, at) {
            match decide(&self.buf, m.start(), m.end(), last) {
                Verdict::Defer => {
                    deferred = Some(m.start());
                    break;
                }
                Verdict::Fire(l) if l > self.level => return Err(self.refusal(m.as_str(), l)),
                _ => {}
            }
            at = next_char(&self.buf, m.start());
        }
        self.deferred = deferred.is_some() && !last;
        let resume =
            deferred.unwrap_or_else(|| back_chars(&self.buf, self.buf.len(), MAX_MARKER_CHARS));
        self.from = self.from.max(resume);
        let keep = back_chars(&self.buf, self.from, LOOKBEHIND_CHARS);
        self.buf.drain(..keep);
        self.from -= keep;
        Ok(())
    }

    fn refusal(&self, marker: &str, found: Level) -> Refusal {
        let mut r = Refusal::new(
            403,
            CHECK,
            format!(
                "output marker '{marker}' implies classification level {} > request-declared level {}",
                found as u8, self.level as u8
            ),
        );
        r.metadata
            .insert("drift_kind".into(), "classification".into());
        r.metadata.insert("marker".into(), marker.into());
        r.metadata
            .insert("marker_level".into(), found.as_str().into());
        r.metadata
            .insert("request_level".into(), self.level.as_str().into());
        r
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the candidate `buf[s..e]` is a marking, is not, or needs more text.
fn decide(buf: &str, s: usize, e: usize, last: bool) -> Verdict {
    let (before, m, after) = (&buf[..s], &buf[s..e], &buf[e..]);
    if before.chars().next_back().is_some_and(is_word) {
        return Verdict::Reject;
    }
    if m == "(C)" {
        let prev = before.trim_end_matches(' ');
        let tail = prev.get(prev.len().saturating_sub(9)..).unwrap_or("");
        if tail.eq_ignore_ascii_case("copyright") {
            return Verdict::Reject;
        }
        let look: Vec<char> = after.chars().take(3).collect();
        match look.iter().find(|c| **c != ' ') {
            Some(c) if c.is_ascii_digit() => return Verdict::Reject,
            None if look.len() < 3 && !last => return Verdict::Defer,
            _ => {}
        }
    } else if !m.starts_with('(') && !m.contains('/') {
        // Slash forms are markings whatever follows; bare words need a boundary.
        match after.chars().next() {
            None if !last => return Verdict::Defer,
            Some(c) if is_word(c) => return Verdict::Reject,
            _ => {}
        }
    }
    Verdict::Fire(level_of(m))
}

/// The ladder level a matched marking implies.
fn level_of(m: &str) -> Level {
    let u = m.to_ascii_uppercase();
    let mut tokens = u
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty());
    let base = match tokens.next().unwrap_or("") {
        "TOP" | "TS" => Level::TopSecret,
        "SECRET" | "S" | "CONFIDENTIAL" | "C" | "NOFORN" => Level::Secret,
        "CUI" | "FOUO" => Level::Cui,
        _ => Level::Unclass,
    };
    tokens.fold(base, |level, t| {
        level.max(match t {
            "SCI" => Level::TsSci,
            "NOFORN" => Level::Secret,
            "FOUO" | "CUI" => Level::Cui,
            _ => Level::Unclass,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspector(level: Level, max_tokens: Option<u64>) -> Box<dyn Inspector> {
        let check = ScopeDrift::new(ScopeDriftSettings::default());
        assert!(check.markers.is_some(), "marker pattern compiles");
        check.start(&InspectCtx {
            classification: level,
            max_tokens,
        })
    }

    /// Feeds the chunks, then finishes; returns the refusal, if any.
    fn run(level: Level, chunks: &[&str]) -> Option<Refusal> {
        let mut i = inspector(level, None);
        for c in chunks {
            if let Err(r) = i.feed(c) {
                return Some(r);
            }
        }
        i.finish().err()
    }

    #[test]
    fn fires_on_markers_above_level() {
        for text in [
            "header SECRET//NOFORN body",
            "TOP SECRET//SCI",
            "see ts//sci here",
            "(S) The plan is",
            "para (TS) text",
            "(TS//SCI) text",
            "(C) The details",
            "Secret//Noforn",
            "CONFIDENTIAL",
            "NOFORN",
            "TS/SCI",
        ] {
            let r = run(Level::Unclass, &[text]).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((r.status, r.check), (403, CHECK));
        }
        let r = run(Level::Unclass, &["x SECRET//NOFORN y"]).unwrap();
        assert_eq!(
            r.reason,
            "output marker 'SECRET//NOFORN' implies classification level 2 > request-declared level 0"
        );
        assert_eq!(level_of("TOP SECRET//SCI"), Level::TsSci);
        assert_eq!(level_of("(U//FOUO)"), Level::Cui);
        assert_eq!(level_of("(CUI)"), Level::Cui);
    }

    #[test]
    fn allows_at_or_below_level_and_ordinary_text() {
        assert!(run(Level::Secret, &["SECRET//NOFORN and (S) and CUI"]).is_none());
        assert!(run(Level::TsSci, &["TOP SECRET//SCI"]).is_none());
        for text in [
            "the file(s) and process(es) are listed",
            "PLAYER(S) and PROCESS(ES)",
            "a secret recipe, top secret sauce",
            "SECRET_KEY = os.environ['AWS_SECRET_ACCESS_KEY']",
            "SECRETARY of state, CUISINE, CONFIDENTIALITY",
            "Copyright (C) 2024 Example Corp",
            "(C) 2024 Example Corp",
            "(U) This paragraph is unclassified",
            "https://example.com/a//b",
        ] {
            assert!(run(Level::Unclass, &[text]).is_none(), "{text}");
        }
        assert!(run(Level::Cui, &["CUI//SP-PRVCY and (CUI)"]).is_none());
    }

    #[test]
    fn unicode_evasions_fire() {
        for text in [
            "ＳＥＣＲＥＴ//ＮＯＦＯＲＮ",
            "S\u{200b}ECRET//NOFORN",
            "(\u{200d}S\u{2060})",
            "ЅЕСRЕТ",
            "T\u{feff}OP SECRET",
            "Ⓢⓔⓒⓡⓔⓣ//ⓝⓞⓕⓞⓡⓝ",
            "TOP\u{a0}SECRET",
        ] {
            assert!(run(Level::Unclass, &[text]).is_some(), "{text:?}");
        }
    }

    #[test]
    fn markers_split_across_chunks() {
        assert!(run(Level::Unclass, &["report SEC", "RET//NO", "FORN follows"]).is_some());
        assert!(run(Level::Unclass, &["(", "S", ")"]).is_some());
        assert!(run(Level::Unclass, &["TOP SE", "\u{200b}", "CRET"]).is_some());
        // A banner word at a chunk end waits for the next character.
        assert!(run(Level::Unclass, &["SECRET", "ARY of state"]).is_none());
        assert!(run(Level::Unclass, &["file(", "s)"]).is_none());
        assert!(run(Level::Unclass, &["Copyright ", "(C)", " 2024"]).is_none());
        // One character at a time.
        let text = "benign text then SECRET//NOFORN material";
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert!(run(Level::Unclass, &refs).is_some());
        // Ends with a marker: decided at finish.
        assert!(run(Level::Unclass, &["the end: SECRET"]).is_some());
    }

    /// Finishing without a scan when nothing was deferred gives the verdict a full
    /// final scan gives, over texts built from marker fragments, near-misses and
    /// look-alikes, cut into chunks at every kind of place.
    #[test]
    fn finish_needs_a_scan_only_after_a_deferral() {
        const PIECES: &[&str] = &[
            "SECRET",
            "secret",
            "(C)",
            "(C",
            "C)",
            "Copyright ",
            " 2024",
            "(S)",
            "(TS//SCI)",
            "TOP ",
            "SECRET//",
            "NOFORN",
            "x",
            " ",
            "ARY",
            "(",
            ")",
            "\u{e9}",
            "\u{200b}",
            "CUI",
            "(U)",
            "FOUO",
            "ｓｅｃｒｅｔ",
            "//",
            "s",
            ".\n",
        ];
        let check = ScopeDrift::new(ScopeDriftSettings::default());
        let ctx = InspectCtx {
            classification: Level::Unclass,
            max_tokens: None,
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut fired, mut deferred) = (0, 0);
        for _ in 0..20_000 {
            let text: String = (0..1 + next(6))
                .map(|_| PIECES[next(PIECES.len())])
                .collect();
            let chars: Vec<char> = text.chars().collect();
            let mut cuts: Vec<usize> = (0..next(4)).map(|_| next(chars.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([chars.len()]) {
                chunks.push(chars[at..c].iter().collect::<String>());
                at = c;
            }
            let mut shortcut = check.inspector(&ctx);
            let mut full = check.inspector(&ctx);
            let mut refused = None;
            for c in &chunks {
                let (a, b) = (shortcut.feed(c).is_err(), full.feed(c).is_err());
                assert_eq!(a, b);
                if a {
                    refused = Some(true);
                    break;
                }
            }
            if refused.is_some() {
                fired += 1;
                continue;
            }
            deferred += usize::from(shortcut.deferred);
            assert_eq!(
                shortcut.finish().is_err(),
                full.scan(true).is_err(),
                "{chunks:?}"
            );
        }
        // The texts exercise both branches.
        assert!(
            fired > 1000 && deferred > 1000,
            "fired {fired}, deferred {deferred}"
        );
    }

    #[test]
    fn tail_window_stays_bounded() {
        let mut i = inspector(Level::Unclass, None);
        let chunk = "lorem ipsum dolor sit amet ".repeat(40);
        for _ in 0..200 {
            assert!(i.feed(&chunk).is_ok());
        }
        assert!(
            i.feed("SECRET//NOFORN").is_err(),
            "slash forms need no lookahead"
        );
        let ctx = InspectCtx {
            classification: Level::Unclass,
            max_tokens: None,
        };
        let mut d = ScopeDrift::new(ScopeDriftSettings::default()).inspector(&ctx);
        for _ in 0..100 {
            d.feed(&chunk).unwrap();
            assert!(d.buf.chars().count() <= MAX_MARKER_CHARS + LOOKBEHIND_CHARS);
        }
    }

    #[test]
    fn length_cap_from_max_tokens() {
        let mut i = inspector(Level::Unclass, Some(10)); // cap 10*8+512 = 592
        assert!(i.feed(&"a".repeat(592)).is_ok());
        let r = i.feed("b").unwrap_err();
        assert!(r.reason.contains("length cap"), "{}", r.reason);
        let mut i = inspector(Level::Unclass, None);
        assert!(i.feed(&"a".repeat(100_000)).is_ok());
        assert!(i.finish().is_ok());
    }
}
