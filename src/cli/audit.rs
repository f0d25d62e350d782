//! `signet audit`: verify a log, read it for people, append an operator entry.
//!
//! Guarantees: `verify`, `show`, `tail` and `count` open the log read-only and never
//! change it. `verify` exits 0 only when every check it ran passed, 2 on any integrity
//! break, 64 on usage errors (no key at all, flags that need another), 66 when an input
//! cannot be read; it always says whether truncation of the tail could have been
//! detected, and says plainly when MACs were not checked (public keys only).
//!
//! With an HMAC key it checks the chain ([`verify::verify`]); with `--log-key` the
//! signed checkpoints and their anchors against the log ([`tlog`]); both when both are
//! given.

mod report;
mod tlog;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use signet_audit::verify;

use super::read;
use super::secrets::{KeyArgs, key_ring};
use crate::exit::{self, CmdResult, Failure};

pub use tlog::{load_log_key, load_roots};

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check every line's MAC, chain link, sequence and form; with --log-key, the signed
    /// checkpoints and their RFC 3161 anchors (public keys only)
    Verify(VerifyArgs),
    /// Print one entry, pretty
    Show(read::ShowArgs),
    /// Print the last entries
    Tail(read::TailArgs),
    /// Count entries by check, owner or decision
    Count(read::CountArgs),
    /// Append an operator entry through the multi-process lock
    Append(super::append::AppendArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The audit log (JSONL)
    #[arg(env = "SIGNET_AUDIT_LOG_PATH")]
    pub log: PathBuf,
    /// Print a machine-readable JSON report on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The log's signed-note verifier key (text from `signet keys vkey`, or a file
    /// holding it): check signed checkpoints with public keys only
    #[arg(long, value_name = "VKEY|FILE")]
    pub log_key: Option<String>,
    /// Signed checkpoints [default: <LOG>.checkpoints, when it exists]; needs --log-key
    #[arg(long, value_name = "FILE")]
    pub checkpoints: Option<PathBuf>,
    /// PEM root certificate(s) of the TSA: every checkpoint must carry a valid RFC 3161
    /// anchor, and entries' signet-style `_anchor`s are checked (with an HMAC key)
    #[arg(long, value_name = "PEM")]
    pub tsa_root: Option<PathBuf>,
    /// RFC 3161 anchors of the checkpoints [default: <LOG>.anchors, when it exists];
    /// needs --log-key and --tsa-root
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// Accept a log that no signed checkpoint covers (one written before checkpoints
    /// were turned on); without it, with --log-key, such a log is an integrity failure
    #[arg(long)]
    pub allow_no_checkpoints: bool,
    /// A signed checkpoint kept elsewhere (off the log's volume): the log must be a
    /// consistent extension of it; needs --log-key
    #[arg(long, value_name = "FILE", conflicts_with = "checkpoint_state")]
    pub trusted_checkpoint: Option<PathBuf>,
    /// The last verified checkpoint, kept off the log's volume by a periodic job: checked
    /// like --trusted-checkpoint when the file exists, and replaced by the newest
    /// verified checkpoint after a clean verify (created on the first); needs --log-key
    #[arg(long, value_name = "FILE")]
    pub checkpoint_state: Option<PathBuf>,
}

pub fn run(cmd: AuditCmd) -> CmdResult {
    match cmd {
        AuditCmd::Verify(a) => run_verify(&a),
        AuditCmd::Show(a) => read::show(&a),
        AuditCmd::Tail(a) => read::tail(&a),
        AuditCmd::Count(a) => read::count(&a),
        AuditCmd::Append(a) => super::append::run(&a),
    }
}

/// Opens a log for reading, mapping failures to exit 66.
pub fn open_log(path: &Path) -> Result<BufReader<File>, Failure> {
    let f = File::open(path).map_err(|e| {
        Failure::new(
            exit::NO_INPUT,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Failure::new(
            exit::NO_INPUT,
            format!("{} is a directory", path.display()),
        ));
    }
    Ok(BufReader::with_capacity(1 << 16, f))
}

fn run_verify(a: &VerifyArgs) -> CmdResult {
    let ring = key_ring(&a.keys)?;
    let plan = tlog::plan(a)?;
    if ring.is_empty() && plan.log_key.is_none() {
        return Err(Failure::usage(
            "no key: set SIGNET_HMAC_SECRET, or pass --hmac-secret-file FILE or --key ID=FILE to check MACs, or --log-key VKEY to check signed checkpoints with public keys only",
        ));
    }
    let mut chain = match ring.is_empty() {
        true => None,
        false => Some(verify::verify(open_log(&a.log)?, &ring).map_err(|e| {
            Failure::new(
                exit::NO_INPUT,
                format!("error reading {}: {e}", a.log.display()),
            )
        })?),
    };
    let outcome = tlog::run(&plan, &a.log, &ring)?;
    if let Some(rep) = chain.as_mut()
        && outcome.tail_truncation_detectable()
    {
        rep.tail_truncation_detectable = true;
    }
    let v = report::Verdict {
        path: &a.log,
        chain: chain.as_ref(),
        tlog: &outcome,
        plan: &plan,
    };
    if a.json {
        let mut out = Vec::new();
        signet_audit::json::write_canonical(&v.to_json(), &mut out);
        outln!("{}", String::from_utf8_lossy(&out));
    } else {
        v.print();
    }
    if !v.is_intact() {
        return Ok(exit::INTEGRITY);
    }
    if let (Some(state), Some(note)) = (&a.checkpoint_state, &outcome.newest_covering) {
        tlog::save_state(state, note)?;
    }
    Ok(exit::OK)
}
