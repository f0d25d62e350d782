//! `classification_gate`: the caller's clearance must reach the data's classification.
//!
//! `X-Classification` names the request data's level, `X-Caller-Clearance` the
//! caller's; both use the ladder UNCLASS < CUI < SECRET < TS < TS/SCI.
//!
//! Guarantees:
//! - Values are NFKC-normalised, trimmed, upper-cased and inner whitespace collapsed,
//!   then looked up in a fixed alias table ([`parse_level`]): `U`, `UNCLASSIFIED`;
//!   `FOUO`; `S`; `TOP SECRET`, `TOP_SECRET`, `TOP-SECRET`, `TOPSECRET`; `TS//SCI`,
//!   `TS-SCI`, `TS_SCI`, `TS SCI`, `SCI`, `TOP SECRET//SCI`. Full-width spellings
//!   therefore match; zero-width characters or anything else do not.
//! - `C`/`CONFIDENTIAL` are refused as unknown: CONFIDENTIAL is not on this ladder,
//!   and mapping it down (to CUI) would under-protect data while mapping it up (to
//!   SECRET) would over-grant clearance. Callers must pick a ladder level.
//! - An unknown or empty value, a value that is not UTF-8, or a header repeated with
//!   values of different levels is refused with 400.
//! - No `X-Classification` means UNCLASS; no `X-Caller-Clearance` means UNCLASS, so
//!   CUI and above without a clearance is refused (403, signet's reason wording,
//!   metadata `classification` and `clearance`).
//! - On every path that gets past parsing, `state.classification` is set: inspection
//!   compares response markings against it.

use unicode_normalization::UnicodeNormalization;

use super::headers::{HeaderFault, single_header};
use super::{AdmissionCheck, AdmissionState, Level, Refusal, Request};

pub const CHECK: &str = "classification_gate";
const CLASSIFICATION: &str = "X-Classification";
const CLEARANCE: &str = "X-Caller-Clearance";

/// Parses a level name or alias; `None` when unknown.
pub fn parse_level(raw: &str) -> Option<Level> {
    if raw.len() > 64 {
        return None;
    }
    let norm: String = raw.nfkc().collect::<String>().to_uppercase();
    let words: Vec<&str> = norm.split_whitespace().collect();
    Some(match words.join(" ").as_str() {
        "UNCLASS" | "UNCLASSIFIED" | "U" => Level::Unclass,
        "CUI" | "FOUO" | "U//FOUO" => Level::Cui,
        "SECRET" | "S" => Level::Secret,
        "TS" | "TOP SECRET" | "TOP_SECRET" | "TOP-SECRET" | "TOPSECRET" => Level::TopSecret,
        "TS/SCI" | "TS//SCI" | "TS-SCI" | "TS_SCI" | "TS SCI" | "SCI" | "TOP SECRET/SCI"
        | "TOP SECRET//SCI" => Level::TsSci,
        _ => return None,
    })
}

/// The `classification_gate` check.
pub struct ClassificationGate;

fn level_of(req: &Request<'_>, header: &'static str) -> Result<Option<Level>, Refusal> {
    single_header(req.headers, header, |v| parse_level(v).ok_or(())).map_err(|f| {
        let reason = match f {
            HeaderFault::NotUtf8 => format!("{header} is not valid utf-8"),
            HeaderFault::Ambiguous => format!("{header} sent more than once with different levels"),
            HeaderFault::Invalid(()) => format!("unrecognized {header} value"),
        };
        let mut r = Refusal::new(400, CHECK, reason);
        r.metadata.insert("header".into(), header.into());
        r
    })
}

