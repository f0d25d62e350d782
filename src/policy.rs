//! The policy: which admission and inspection checks run, built from the `[policy]`
//! table of the TOML config.
//!
//! Guarantees:
//! - The config is parsed strictly (`deny_unknown_fields` at every level), then
//!   [`PolicyConfig::validate`] reports every problem at once, each prefixed with its
//!   key path (`policy.rate_limit.per_owner_rps: must be > 0`,
//!   `policy.regex_content.rules[1].pattern: ...`). [`Policy::build`] runs the same
//!   code and returns those messages instead of a policy, so what validates builds.
//! - A section that is absent means that check is off; a present section is on
//!   unless `enabled = false`. `body_cap` is always on (its cap is
//!   `SIGNET_MAX_REQUEST_BODY_BYTES`, and it also records `max_tokens` for
//!   `scope_drift`). Without a config file the gateway runs [`Policy::default_safe`].
//! - Admission order is fixed: trusted_networks, owner_resolution, body_cap,
//!   classification_gate, rate_limit, regex_content; inspection: scope_drift,
//!   regex_output.

use std::sync::{Arc, RwLock};

use crate::admission::AdmissionCheck;
use crate::admission::body_cap::BodyCap;
use crate::admission::classification::ClassificationGate;
use crate::admission::owner::{OwnerResolution, parse_owner_spec};
use crate::admission::rate_limit::{RateLimit, SystemClock};
use crate::admission::regex_content::{ContentRule, RegexContent};
use crate::admission::trust::{Cidr, TrustedNetworks};
use crate::inspection::regex_output::{DEFAULT_WINDOW_CHARS, OutputRule, RegexOutput};
use crate::inspection::scope_drift::{ScopeDrift, ScopeDriftSettings};
use crate::inspection::{Checks, InspectionCheck};

pub mod config;

use config::{rate, rule};

pub use config::PolicyConfig;

impl PolicyConfig {
    /// Every problem with the policy, as messages naming the key.
    pub fn validate(&self) -> Vec<String> {
        assemble(self, 0).1
    }
}

/// The checks the pipeline runs, in order.
pub struct Policy {
    pub admission: Vec<Box<dyn AdmissionCheck>>,
    /// Shared with every response being inspected under this policy.
    pub inspection: Checks,
}

/// The policy in force; swapped whole on reload (SIGHUP), while each request keeps the
/// snapshot it took before admission.
pub struct PolicyCell(RwLock<Arc<Policy>>);

impl PolicyCell {
    pub fn new(p: Policy) -> Self {
        PolicyCell(RwLock::new(Arc::new(p)))
    }

    /// The policy for one request (a cheap `Arc` clone).
    pub fn current(&self) -> Arc<Policy> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `p` in force for the requests that start from now on.
    pub fn replace(&self, p: Policy) {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(p);
    }
}

impl Policy {
    /// Builds the checks. `body_cap` is the request body limit in bytes.
    pub fn build(cfg: &PolicyConfig, body_cap: usize) -> Result<Policy, Vec<String>> {
        let (policy, errors) = assemble(cfg, body_cap);
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }

    /// The policy without a config file: owner required, body cap, classification
    /// gate, scope drift on every response.
    pub fn default_safe(body_cap: usize) -> Policy {
        Policy {
            admission: vec![
                Box::new(OwnerResolution { required: true }),
                Box::new(BodyCap { cap: body_cap }),
                Box::new(ClassificationGate),
            ],
            inspection: Checks::from(vec![
                Box::new(ScopeDrift::new(ScopeDriftSettings::default()))
                    as Box<dyn InspectionCheck>,
            ]),
        }
    }
}

