//! `owner_resolution`: every forwarded request is attributed to an accountable owner.
//!
//! Headers, in precedence order (the first one present wins, whatever the order on
//! the wire): `X-Commit-Owner: human:<principal>`, `X-Agent-Id: agent:<id>`,
//! `X-Policy-Name: <name>` with optional `X-Policy-Version: <v>` (owner
//! `policy:<name>@<v>`). As in signet the lowercase prefix is required: `HUMAN:alice`,
//! `Human:alice`, full-width `ｈｕｍａｎ:` or a bare agent id are not recognised.
//!
//! Guarantees:
//! - A principal is trimmed and NFKC-normalised, then refused if it is empty, longer
//!   than [`MAX_PRINCIPAL_CHARS`] characters, or holds a control character (C0, DEL,
//!   C1, line/paragraph separators) or an invisible format character (zero-width,
//!   bidi overrides, tags, ...). Values that are not UTF-8 are refused.
//! - Every owner header that is present must be well formed: one malformed header, a
//!   header repeated with different values, or `X-Policy-Version` without
//!   `X-Policy-Name`, refuses the request (403) even if another header is valid.
//! - Only when no owner header is present does the owner a trusted network supplied
//!   (`state.network_owner`) apply: a trusted network never overrides an explicit
//!   owner, valid or not.
//! - Otherwise: 403 "no commit owner could be resolved" with a hint, unless the check
//!   is configured as not required (the request then stays unattributed).
//!
//! Headers are caller-asserted attribution, not authentication (signet's trust model).

use http::HeaderMap;
use signet_audit::OwnerType;
use unicode_normalization::UnicodeNormalization;

use super::headers::{HeaderFault, single_header};
use super::{AdmissionCheck, AdmissionState, Owner, Refusal, Request};
use crate::fold::is_format_char;

pub const CHECK: &str = "owner_resolution";
/// Longest principal accepted, in characters after normalisation.
pub const MAX_PRINCIPAL_CHARS: usize = 256;
/// Longer raw values are refused before normalising (NFKC shrinks at most ~3:1).
const MAX_RAW_CHARS: usize = 4 * MAX_PRINCIPAL_CHARS;

const HINT: &str = "send one of: X-Commit-Owner: human:<principal> | X-Agent-Id: agent:<id> | \
X-Policy-Name: <name> (optional X-Policy-Version: <version>); the lowercase prefix is required";

