//! `signet audit`: verify a log, read it for people, append an operator entry.
//!
//! Guarantees: `verify`, `show`, `tail` and `count` open the log read-only and never
//! change it. `verify` exits 0 only when every line checks out, 2 on any integrity
//! break, 64 on usage errors (no key), 66 when the log cannot be read; it always says
//! whether truncation of the tail could have been detected.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use signet_audit::json::{Map, Value};
use signet_audit::verify::{self, Report};

use super::exit::{self, CmdResult, Failure};
use super::read;
use super::secrets::{KeyArgs, key_ring};

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check every line's MAC, chain link, sequence and form
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

const NO_CHECKPOINT: &str =
    "no checkpoint covers this log: entries cut from its end cannot be detected";

fn run_verify(a: &VerifyArgs) -> CmdResult {
    let ring = key_ring(&a.keys, std::env::var("SIGNET_HMAC_SECRET").ok())?;
    if ring.is_empty() {
        return Err(Failure::usage(
            "no HMAC key: set SIGNET_HMAC_SECRET, or pass --hmac-secret-file FILE or --key ID=FILE",
        ));
    }
    let reader = open_log(&a.log)?;
    let rep = verify::verify(reader, &ring).map_err(|e| {
        Failure::new(
            exit::NO_INPUT,
            format!("error reading {}: {e}", a.log.display()),
        )
    })?;
    if a.json {
        let mut out = Vec::new();
        signet_audit::json::write_canonical(&report_json(&a.log, &rep), &mut out);
        println!("{}", String::from_utf8_lossy(&out));
    } else {
        print_report(&a.log, &rep);
    }
    Ok(if rep.is_intact() {
        exit::OK
    } else {
        exit::INTEGRITY
    })
}

fn print_report(path: &Path, rep: &Report) {
    let keys: Vec<String> = rep
        .verified_by_key
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    if rep.is_intact() {
        println!(
            "OK: {} entries, chain intact ({})",
            rep.entries,
            if keys.is_empty() {
                "empty log".to_owned()
            } else {
                format!("verified by key {}", keys.join(", "))
            }
        );
    } else {
        println!(
            "FAIL: {} break{} in {} lines of {}",
            rep.break_count,
            if rep.break_count == 1 { "" } else { "s" },
            rep.lines,
            path.display()
        );
        for b in &rep.breaks {
            println!(
                "  line {}: {} (entry {}): {}",
                b.line,
                b.kind.as_str(),
                b.entry_id.as_deref().unwrap_or("?"),
                b.detail
            );
        }
        if rep.break_count > rep.breaks.len() as u64 {
            println!(
                "  ... and {} more",
                rep.break_count - rep.breaks.len() as u64
            );
        }
    }
    for w in &rep.warnings {
        println!(
            "warning: line {}: {} (entry {}): {}",
            w.line,
            w.kind,
            w.entry_id.as_deref().unwrap_or("?"),
            w.detail
        );
    }
    if rep.legacy_entries > 0 {
        println!(
            "note: {} entries have no _seq (written by signet 0.1)",
            rep.legacy_entries
        );
    }
    if !rep.tail_truncation_detectable {
        println!("note: {NO_CHECKPOINT}");
    }
}

fn report_json(path: &Path, rep: &Report) -> Value {
    let mut m = Map::new();
    m.insert("log".into(), path.display().to_string().into());
    m.insert("ok".into(), rep.is_intact().into());
    m.insert("lines".into(), rep.lines.into());
    m.insert("entries".into(), rep.entries.into());
    m.insert("legacy_entries".into(), rep.legacy_entries.into());
    m.insert("break_count".into(), rep.break_count.into());
    let item = |line: u64, id: &Option<String>, kind: &str, detail: &str| {
        let mut b = Map::new();
        b.insert("line".into(), line.into());
        b.insert(
            "entry_id".into(),
            id.clone().map_or(Value::Null, Value::from),
        );
        b.insert("kind".into(), kind.into());
        b.insert("detail".into(), detail.into());
        Value::Object(b)
    };
    m.insert(
        "breaks".into(),
        Value::Array(
            rep.breaks
                .iter()
                .map(|b| item(b.line, &b.entry_id, b.kind.as_str(), &b.detail))
                .collect(),
        ),
    );
    m.insert(
        "warnings".into(),
        Value::Array(
            rep.warnings
                .iter()
                .map(|w| item(w.line, &w.entry_id, w.kind, &w.detail))
                .collect(),
        ),
    );
    m.insert(
        "verified_by_key".into(),
        Value::Object(
            rep.verified_by_key
                .iter()
                .map(|(k, n)| (k.clone(), Value::from(*n)))
                .collect(),
        ),
    );
    m.insert(
        "last_seq".into(),
        rep.last_seq.map_or(Value::Null, Value::from),
    );
    m.insert(
        "last_hmac".into(),
        rep.last_hmac.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "tail_truncation_detectable".into(),
        rep.tail_truncation_detectable.into(),
    );
    if !rep.tail_truncation_detectable {
        m.insert("note".into(), NO_CHECKPOINT.into());
    }
    Value::Object(m)
}
