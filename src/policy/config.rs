//! The `[policy]` table of the TOML config as parsed, and the checks of single
//! values (patterns, rule names, rates); the parent module assembles the checks.
//!
//! Guarantees: every table denies unknown keys; an absent section is `None` (check
//! off); in a present section `enabled` defaults to `true`. Defaults:
//! `owner_resolution.required = true`, `rate_limit.max_tracked_keys = 65536`, a
//! missing `*_burst` is the rate rounded up, `scope_drift.chars_per_token = 8`,
//! `scope_drift.length_slack_chars = 512`, `regex_output.rules[].window = 1024`.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::admission::rate_limit::Rate;
use crate::admission::regex_content::Action;
use crate::inspection::scope_drift::ScopeDriftSettings;

fn yes() -> bool {
    true
}

/// `[policy]` table of the TOML config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub owner_resolution: Option<OwnerResolutionConfig>,
    pub trusted_networks: Option<TrustedNetworksConfig>,
    pub classification_gate: Option<ToggleConfig>,
    pub rate_limit: Option<RateLimitConfig>,
    pub regex_content: Option<RegexContentConfig>,
    pub scope_drift: Option<ScopeDriftConfig>,
    pub regex_output: Option<RegexOutputConfig>,
}

/// `[policy.owner_resolution]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerResolutionConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refuse unattributed requests (403); `false` lets them through unresolved.
    #[serde(default = "yes")]
    pub required: bool,
}

/// `[policy.trusted_networks]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedNetworksConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub cidrs: Vec<String>,
    /// `human:<id>`, `agent:<id>` or `policy:<id>`.
    pub owner: String,
}

/// A section whose only setting is `enabled` (`[policy.classification_gate]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToggleConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// `[policy.rate_limit]`. A burst left out defaults to the rate rounded up.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub per_owner_rps: Option<f64>,
    pub per_owner_burst: Option<u32>,
    pub per_ip_rps: Option<f64>,
    pub per_ip_burst: Option<u32>,
    #[serde(default = "default_max_keys")]
    pub max_tracked_keys: usize,
}

fn default_max_keys() -> usize {
    65_536
}

/// `[policy.regex_content]` with `[[policy.regex_content.rules]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexContentConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub rules: Vec<ContentRuleConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentRuleConfig {
    pub name: String,
    pub pattern: String,
    pub action: Action,
}

/// `[policy.scope_drift]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDriftConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_chars_per_token")]
    pub chars_per_token: u64,
    #[serde(default = "default_slack")]
    pub length_slack_chars: u64,
}

fn default_chars_per_token() -> u64 {
    ScopeDriftSettings::default().chars_per_token
}

fn default_slack() -> u64 {
    ScopeDriftSettings::default().length_slack_chars
}

/// `[policy.regex_output]` with `[[policy.regex_output.rules]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexOutputConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub rules: Vec<OutputRuleConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRuleConfig {
    pub name: String,
    pub pattern: String,
    /// Longest match found across chunk boundaries, in characters.
    pub window: Option<usize>,
}

/// Compiles an operator pattern; the message is one line.
pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
    let re = RegexBuilder::new(pattern)
        .size_limit(4 << 20)
        .build()
        .map_err(|e| {
            let text = e.to_string();
            let line = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid regex");
            format!("invalid regex: {}", line.trim())
        })?;
    if re.is_match("") {
        return Err("pattern matches the empty string".into());
    }
    Ok(re)
}

/// Checks one rule's name (unique within `seen`) and compiles its pattern.
pub(super) fn rule(
    errs: &mut Vec<String>,
    at: &str,
    name: &str,
    pattern: &str,
    seen: &mut Vec<String>,
) -> Option<Regex> {
    let charset = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if !(1..=64).contains(&name.len()) || !name.bytes().all(charset) {
        errs.push(format!(
            "{at}.name: must be 1 to 64 characters of A-Z a-z 0-9 _ - ."
        ));
    } else if seen.iter().any(|s| s == name) {
        errs.push(format!("{at}.name: duplicate rule name"));
    }
    seen.push(name.to_owned());
    compile(pattern)
        .map_err(|e| errs.push(format!("{at}.pattern: {e}")))
        .ok()
}

pub(super) fn rate(
    errs: &mut Vec<String>,
    key: &str,
    rps: Option<f64>,
    burst: Option<u32>,
) -> Option<Rate> {
    let p = "policy.rate_limit";
    match (rps, burst) {
        (None, None) => None,
        (None, Some(_)) => {
            errs.push(format!("{p}.{key}_burst: set without {key}_rps"));
            None
        }
        (Some(r), b) => {
            if !(r.is_finite() && r > 0.0 && r <= 1e9) {
                errs.push(format!("{p}.{key}_rps: must be > 0 and at most 1e9"));
                return None;
            }
            let b = b.unwrap_or(r.ceil().clamp(1.0, f64::from(u32::MAX)) as u32);
            let rate = Rate::new(r, b);
            if rate.is_none() {
                errs.push(format!("{p}.{key}_burst: must be > 0"));
            }
            rate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        policy: PolicyConfig,
    }

    #[test]
    fn unknown_keys_and_bad_values_do_not_parse() {
        for bad in [
            "[policy.owner_resolution]\nrequird = true\n",
            "[policy.nope]\n",
            "[[policy.regex_content.rules]]\nname='a'\npattern='b'\naction='allow'\n",
            "[[policy.regex_content.rules]]\nname='a'\npattern='b'\n",
            "[policy.rate_limit]\nper_ip_rps = 5\nper_ip_burst = -3\n",
            "[policy.trusted_networks]\ncidrs = \"10.0.0.0/8\"\nowner = \"agent:x\"\n",
            "[policy.scope_drift]\nchars_per_token = \"8\"\n",
        ] {
            assert!(toml::from_str::<File>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_of_present_sections() {
        let text = "[policy.owner_resolution]\n[policy.rate_limit]\nper_ip_rps = 5\n\
            [policy.scope_drift]\n[[policy.regex_content.rules]]\nname='a'\npattern='b'\naction='redact'\n";
        let cfg = toml::from_str::<File>(text).unwrap().policy;
        let o = cfg.owner_resolution.unwrap();
        assert!(o.enabled && o.required);
        let r = cfg.rate_limit.unwrap();
        assert_eq!(
            (r.per_ip_rps, r.per_ip_burst, r.max_tracked_keys),
            (Some(5.0), None, 65_536)
        );
        let s = cfg.scope_drift.unwrap();
        assert_eq!((s.chars_per_token, s.length_slack_chars), (8, 512));
        assert_eq!(cfg.regex_content.unwrap().rules[0].action, Action::Redact);
        assert!(cfg.classification_gate.is_none() && cfg.regex_output.is_none());
    }
}