/// Builds whatever is valid and collects every problem.
fn assemble(cfg: &PolicyConfig, body_cap: usize) -> (Policy, Vec<String>) {
    let mut errs = Vec::new();
    let mut admission: Vec<Box<dyn AdmissionCheck>> = Vec::new();
    let mut inspection: Vec<Box<dyn InspectionCheck>> = Vec::new();
    let owner_on = cfg.owner_resolution.as_ref().filter(|o| o.enabled);

    if let Some(t) = cfg.trusted_networks.as_ref().filter(|t| t.enabled) {
        let p = "policy.trusted_networks";
        if owner_on.is_none() {
            errs.push(format!(
                "{p}: needs [policy.owner_resolution] enabled (a network only supplies an owner)"
            ));
        }
        if t.cidrs.is_empty() {
            errs.push(format!("{p}.cidrs: must list at least one network"));
        }
        let mut nets = Vec::new();
        for (i, c) in t.cidrs.iter().enumerate() {
            match c.parse::<Cidr>() {
                Ok(n) => nets.push(n),
                Err(e) => errs.push(format!("{p}.cidrs[{i}]: `{c}`: {e}")),
            }
        }
        match parse_owner_spec(&t.owner, "trusted_network") {
            Ok(o) => admission.push(Box::new(TrustedNetworks::new(nets, o))),
            Err(e) => errs.push(format!("{p}.owner: {e}")),
        }
    }
    if let Some(o) = owner_on {
        admission.push(Box::new(OwnerResolution {
            required: o.required,
        }));
    }
    admission.push(Box::new(BodyCap { cap: body_cap }));
    if cfg.classification_gate.as_ref().is_some_and(|c| c.enabled) {
        admission.push(Box::new(ClassificationGate));
    }
    if let Some(r) = cfg.rate_limit.as_ref().filter(|r| r.enabled) {
        let per_owner = rate(&mut errs, "per_owner", r.per_owner_rps, r.per_owner_burst);
        let per_ip = rate(&mut errs, "per_ip", r.per_ip_rps, r.per_ip_burst);
        if r.per_owner_rps.is_none() && r.per_ip_rps.is_none() {
            errs.push("policy.rate_limit: set per_owner_rps, per_ip_rps or both".into());
        }
        if r.max_tracked_keys == 0 {
            errs.push("policy.rate_limit.max_tracked_keys: must be > 0".into());
        }
        admission.push(Box::new(RateLimit::new(
            per_owner,
            per_ip,
            r.max_tracked_keys,
            Arc::new(SystemClock),
        )));
    }
    if let Some(c) = cfg.regex_content.as_ref().filter(|c| c.enabled) {
        let p = "policy.regex_content.rules";
        if c.rules.is_empty() {
            errs.push(format!("{p}: must list at least one rule"));
        }
        let mut seen = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in c.rules.iter().enumerate() {
            if let Some(regex) = rule(
                &mut errs,
                &format!("{p}[{i}]"),
                &r.name,
                &r.pattern,
                &mut seen,
            ) {
                let (name, action) = (r.name.clone(), r.action);
                rules.push(ContentRule {
                    name,
                    regex,
                    action,
                });
            }
        }
        admission.push(Box::new(RegexContent::new(rules)));
    }
    if let Some(s) = cfg.scope_drift.as_ref().filter(|s| s.enabled) {
        if !(1..=1000).contains(&s.chars_per_token) {
            errs.push("policy.scope_drift.chars_per_token: must be from 1 to 1000".into());
        }
        if s.length_slack_chars > 1_000_000_000 {
            errs.push("policy.scope_drift.length_slack_chars: must be at most 1000000000".into());
        }
        inspection.push(Box::new(ScopeDrift::new(ScopeDriftSettings {
            chars_per_token: s.chars_per_token,
            length_slack_chars: s.length_slack_chars,
        })));
    }
    if let Some(o) = cfg.regex_output.as_ref().filter(|o| o.enabled) {
        let p = "policy.regex_output.rules";
        if o.rules.is_empty() {
            errs.push(format!("{p}: must list at least one rule"));
        }
        let mut seen = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in o.rules.iter().enumerate() {
            let window_chars = r.window.unwrap_or(DEFAULT_WINDOW_CHARS);
            if !(16..=65_536).contains(&window_chars) {
                errs.push(format!(
                    "{p}[{i}].window: must be from 16 to 65536 characters"
                ));
            }
            if let Some(regex) = rule(
                &mut errs,
                &format!("{p}[{i}]"),
                &r.name,
                &r.pattern,
                &mut seen,
            ) {
                let name = r.name.clone();
                rules.push(OutputRule {
                    name,
                    regex,
                    window_chars,
                });
            }
        }
        inspection.push(Box::new(RegexOutput::new(rules)));
    }
    (
        Policy {
            admission,
            inspection: inspection.into(),
        },
        errs,
    )
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        policy: PolicyConfig,
    }

    fn parse(toml_text: &str) -> PolicyConfig {
        toml::from_str::<File>(toml_text).unwrap().policy
    }

    fn names(p: &Policy) -> (Vec<&str>, Vec<&str>) {
        (
            p.admission.iter().map(|c| c.name()).collect(),
            p.inspection.iter().map(|c| c.name()).collect(),
        )
    }

    const FULL: &str = r#"