impl AdmissionCheck for ClassificationGate {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal> {
        let classification = level_of(req, CLASSIFICATION)?.unwrap_or(Level::Unclass);
        let clearance = level_of(req, CLEARANCE)?.unwrap_or(Level::Unclass);
        state.classification = Some(classification);
        state
            .metadata
            .insert("classification".into(), classification.as_str().into());
        state
            .metadata
            .insert("clearance".into(), clearance.as_str().into());
        if clearance < classification {
            let mut r = Refusal::new(
                403,
                CHECK,
                format!(
                    "caller clearance {} insufficient for data classification {}",
                    clearance.as_str(),
                    classification.as_str()
                ),
            );
            r.metadata
                .insert("classification".into(), classification.as_str().into());
            r.metadata
                .insert("clearance".into(), clearance.as_str().into());
            return Err(r);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::headers::test_support::{request, run};

    fn gate(headers: &[(&str, &[u8])]) -> Result<AdmissionState, Refusal> {
        let mut state = AdmissionState::default();
        run(&ClassificationGate, &request(headers, b""), &mut state)?;
        Ok(state)
    }

    fn status(headers: &[(&str, &[u8])]) -> u16 {
        gate(headers).err().map_or(200, |r| r.status)
    }

    #[test]
    fn aliases_and_case() {
        use Level::*;
        for (s, l) in [
            ("unclass", Unclass),
            (" U ", Unclass),
            ("Unclassified", Unclass),
            ("cui", Cui),
            ("FOUO", Cui),
            ("s", Secret),
            ("Secret", Secret),
            ("top secret", TopSecret),
            ("TOP   SECRET", TopSecret),
            ("Top_Secret", TopSecret),
            ("ts", TopSecret),
            ("TS//SCI", TsSci),
            ("ts/sci", TsSci),
            ("TS-SCI", TsSci),
            ("top secret//sci", TsSci),
            ("ＳＥＣＲＥＴ", Secret),
            ("ｔｓ／ｓｃｉ", TsSci),
        ] {
            assert_eq!(parse_level(s), Some(l), "{s}");
        }
        for s in [
            "",
            "C",
            "CONFIDENTIAL",
            "SEC\u{200b}RET",
            "SECRETS",
            "SECRET, TS",
            "x".repeat(10_000).as_str(),
        ] {
            assert_eq!(parse_level(s), None, "{s}");
        }
    }

    #[test]
    fn allows_sufficient_clearance() {
        let s = gate(&[]).unwrap();
        assert_eq!(s.classification, Some(Level::Unclass));
        let s = gate(&[
            ("x-classification", b"SECRET"),
            ("x-caller-clearance", b"TS"),
        ])
        .unwrap();
        assert_eq!(s.classification, Some(Level::Secret));
        assert_eq!(
            status(&[("x-classification", b"cui"), ("x-caller-clearance", b"CUI")]),
            200
        );
        assert_eq!(status(&[("x-caller-clearance", b"TS/SCI")]), 200);
        assert_eq!(
            status(&[
                ("x-classification", b"S"),
                ("x-classification", b"secret"),
                ("x-caller-clearance", b"S")
            ]),
            200
        );
    }

    #[test]
    fn refuses_insufficient_clearance() {
        let r = gate(&[
            ("x-classification", b"SECRET"),
            ("x-caller-clearance", b"CUI"),
        ])
        .unwrap_err();
        assert_eq!((r.status, r.check), (403, CHECK));
        assert_eq!(
            r.reason,
            "caller clearance CUI insufficient for data classification SECRET"
        );
        assert_eq!(
            r.metadata.get("classification").and_then(|v| v.as_str()),
            Some("SECRET")
        );
        assert_eq!(
            r.metadata.get("clearance").and_then(|v| v.as_str()),
            Some("CUI")
        );
        assert_eq!(
            status(&[("x-classification", b"CUI")]),
            403,
            "no clearance means UNCLASS"
        );
        assert_eq!(
            status(&[
                ("x-classification", b"TS//SCI"),
                ("x-caller-clearance", b"TS")
            ]),
            403
        );
    }

    #[test]
    fn refuses_unknown_and_ambiguous() {
        assert_eq!(
            status(&[
                ("x-classification", b"CONFIDENTIAL"),
                ("x-caller-clearance", b"TS")
            ]),
            400
        );
        assert_eq!(status(&[("x-classification", b"")]), 400);
        assert_eq!(status(&[("x-caller-clearance", b"TOP SECRET PLEASE")]), 400);
        assert_eq!(status(&[("x-classification", b"\xff")]), 400);
        let long = "S".repeat(10 * 1024);
        assert_eq!(status(&[("x-caller-clearance", long.as_bytes())]), 400);
        let r = gate(&[
            ("x-classification", b"UNCLASS"),
            ("x-classification", b"SECRET"),
            ("x-caller-clearance", b"TS"),
        ])
        .unwrap_err();
        assert_eq!(r.status, 400);
        assert!(r.reason.contains("more than once"));
        assert_eq!(
            status(&[("x-caller-clearance", b"TS"), ("x-caller-clearance", b"U")]),
            400
        );
    }
}
