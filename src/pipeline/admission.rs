//! The admission stage: runs the policy's admission checks, in order, over the held
//! request, and records what they established.
//!
//! Guarantees:
//! - The first refusal stops the request (unless shadow mode only records it), with
//!   the owner and metadata found so far in its entry; a refused request never
//!   reaches the upstream.
//! - What the checks established (owner, metadata, redactions, would-be refusals in
//!   shadow mode) goes to the facts, so every later entry of the request carries it.

use bytes::Bytes;
use signet_audit::json::{Map, Value};

use super::facts::Facts;
use super::stop::{Stage, Stop};
use crate::admission::{self, AdmissionState};
use crate::gateway::Gateway;
use crate::inspection::InspectCtx;
use crate::policy::Policy;
use crate::verdict::{Level, Refusal};

/// An admitted request: the body to forward (rewritten when a check redacted it),
/// what inspection needs to know, and the would-be refusals of shadow mode.
pub struct Admitted {
    pub forward: Bytes,
    pub ctx: InspectCtx,
    pub shadow: Vec<Refusal>,
}

pub fn run(
    gw: &Gateway,
    policy: &Policy,
    parts: &http::request::Parts,
    body: Bytes,
    facts: &mut Facts,
) -> Result<Admitted, Stop> {
    let mut state = AdmissionState::default();
    let mut shadow: Vec<Refusal> = Vec::new();
    let areq = admission::Request {
        headers: &parts.headers,
        client_ip: facts.client.ip,
        body: &body,
    };
    for check in &policy.admission {
        if let Err(r) = check.check(&areq, &mut state) {
            tracing::debug!(entry_id = %facts.entry_id, check = check.name(), status = r.status, "admission refused");
            if gw.cfg.shadow {
                shadow.push(r);
                continue;
            }
            facts.owner = state.owner;
            facts.meta = state.metadata;
            return Err(Stop::Refused(Stage::Admission, r));
        }
    }
    facts.owner = state.owner;
    facts.meta = state.metadata;
    if !state.redactions.is_empty() {
        facts.meta.insert(
            "redactions".into(),
            Value::Array(
                state
                    .redactions
                    .iter()
                    .map(|s| Value::from(s.as_str()))
                    .collect(),
            ),
        );
    }
    record_shadow(&mut facts.meta, &shadow);
    Ok(Admitted {
        forward: state.body_rewrite.unwrap_or(body),
        ctx: InspectCtx {
            classification: state.classification.unwrap_or(Level::Unclass),
            max_tokens: state.max_tokens,
        },
        shadow,
    })
}

/// Records would-be refusals (shadow mode) in the entry's metadata.
pub fn record_shadow(meta: &mut Map, shadow: &[Refusal]) {
    if shadow.is_empty() {
        return;
    }
    let items = shadow
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("check".into(), r.check.into());
            m.insert("reason".into(), r.reason.as_str().into());
            m.insert("status".into(), Value::from(u64::from(r.status)));
            Value::Object(m)
        })
        .collect();
    meta.insert("shadow_refusals".into(), Value::Array(items));
}
