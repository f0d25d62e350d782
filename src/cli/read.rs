//! `signet audit show | tail | count`: the log for people.
//!
//! Guarantees: read-only; lines longer than 16 MiB are skipped, never held; memory is
//! otherwise bounded by the number of entries asked for (`tail -n N` keeps N lines,
//! `count` keeps one counter per distinct key); lines that are not entries are counted
//! and reported on stderr, never silently dropped. These commands do not check MACs:
//! `signet audit verify` does.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use signet_audit::json::{Map, Value};
use signet_audit::line::parse_entry;
use signet_audit::verify::{LineRead, read_line};

use super::audit::open_log;
use super::human;
use crate::exit::{self, CmdResult, Failure};

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The entry id (UUID) to print
    pub entry_id: String,
    /// The audit log (JSONL)
    #[arg(env = "SIGNET_AUDIT_LOG_PATH")]
    pub log: PathBuf,
    /// Print the raw line instead of indented JSON
    #[arg(long)]
    pub raw: bool,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    /// The audit log (JSONL)
    #[arg(env = "SIGNET_AUDIT_LOG_PATH")]
    pub log: PathBuf,
    /// How many entries
    #[arg(short = 'n', long = "lines", default_value_t = 10)]
    pub n: usize,
    /// Keep entries whose FIELD equals VALUE (repeatable, all must match); FIELD is a
    /// top-level field or `metadata.KEY`
    #[arg(long = "filter", value_name = "FIELD=VALUE")]
    pub filters: Vec<String>,
    /// Print raw JSON lines
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CountBy {
    Check,
    Owner,
    Decision,
}

#[derive(Args, Debug)]
pub struct CountArgs {
    /// The audit log (JSONL)
    #[arg(env = "SIGNET_AUDIT_LOG_PATH")]
    pub log: PathBuf,
    /// Group by this field
    #[arg(long, value_enum, default_value = "decision")]
    pub by: CountBy,
}

/// Calls `f(line_number, line_bytes, entry)` for every line; returns lines that were
/// not entries.
fn each_entry(log: &std::path::Path, mut f: impl FnMut(u64, &[u8], &Map)) -> Result<u64, Failure> {
    let mut r = open_log(log)?;
    let mut buf = Vec::new();
    let (mut n, mut bad) = (0u64, 0u64);
    loop {
        let got = read_line(&mut r, &mut buf).map_err(|e| {
            Failure::new(
                exit::NO_INPUT,
                format!("error reading {}: {e}", log.display()),
            )
        })?;
        n += 1;
        match got {
            LineRead::Eof => break,
            LineRead::TooLong => bad += 1,
            LineRead::Line { .. } => {
                let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
                match parse_entry(body) {
                    Ok(m) => f(n, body, &m),
                    Err(_) => bad += 1,
                }
            }
        }
    }
    if bad > 0 {
        eprintln!("signet: {bad} line(s) are not well-formed entries; run `signet audit verify`");
    }
    Ok(bad)
}

pub fn show(a: &ShowArgs) -> CmdResult {
    let mut found: Option<(u64, Vec<u8>, Map)> = None;
    each_entry(&a.log, |n, line, m| {
        if found.is_none() && m.get("entry_id").and_then(Value::as_str) == Some(&a.entry_id) {
            found = Some((n, line.to_vec(), m.clone()));
        }
    })?;
    let Some((n, line, m)) = found else {
        return Err(Failure::new(
            exit::NO_INPUT,
            format!("no entry {} in {}", a.entry_id, a.log.display()),
        ));
    };
    if a.raw {
        outln!("{}", String::from_utf8_lossy(&line));
    } else {
        outln!("# line {n}");
        outln!("{}", human::pretty(&Value::Object(m)));
    }
    Ok(exit::OK)
}

fn parse_filters(specs: &[String]) -> Result<Vec<(Vec<String>, String)>, Failure> {
    specs
        .iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| Failure::usage(format!("--filter {s:?}: expected FIELD=VALUE")))?;
            let path: Vec<String> = k.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                return Err(Failure::usage(format!("--filter {s:?}: empty field name")));
            }
            Ok((path, v.to_owned()))
        })
        .collect()
}

fn field_text(m: &Map, path: &[String]) -> Option<String> {
    let mut v = m.get(path.first()?)?;
    for p in &path[1..] {
        v = v.as_object()?.get(p)?;
    }
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_str().to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => human::compact(other),
    })
}

pub fn tail(a: &TailArgs) -> CmdResult {
    let filters = parse_filters(&a.filters)?;
    let mut keep: VecDeque<(Vec<u8>, Map)> = VecDeque::with_capacity(a.n.min(4096));
    each_entry(&a.log, |_, line, m| {
        if a.n == 0
            || !filters
                .iter()
                .all(|(p, v)| field_text(m, p).as_deref() == Some(v))
        {
            return;
        }
        if keep.len() == a.n {
            keep.pop_front();
        }
        keep.push_back((line.to_vec(), m.clone()));
    })?;
    for (line, m) in &keep {
        if a.json {
            outln!("{}", String::from_utf8_lossy(line));
        } else {
            outln!("{}", human::summary(m));
        }
    }
    Ok(exit::OK)
}

pub fn count(a: &CountArgs) -> CmdResult {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    each_entry(&a.log, |_, _, m| {
        let key = match a.by {
            CountBy::Check => {
                let check = field_text(m, &["metadata".into(), "_check_name".into()]);
                let stage = field_text(m, &["check_name".into()]).unwrap_or_default();
                match check {
                    Some(c) => format!("{stage}/{c}"),
                    None => stage,
                }
            }
            CountBy::Owner => {
                let t = field_text(m, &["owner_type".into()]).unwrap_or_default();
                let id = field_text(m, &["owner_id".into()]).unwrap_or_default();
                if id.is_empty() {
                    t
                } else {
                    format!("{t}:{id}")
                }
            }
            CountBy::Decision => field_text(m, &["decision".into()]).unwrap_or_default(),
        };
        *counts.entry(key).or_default() += 1;
        total += 1;
    })?;
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (k, n) in rows {
        outln!("{n:>8}  {}", human::sanitize(&k));
    }
    outln!("{total:>8}  total");
    Ok(exit::OK)
}
