//! Policy reload on SIGHUP, without dropping connections or breaking the chain.
//!
//! Guarantees:
//! - Each request takes one snapshot of the policy ([`crate::policy::PolicyCell::current`]) before
//!   admission and keeps it to its end, so admission and inspection of one request
//!   always run the same policy; in-flight requests and open connections are untouched
//!   by a reload.
//! - On SIGHUP the configuration is read again exactly as at start (flags, `SIGNET_*`
//!   environment, the config file). Only `[policy]` takes effect; other settings
//!   (listener, upstream, log, keys, body cap, `[dangerous]`) need a restart: when they
//!   differ the reload still applies the policy, says so in the log, and records
//!   `restart_required` in its entry.
//! - Every reload attempt is audited as a `policy.reload` entry in the same chain
//!   (decision `allow` when applied, `block` when refused, with the errors). A new
//!   policy is swapped in only after its entry is durable: when the journal cannot
//!   write, the old policy stays in force.
//! - An invalid configuration changes nothing: the previous policy keeps running.
//! - Rate-limit buckets belong to the policy, so they start full after a reload.

use std::sync::Arc;

use signet_audit::json::Value;
use signet_audit::{Decision, EntryDraft};

use crate::config::{self, Config, ServeArgs};
use crate::gateway::Gateway;
use crate::policy::Policy;

/// Builds the policy a configuration asks for (`[dangerous] open_policy`, `[policy]`,
/// or the safe default), with `body_cap` as the request body limit.
pub fn build_policy(cfg: &Config, body_cap: usize) -> Result<Policy, Vec<String>> {
    if cfg.open_policy {
        return Ok(Policy {
            admission: Vec::new(),
            inspection: Vec::new().into(),
        });
    }
    match &cfg.policy {
        Some(p) => Policy::build(p, body_cap),
        None => Ok(Policy::default_safe(body_cap)),
    }
}

/// Where a reload reads its configuration: the flags `signet serve` started with.
#[derive(Clone, Debug)]
pub struct Source {
    pub args: ServeArgs,
}

/// Takes over SIGHUP (whose default action ends the process). Call it before the
/// gateway announces itself, so a reload sent right after start-up is never fatal.
pub fn take_sighup() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: policy reload is off");
            None
        }
    }
}

/// Reloads on every SIGHUP until the process ends.
pub async fn on_sighup(gw: Arc<Gateway>, source: Source, mut hup: tokio::signal::unix::Signal) {
    while hup.recv().await.is_some() {
        reload(&gw, &source).await;
    }
}

/// What a reload found, for its entry and the log.
struct Outcome {
    decision: Decision,
    reason: String,
    meta: signet_audit::json::Map,
    policy: Option<Policy>,
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect())
}

fn names(p: &Policy) -> (Value, Value) {
    let a: Vec<String> = p.admission.iter().map(|c| c.name().to_owned()).collect();
    let i: Vec<String> = p.inspection.iter().map(|c| c.name().to_owned()).collect();
    (strings(&a), strings(&i))
}

/// The settings a reload cannot change, as text (secrets are redacted by `Debug`).
fn restart_only(cfg: &Config) -> String {
    let mut c = cfg.clone();
    c.policy = None;
    format!("{c:?}")
}

fn evaluate(gw: &Gateway, source: &Source) -> Outcome {
    let mut meta = signet_audit::json::Map::new();
    meta.insert("event".into(), "policy_reload".into());
    meta.insert("signal".into(), "SIGHUP".into());
    if let Some(f) = &config::config_path(&source.args, &config::ProcessEnv) {
        meta.insert("config_file".into(), f.display().to_string().into());
        if let Ok(bytes) = std::fs::read(f) {
            meta.insert(
                "config_sha256".into(),
                crate::pipeline::fingerprint(&bytes).into(),
            );
        }
    }
    let refused = |mut meta: signet_audit::json::Map, errors: Vec<String>| {
        let n = errors.len();
        meta.insert("errors".into(), strings(&errors));
        Outcome {
            decision: Decision::Block,
            reason: format!(
                "policy reload refused ({n} error{}); the previous policy stays in force",
                if n == 1 { "" } else { "s" }
            ),
            meta,
            policy: None,
        }
    };
    let cfg = match config::load(&source.args, &config::ProcessEnv) {
        Ok((cfg, _warnings)) => cfg,
        Err(errors) => return refused(meta, errors),
    };
    let policy = match build_policy(&cfg, gw.cfg.max_request_body_bytes) {
        Ok(p) => p,
        Err(errors) => return refused(meta, errors),
    };
    let (a, i) = names(&policy);
    meta.insert("admission_checks".into(), a);
    meta.insert("inspection_checks".into(), i);
    let restart = restart_only(&cfg) != restart_only(&gw.cfg);
    meta.insert("restart_required".into(), restart.into());
    Outcome {
        decision: Decision::Allow,
        reason: if restart {
            "policy reloaded; other changed settings take effect only after a restart".into()
        } else {
            "policy reloaded".into()
        },
        meta,
        policy: Some(policy),
    }
}

/// One reload: evaluate, audit, then swap. Returns whether a new policy is in force.
pub async fn reload(gw: &Gateway, source: &Source) -> bool {
    let out = evaluate(gw, source);
    let mut d = EntryDraft::new("policy.reload", out.decision, &out.reason);
    d.metadata = out.meta;
    let committed = gw.committer.commit(d).await;
    match (committed, out.policy) {
        (Ok(c), Some(p)) => {
            let (a, i) = (p.admission.len(), p.inspection.len());
            gw.policy.replace(p);
            tracing::info!(
                entry_id = %c.committed.entry_id,
                admission_checks = a,
                inspection_checks = i,
                "{}",
                out.reason
            );
            true
        }
        (Ok(c), None) => {
            tracing::error!(entry_id = %c.committed.entry_id, "{}", out.reason);
            false
        }
        (Err(e), _) => {
            tracing::error!(error = %e, "policy reload not applied: its audit entry could not be written");
            false
        }
    }
}