[policy.owner_resolution]
required = true
[policy.trusted_networks]
cidrs = ["10.0.0.0/8", "fd00::/8"]
owner = "agent:batch"
[policy.classification_gate]
enabled = true
[policy.rate_limit]
per_owner_rps = 10
per_owner_burst = 20
per_ip_rps = 0.5
[[policy.regex_content.rules]]
name = "ssn"
pattern = '\b\d{3}-\d{2}-\d{4}\b'
action = "redact"
[[policy.regex_content.rules]]
name = "jailbreak"
pattern = '(?i)ignore previous instructions'
action = "block"
[policy.scope_drift]
chars_per_token = 6
[[policy.regex_output.rules]]
name = "api_key"
pattern = 'sk-[A-Za-z0-9]{20,}'
window = 256
"#;

    #[test]
    fn full_config_builds_in_order() {
        let cfg = parse(FULL);
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        let p = Policy::build(&cfg, 1024).unwrap();
        let (a, i) = names(&p);
        assert_eq!(
            a,
            [
                "trusted_networks",
                "owner_resolution",
                "body_cap",
                "classification_gate",
                "rate_limit",
                "regex_content"
            ]
        );
        assert_eq!(i, ["scope_drift", "regex_output"]);
    }

    #[test]
    fn absent_sections_are_off_and_defaults() {
        let p = Policy::build(&PolicyConfig::default(), 10).unwrap();
        assert_eq!(names(&p), (vec!["body_cap"], vec![]));
        let cfg = parse("[policy.scope_drift]\n[policy.classification_gate]\nenabled = false\n");
        assert_eq!(cfg.scope_drift.as_ref().map(|s| s.chars_per_token), Some(8));
        assert_eq!(
            names(&Policy::build(&cfg, 10).unwrap()),
            (vec!["body_cap"], vec!["scope_drift"])
        );
        let safe = Policy::default_safe(10);
        assert_eq!(
            names(&safe),
            (
                vec!["owner_resolution", "body_cap", "classification_gate"],
                vec!["scope_drift"]
            )
        );
    }

    #[test]
    fn reports_every_problem_with_its_key() {
        let cfg = parse(
            r#"
[policy.trusted_networks]
cidrs = ["10.0.0.1/8", "nope", "::/200"]
owner = "root:x"
[policy.rate_limit]
per_owner_rps = 0
per_ip_burst = 5
max_tracked_keys = 0
[[policy.regex_content.rules]]
name = "bad name!"
pattern = '('
action = "block"
[[policy.regex_content.rules]]
name = "dup"
pattern = 'a*'
action = "redact"
[[policy.regex_content.rules]]
name = "dup"
pattern = 'x'
action = "redact"
[policy.scope_drift]
chars_per_token = 0
[[policy.regex_output.rules]]
name = "w"
pattern = 'x'
window = 4
"#,
        );
        let errs = cfg.validate();
        for want in [
            "policy.trusted_networks: needs [policy.owner_resolution]",
            "policy.trusted_networks.cidrs[0]: `10.0.0.1/8`: address has bits set beyond the /8 prefix",
            "policy.trusted_networks.cidrs[1]: `nope`: not an IPv4 or IPv6 address",
            "policy.trusted_networks.cidrs[2]: `::/200`: prefix length must be a number from 0 to 128",
            "policy.trusted_networks.owner: owner must be",
            "policy.rate_limit.per_owner_rps: must be > 0",
            "policy.rate_limit.per_ip_burst: set without per_ip_rps",
            "policy.rate_limit.max_tracked_keys: must be > 0",
            "policy.regex_content.rules[0].name: must be 1 to 64",
            "policy.regex_content.rules[0].pattern: invalid regex: error: unclosed group",
            "policy.regex_content.rules[1].pattern: pattern matches the empty string",
            "policy.regex_content.rules[2].name: duplicate rule name",
            "policy.scope_drift.chars_per_token: must be from 1 to 1000",
            "policy.regex_output.rules[0].window: must be from 16 to 65536",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(want)),
                "missing {want:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), 14, "{errs:#?}");
        assert_eq!(Policy::build(&cfg, 10).err(), Some(errs));
    }

    #[test]
    fn sections_without_their_essentials_are_errors() {
        assert!(
            parse("[policy.rate_limit]\nper_ip_rps = 5\n")
                .validate()
                .is_empty()
        );
        assert!(!parse("[policy.rate_limit]\n").validate().is_empty());
        assert!(!parse("[policy.regex_content]\n").validate().is_empty());
    }
}
