//! `signet audit append`: record an operator event in the log, safely beside a running
//! writer that uses the multi-process lock.
//!
//! Guarantees: the entry is chained, sealed with the configured key and fsync'd before
//! its `<_seq> <entry_id>` is printed; the log is opened in multi-process mode, so the
//! append takes the advisory lock and reads only the log's last line. A gateway running
//! in single-writer mode holds the lock for its lifetime and this command then fails
//! (exit 75) instead of interleaving.

use std::path::PathBuf;

use clap::Args;
use signet_audit::journal::{Journal, JournalError, JournalOptions, Sharing};
use signet_audit::{Decision, EntryDraft, OwnerType};

use super::secrets::{KeyArgs, keys};
use crate::exit::{self, CmdResult, Failure};

/// Temporary failure: try again later.
const TEMPFAIL: u8 = 75;

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// The audit log (JSONL); created 0600 if missing
    #[arg(env = "SIGNET_AUDIT_LOG_PATH")]
    pub log: PathBuf,
    /// check_name of the entry
    #[arg(long, default_value = "operator.note")]
    pub check_name: String,
    /// Human-readable reason
    #[arg(long)]
    pub reason: String,
    /// allow, block, redact or escalate
    #[arg(long, default_value = "escalate")]
    pub decision: String,
    /// Owner as human:ID, agent:ID or policy:ID
    #[arg(long)]
    pub owner: Option<String>,
    /// Extra metadata KEY=VALUE (string values; repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Append this many entries, each in its own locked, fsync'd write
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    #[command(flatten)]
    pub keys: KeyArgs,
}

fn draft(a: &AppendArgs) -> Result<EntryDraft, Failure> {
    let decision = Decision::parse(&a.decision).ok_or_else(|| {
        Failure::usage(format!(
            "--decision {:?}: expected allow, block, redact or escalate",
            a.decision
        ))
    })?;
    let mut d = EntryDraft::new(&a.check_name, decision, &a.reason);
    if let Some(o) = &a.owner {
        let (t, id) = o
            .split_once(':')
            .ok_or_else(|| Failure::usage("--owner: expected human:ID, agent:ID or policy:ID"))?;
        d.owner_type = OwnerType::parse(t)
            .filter(|t| *t != OwnerType::Unresolved)
            .ok_or_else(|| Failure::usage("--owner: expected human:ID, agent:ID or policy:ID"))?;
        if id.is_empty() {
            return Err(Failure::usage("--owner: empty id"));
        }
        d.owner_id = id.to_owned();
        d.approval_chain = vec![o.clone()];
    }
    for m in &a.meta {
        let (k, v) = m
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--meta {m:?}: expected KEY=VALUE")))?;
        if k.is_empty() || k.starts_with('_') {
            return Err(Failure::usage(format!(
                "--meta {k:?}: keys must be non-empty and not start with '_'"
            )));
        }
        d.metadata.insert(k.to_owned(), v.into());
    }
    Ok(d)
}

pub fn run(a: &AppendArgs) -> CmdResult {
    let template = draft(a)?;
    let k = keys(&a.keys)?;
    let key = k.ring.get(&k.id).cloned().ok_or_else(|| {
        Failure::usage("no HMAC key: set SIGNET_HMAC_SECRET or pass --hmac-secret-file FILE")
    })?;
    let opts = JournalOptions {
        sharing: Sharing::MultiProcess,
        ..JournalOptions::default()
    };
    let mut j = Journal::open(&a.log, key, opts).map_err(journal_failure)?;
    for t in j.recovered() {
        eprintln!(
            "signet: moved a torn last line ({} bytes) aside to {}",
            t.bytes,
            t.saved_to.display()
        );
    }
    for i in 0..a.count {
        let mut d = template.clone();
        if i > 0 {
            d.entry_id = signet_audit::util::new_uuid_v4();
            d.ts_ns = signet_audit::util::now_ns();
        }
        let c = j.append(d).map_err(journal_failure)?;
        outln!("{} {}", c.seq, c.entry_id);
    }
    Ok(exit::OK)
}

fn journal_failure(e: JournalError) -> Failure {
    let code = match e {
        JournalError::Locked => TEMPFAIL,
        JournalError::TailMacMismatch | JournalError::TailUnreadable(_) => exit::INTEGRITY,
        JournalError::Symlink | JournalError::NotRegular => exit::USAGE,
        _ => exit::CANT_CREATE,
    };
    Failure::new(code, format!("cannot append: {e}"))
}
