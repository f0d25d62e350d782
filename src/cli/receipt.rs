//! `signet receipt verify`: check a receipt offline, with public material only (and the
//! chain key for HMAC header receipts).
//!
//! Two forms are accepted, told apart by the first non-blank byte of FILE (`{` means
//! JSON):
//! - a standalone receipt, a DSSE envelope: its signature under `--receipt-key`, the
//!   in-toto statement (subject = SHA-256 of the embedded entry line), and, with
//!   `--log-key`, the checkpoint's signature and origin and the entry's tlog-proof
//!   (leaf `SHA-256(0x00 || line)`, index = the entry's `_seq`) against it; with
//!   `--tsa-root`, the RFC 3161 token over SHA-256 of the checkpoint note bytes.
//! - an `X-Signet-Receipt` header (the whole line or the value) with the entry's line
//!   from `--entry LINEFILE` or found by entry id in `--log LOG`: `ed25519` and
//!   `ed25519-batch` receipts with `--receipt-key` (the batch form: the line's
//!   `_seq` must be `seq + index`, its leaf hash and `path` must lead to the root the
//!   signature covers, see `docs/audit-format.md`), `hmac-sha256` ones with the chain
//!   key (`SIGNET_HMAC_SECRET`, `--hmac-secret-file`).
//!
//! Guarantees: every check is reported as ok, FAIL or skipped (with why); a check the
//! flags ask for that the receipt cannot support (no proof, no token) fails rather than
//! being skipped. Exit 0 when nothing failed, 2 when anything did (including a receipt
//! that does not parse), 64 on usage errors (a key the receipt needs is missing), 66
//! when an input cannot be read. Nothing is written.

mod check;

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use signet_audit::json::{Map, Value};

use super::secrets::KeyArgs;
use crate::exit::{self, CmdResult, Failure};

#[derive(Subcommand, Debug)]
pub enum ReceiptCmd {
    /// Verify a standalone DSSE receipt, or an X-Signet-Receipt header against its entry
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The receipt: a DSSE envelope (JSON), or a file holding the X-Signet-Receipt
    /// header line or value; `-` reads standard input
    pub file: PathBuf,
    /// Ed25519 public key of the receipt signer (SPKI PEM; a private PEM also works)
    #[arg(long, value_name = "PUB")]
    pub receipt_key: Option<PathBuf>,
    /// The log's verifier key (`signet keys vkey`), or a file holding it: check the
    /// checkpoint and the entry's inclusion proof
    #[arg(long, value_name = "VKEY|FILE")]
    pub log_key: Option<String>,
    /// PEM root certificate(s) of the TSA: check the checkpoint's RFC 3161 timestamp
    #[arg(long, value_name = "PEM")]
    pub tsa_root: Option<PathBuf>,
    /// Header receipts: a file holding the entry's log line
    #[arg(long, value_name = "LINEFILE", conflicts_with = "log")]
    pub entry: Option<PathBuf>,
    /// Header receipts: the audit log holding the entry (found by entry id)
    #[arg(long, value_name = "LOG")]
    pub log: Option<PathBuf>,
    /// Print a machine-readable JSON report on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
}

pub fn run(cmd: ReceiptCmd) -> CmdResult {
    match cmd {
        ReceiptCmd::Verify(a) => verify(&a),
    }
}

/// How one check went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

/// One reported check.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

/// All checks of one receipt.
#[derive(Debug, Default)]
pub struct Findings {
    pub entry_id: Option<String>,
    pub checks: Vec<Check>,
}

impl Findings {
    pub fn ok(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail.into());
    }
    pub fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Fail, detail.into());
    }
    pub fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Skipped, detail.into());
    }
    fn push(&mut self, name: &'static str, status: Status, detail: String) {
        self.checks.push(Check {
            name,
            status,
            detail,
        });
    }
    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }
    fn is_valid(&self) -> bool {
        self.count(Status::Fail) == 0 && self.count(Status::Ok) > 0
    }
}

/// Reads at most `limit` bytes of `path` (`-`: stdin); more is a usage error.
pub fn read_input(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>, Failure> {
    let cant = |e: std::io::Error| {
        Failure::new(
            exit::NO_INPUT,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    };
    let mut out = Vec::new();
    let cap = limit as u64 + 1;
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(cap)
            .read_to_end(&mut out)
            .map_err(cant)?;
    } else {
        let f = std::fs::File::open(path).map_err(cant)?;
        f.take(cap).read_to_end(&mut out).map_err(cant)?;
    }
    if out.len() > limit {
        return Err(Failure::usage(format!(
            "{what} {} is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(out)
}

fn verify(a: &VerifyArgs) -> CmdResult {
    let bytes = read_input(&a.file, signet_audit::dsse::MAX_ENVELOPE_LEN, "receipt")?;
    let is_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let (format, findings) = if is_json {
        ("dsse", check::dsse(a, &bytes)?)
    } else {
        ("header", check::header(a, &bytes)?)
    };
    if a.json {
        let mut out = Vec::new();
        signet_audit::json::write_canonical(&to_json(format, &findings), &mut out);
        outln!("{}", String::from_utf8_lossy(&out));
    } else {
        print_text(format, &findings);
    }
    Ok(if findings.is_valid() {
        exit::OK
    } else {
        exit::INTEGRITY
    })
}

fn print_text(format: &str, f: &Findings) {
    let what = if format == "dsse" {
        "DSSE envelope (standalone receipt)"
    } else {
        "X-Signet-Receipt header"
    };
    match &f.entry_id {
        Some(id) => outln!("receipt: {what} for entry {id}"),
        None => outln!("receipt: {what}"),
    }
    for c in &f.checks {
        outln!("  {:<8} {:<11} {}", c.status.as_str(), c.name, c.detail);
    }
    let (ok, failed, skipped) = (
        f.count(Status::Ok),
        f.count(Status::Fail),
        f.count(Status::Skipped),
    );
    if f.is_valid() {
        outln!("VALID: {ok} checks passed, {skipped} skipped");
    } else {
        outln!("INVALID: {failed} of {} checks failed", f.checks.len());
    }
}

fn to_json(format: &str, f: &Findings) -> Value {
    let mut m = Map::new();
    m.insert("valid".into(), f.is_valid().into());
    m.insert("format".into(), format.into());
    let id = f.entry_id.clone().map_or(Value::Null, Value::from);
    m.insert("entry_id".into(), id);
    let checks = f.checks.iter().map(|c| {
        let mut o = Map::new();
        o.insert("check".into(), c.name.into());
        o.insert("status".into(), c.status.as_str().to_lowercase().into());
        o.insert("detail".into(), c.detail.as_str().into());
        Value::Object(o)
    });
    m.insert("checks".into(), Value::Array(checks.collect()));
    Value::Object(m)
}