/// Why an owner header or principal is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    #[error("{0} sent more than once with different values")]
    Ambiguous(&'static str),
    #[error("{0} is not valid utf-8")]
    NotUtf8(&'static str),
    #[error("{0} value must start with `{1}`")]
    Prefix(&'static str, &'static str),
    #[error("{0} value is empty")]
    Empty(&'static str),
    #[error("{0} value is longer than 256 characters")]
    TooLong(&'static str),
    #[error("{0} value contains control or invisible formatting characters")]
    Control(&'static str),
    #[error("X-Policy-Version sent without X-Policy-Name")]
    VersionWithoutName,
    #[error("owner must be human:<id>, agent:<id> or policy:<id>")]
    Kind,
}

/// Trims, NFKC-normalises and checks one principal; `header` names it in errors.
pub fn sanitize_principal(raw: &str, header: &'static str) -> Result<String, OwnerError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_RAW_CHARS {
        return Err(OwnerError::TooLong(header));
    }
    // Printable ASCII is its own NFKC form and holds no control or format character:
    // only the length and the comma need checking.
    if raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        if raw.is_empty() {
            return Err(OwnerError::Empty(header));
        }
        if raw.len() > MAX_PRINCIPAL_CHARS {
            return Err(OwnerError::TooLong(header));
        }
        if raw.contains(',') {
            return Err(OwnerError::Ambiguous(header));
        }
        return Ok(raw.to_owned());
    }
    sanitize_general(raw, header)
}

/// [`sanitize_principal`] for any text (`raw` trimmed and within [`MAX_RAW_CHARS`]).
fn sanitize_general(raw: &str, header: &'static str) -> Result<String, OwnerError> {
    let norm: String = raw.nfkc().collect();
    let norm = norm.trim();
    if norm.is_empty() {
        return Err(OwnerError::Empty(header));
    }
    if norm.chars().count() > MAX_PRINCIPAL_CHARS {
        return Err(OwnerError::TooLong(header));
    }
    if norm
        .chars()
        .any(|c| c.is_control() || is_format_char(c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(OwnerError::Control(header));
    }
    // A comma means a proxy merged two header lines into one: ambiguous.
    if norm.contains(',') {
        return Err(OwnerError::Ambiguous(header));
    }
    Ok(norm.to_owned())
}

/// An owner established by `method` (`header` or `trusted_network`).
pub fn owner(kind: OwnerType, id: String, method: &'static str) -> Owner {
    Owner {
        approval_chain: vec![format!("{}:{id}", kind.as_str())],
        kind,
        id,
        method,
    }
}

/// Parses a configured owner such as `policy:internal-batch` or `agent:cron`.
pub fn parse_owner_spec(spec: &str, method: &'static str) -> Result<Owner, OwnerError> {
    let (kind, rest) = match spec.split_once(':') {
        Some(("human", r)) => (OwnerType::Human, r),
        Some(("agent", r)) => (OwnerType::Agent, r),
        Some(("policy", r)) => (OwnerType::Policy, r),
        _ => return Err(OwnerError::Kind),
    };
    Ok(owner(kind, sanitize_principal(rest, "owner")?, method))
}

fn prefixed(v: &str, prefix: &'static str, header: &'static str) -> Result<String, OwnerError> {
    match v.trim().strip_prefix(prefix) {
        Some(rest) => sanitize_principal(rest, header),
        None if v.trim().is_empty() => Err(OwnerError::Empty(header)),
        None => Err(OwnerError::Prefix(header, prefix)),
    }
}

fn one(
    headers: &HeaderMap,
    header: &'static str,
    parse: impl Fn(&str) -> Result<String, OwnerError>,
) -> Result<Option<String>, OwnerError> {
    single_header(headers, header, parse).map_err(|f| match f {
        HeaderFault::NotUtf8 => OwnerError::NotUtf8(header),
        HeaderFault::Ambiguous => OwnerError::Ambiguous(header),
        HeaderFault::Invalid(e) => e,
    })
}

/// The owner the headers name, `None` when no owner header is present.
pub fn owner_from_headers(headers: &HeaderMap) -> Result<Option<Owner>, OwnerError> {
    const CO: &str = "X-Commit-Owner";
    const AI: &str = "X-Agent-Id";
    const PN: &str = "X-Policy-Name";
    const PV: &str = "X-Policy-Version";
    let human = one(headers, CO, |v| prefixed(v, "human:", CO))?;
    let agent = one(headers, AI, |v| prefixed(v, "agent:", AI))?;
    let name = one(headers, PN, |v| sanitize_principal(v, PN))?;
    let version = one(headers, PV, |v| sanitize_principal(v, PV))?;
    let policy = match (name, version) {
        (Some(n), Some(v)) => {
            let joined = format!("{n}@{v}");
            if joined.chars().count() > MAX_PRINCIPAL_CHARS {
                return Err(OwnerError::TooLong(PN));
            }
            Some(joined)
        }
        (Some(n), None) => Some(n),
        (None, Some(_)) => return Err(OwnerError::VersionWithoutName),
        (None, None) => None,
    };
    let header = |kind, id| owner(kind, id, "header");
    Ok(human
        .map(|p| header(OwnerType::Human, p))
        .or_else(|| agent.map(|a| header(OwnerType::Agent, a)))
        .or_else(|| policy.map(|p| header(OwnerType::Policy, p))))
}

/// The `owner_resolution` check.
pub struct OwnerResolution {
    /// Refuse requests nobody can be held accountable for.
    pub required: bool,
}

impl AdmissionCheck for OwnerResolution {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal> {
        let err = match owner_from_headers(req.headers) {
            Ok(Some(o)) => {
                state.owner = Some(o);
                return Ok(());
            }
            Ok(None) => match &state.network_owner {
                Some(o) => {
                    state.owner = Some(o.clone());
                    return Ok(());
                }
                None if !self.required => return Ok(()),
                None => None,
            },
            Err(e) => Some(e),
        };
        let mut r = Refusal::new(403, CHECK, "no commit owner could be resolved");
        r.metadata.insert("hint".into(), HINT.into());
        if let Some(e) = err {
            r.metadata
                .insert("owner_error".into(), e.to_string().into());
        }
        Err(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::headers::test_support::{request, run};

    fn check(headers: &[(&str, &[u8])], network: Option<&str>) -> Result<AdmissionState, Refusal> {
        let mut state = AdmissionState {
            network_owner: network.map(|s| parse_owner_spec(s, "trusted_network").unwrap()),
            ..Default::default()
        };
        run(
            &OwnerResolution { required: true },
            &request(headers, b""),
            &mut state,
        )?;
        Ok(state)
    }

    fn owner_of(headers: &[(&str, &[u8])]) -> Owner {
        check(headers, None).unwrap().owner.unwrap()
    }

    fn refused(headers: &[(&str, &[u8])]) -> Refusal {
        let r = check(headers, Some("agent:cron")).unwrap_err();
        assert_eq!((r.status, r.check), (403, CHECK));
        assert_eq!(r.reason, "no commit owner could be resolved");
        r
    }

    #[test]
    fn resolves_each_header_with_precedence() {
        let o = owner_of(&[("x-commit-owner", b"human:alice@example.com")]);
        assert_eq!(
            (o.kind, o.id.as_str(), o.method),
            (OwnerType::Human, "alice@example.com", "header")
        );
        assert_eq!(o.approval_chain, ["human:alice@example.com"]);
        let o = owner_of(&[("X-Agent-Id", b"agent:nightly-syncer")]);
        assert_eq!(
            (o.kind, o.id.as_str()),
            (OwnerType::Agent, "nightly-syncer")
        );
        let o = owner_of(&[
            ("x-policy-name", b"acme-default"),
            ("x-policy-version", b"v3"),
        ]);
        assert_eq!(o.approval_chain, ["policy:acme-default@v3"]);
        let o = owner_of(&[
            ("x-policy-name", b"p"),
            ("x-agent-id", b"agent:bot"),
            ("x-commit-owner", b"human:bob"),
        ]);
        assert_eq!(o.approval_chain, ["human:bob"]);
        let o = owner_of(&[
            ("x-commit-owner", b"human:a"),
            ("x-commit-owner", b" human:a "),
        ]);
        assert_eq!(o.id, "a", "identical repeats are fine");
    }

    /// The printable-ASCII shortcut answers exactly what the general path answers.
    #[test]
    fn ascii_shortcut_agrees_with_the_general_path() {
        let mut cases: Vec<String> = vec![
            String::new(),
            " ".into(),
            "alice@example.com".into(),
            "a,b".into(),
            " padded ".into(),
            "x".repeat(MAX_PRINCIPAL_CHARS),
            "x".repeat(MAX_PRINCIPAL_CHARS + 1),
            "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;'./".into(),
        ];
        // Every printable ASCII character alone and inside a name.
        for b in 0x20u8..0x7f {
            cases.push(char::from(b).to_string());
            cases.push(format!("ag{}ent", char::from(b)));
        }
        for c in &cases {
            let raw = c.trim();
            assert_eq!(
                sanitize_principal(c, "h"),
                sanitize_general(raw, "h"),
                "{c:?}"
            );
        }
    }

    #[test]
    fn normalises_unicode() {
        assert_eq!(
            owner_of(&[("x-commit-owner", "human:ａｌｉｃｅ".as_bytes())]).id,
            "alice"
        );
        assert_eq!(
            owner_of(&[("x-agent-id", "agent:ﬁle-bot".as_bytes())]).id,
            "file-bot"
        );
        let r = refused(&[("x-commit-owner", "ｈｕｍａｎ:alice".as_bytes())]);
        assert!(format!("{:?}", r.metadata).contains("must start with"));
    }

    #[test]
    fn refuses_case_games_and_bad_prefixes() {
        for v in [
            "HUMAN:alice",
            "Human:alice",
            "alice",
            "human :alice",
            "human:",
            "human:   ",
            "",
        ] {
            refused(&[("x-commit-owner", v.as_bytes())]);
        }
        refused(&[("x-agent-id", b"nightly-syncer")]);
        refused(&[("x-agent-id", b"AGENT:x")]);
        refused(&[("x-policy-version", b"v3")]);
    }

    #[test]
    fn refuses_control_format_and_long_values() {
        for v in [
            "human:al\u{85}ice",
            "human:al\tice",
            "human:al\u{200b}ice",
            "human:alice\u{202e}moc.elpmaxe",
            "human:a\u{2028}b",
            "human:a\u{e0041}",
        ] {
            refused(&[("x-commit-owner", v.as_bytes())]);
        }
        refused(&[("x-commit-owner", b"human:\xff\xfe")]);
        for s in ["a\r\nb", "a\0b", "a\u{7f}b", "a\nb"] {
            assert_eq!(sanitize_principal(s, "h"), Err(OwnerError::Control("h")));
        }
        assert!(http::HeaderValue::from_bytes(b"human:a\r\nx-commit-owner: human:b").is_err());
        let long = format!("human:{}", "a".repeat(10 * 1024));
        refused(&[("x-commit-owner", long.as_bytes())]);
        let max = format!("human:{}", "a".repeat(256));
        assert_eq!(
            owner_of(&[("x-commit-owner", max.as_bytes())]).id.len(),
            256
        );
        let over = format!("human:{}", "a".repeat(257));
        refused(&[("x-commit-owner", over.as_bytes())]);
        let joined = [
            ("x-policy-name", "p".repeat(200)),
            ("x-policy-version", "v".repeat(60)),
        ];
        let h: Vec<(&str, &[u8])> = joined.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        refused(&h);
    }

    #[test]
    fn duplicates_and_malformed_never_fall_back() {
        let r = refused(&[
            ("x-commit-owner", b"human:alice"),
            ("x-commit-owner", b"human:mallory"),
        ]);
        assert!(format!("{:?}", r.metadata).contains("more than once"));
        // A malformed header is refused even though another one is valid.
        refused(&[
            ("x-commit-owner", b"HUMAN:alice"),
            ("x-agent-id", b"agent:bot"),
        ]);
    }

    #[test]
    fn trusted_network_only_without_headers() {
        let s = check(&[], Some("policy:internal-batch")).unwrap();
        let o = s.owner.unwrap();
        assert_eq!((o.kind, o.method), (OwnerType::Policy, "trusted_network"));
        let s = check(
            &[("x-agent-id", b"agent:bot")],
            Some("policy:internal-batch"),
        )
        .unwrap();
        assert_eq!(s.owner.unwrap().id, "bot");
        let r = check(&[], None).unwrap_err();
        assert!(r.metadata.contains_key("hint"));
        let mut state = AdmissionState::default();
        run(
            &OwnerResolution { required: false },
            &request(&[], b""),
            &mut state,
        )
        .unwrap();
        assert!(state.owner.is_none());
        assert!(parse_owner_spec("root:x", "t").is_err());
    }
}
