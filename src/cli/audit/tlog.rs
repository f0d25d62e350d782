//! The public-key half of `signet audit verify`: signed checkpoints against the log,
//! RFC 3161 anchors of checkpoints, and signet-style per-entry anchors.
//!
//! Guarantees: nothing here needs the HMAC secret except per-entry anchors (signet
//! timestamped a MAC), which are checked only when a key is given. `<LOG>.checkpoints`
//! and `<LOG>.anchors` are used by default only with `--log-key`, and only when they
//! exist; a file named on the command line must be readable (exit 66). Anchors are
//! expected of every valid checkpoint exactly when `--tsa-root` is given with
//! `--log-key`. Every file is only read.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use signet_audit::checkpoint_file::{CheckpointFileError, read_all};
use signet_audit::durable::SideFile;
use signet_audit::key::KeyRing;
use signet_audit::note::{Verifier, parse_vkey};
use signet_audit::tlog_verify::{
    AnchorInput, EntryAnchorReport, TlogBreak, TlogBreakKind, TlogReadError, TlogReport,
    verify_entry_anchors, verify_tlog,
};
use signet_audit::tsp::TrustRoots;

use super::VerifyArgs;
use super::open_log;
use crate::exit::{self, Failure};

/// Largest key or root file read.
const MAX_SMALL_FILE: u64 = 1 << 20;

/// Reads a small file (keys, certificates), mapping failures to exit 66.
pub fn read_small(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    let cant = |e: io::Error| {
        Failure::new(
            exit::NO_INPUT,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    };
    let f = File::open(path).map_err(cant)?;
    if f.metadata().map_err(cant)?.len() > MAX_SMALL_FILE {
        return Err(Failure::usage(format!(
            "{what} {} is too large",
            path.display()
        )));
    }
    let mut out = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(f, MAX_SMALL_FILE), &mut out).map_err(cant)?;
    Ok(out)
}

/// A log verifier key given as text (`name+id+key`) or as a file holding that text.
pub fn load_log_key(spec: &str) -> Result<Verifier, Failure> {
    let parsed = parse_vkey(spec.trim());
    if let Ok(v) = parsed {
        return Ok(v);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return match parsed {
            Err(e) if spec.contains('+') => Err(Failure::usage(format!("--log-key: {e}"))),
            _ => Err(Failure::new(
                exit::NO_INPUT,
                format!("--log-key: no such file {spec:?} (and not a verifier key)"),
            )),
        };
    }
    let text = read_small(path, "log key file")?;
    let text = String::from_utf8(text)
        .map_err(|_| Failure::usage(format!("--log-key {spec}: not a verifier key")))?;
    parse_vkey(text.trim()).map_err(|e| {
        Failure::usage(format!(
            "--log-key {spec}: {e} (expected the text printed by `signet keys vkey`)"
        ))
    })
}

/// TSA trust roots from a PEM file.
pub fn load_roots(path: &Path) -> Result<TrustRoots, Failure> {
    let pem = read_small(path, "TSA root file")?;
    TrustRoots::from_pem(&pem)
        .map_err(|e| Failure::usage(format!("--tsa-root {}: {e}", path.display())))
}

/// What the flags ask for, resolved and loaded.
pub struct Plan {
    pub log_key: Option<Verifier>,
    pub roots: Option<TrustRoots>,
    pub checkpoints: Option<PathBuf>,
    pub anchors: Option<PathBuf>,
    /// The default checkpoint file looked for (and not found).
    pub missing_default: Option<PathBuf>,
    /// An anchors file exists but there are no roots to check it with.
    pub anchors_unchecked: Option<PathBuf>,
}

/// Resolves the transparency flags (usage errors and unreadable key files first).
pub fn plan(a: &VerifyArgs) -> Result<Plan, Failure> {
    let log_key = a.log_key.as_deref().map(load_log_key).transpose()?;
    let roots = a.tsa_root.as_deref().map(load_roots).transpose()?;
    if log_key.is_none() && (a.checkpoints.is_some() || a.anchors.is_some()) {
        return Err(Failure::usage(
            "--checkpoints and --anchors need --log-key VKEY (see `signet keys vkey`)",
        ));
    }
    if a.anchors.is_some() && roots.is_none() {
        return Err(Failure::usage(
            "--anchors needs --tsa-root PEM to verify the timestamps",
        ));
    }
    let mut p = Plan {
        log_key,
        roots,
        checkpoints: a.checkpoints.clone(),
        anchors: a.anchors.clone(),
        missing_default: None,
        anchors_unchecked: None,
    };
    if p.log_key.is_some() {
        if p.checkpoints.is_none() {
            let d = SideFile::Checkpoints.of(&a.log);
            if d.is_file() {
                p.checkpoints = Some(d);
            } else {
                p.missing_default = Some(d);
            }
        }
        let d = SideFile::Anchors.of(&a.log);
        if p.anchors.is_none() && d.is_file() {
            if p.roots.is_some() {
                p.anchors = Some(d);
            } else {
                p.anchors_unchecked = Some(d);
            }
        }
    }
    Ok(p)
}

/// The transparency outcome of one verify run.
pub struct Outcome {
    pub tlog: Option<TlogReport>,
    pub entry_anchors: Option<EntryAnchorReport>,
}

impl Outcome {
    pub fn break_count(&self) -> u64 {
        self.tlog.as_ref().map_or(0, |t| t.break_count)
            + self.entry_anchors.as_ref().map_or(0, |e| e.break_count)
    }

    /// Every stored break, checkpoint ones first.
    pub fn breaks(&self) -> impl Iterator<Item = &TlogBreak> {
        let t = self.tlog.iter().flat_map(|t| t.breaks.iter());
        t.chain(self.entry_anchors.iter().flat_map(|e| e.breaks.iter()))
    }

    /// True when a valid checkpoint exists, so a cut tail up to it would show.
    pub fn tail_truncation_detectable(&self) -> bool {
        self.tlog.as_ref().is_some_and(|t| t.valid_checkpoints > 0)
    }
}

fn read_failure(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::new(
        exit::NO_INPUT,
        format!("error reading {}: {e}", path.display()),
    )
}

/// Runs the checks the plan asks for.
pub fn run(p: &Plan, log: &Path, ring: &KeyRing) -> Result<Outcome, Failure> {
    let mut out = Outcome {
        tlog: None,
        entry_anchors: None,
    };
    if let Some(key) = &p.log_key {
        out.tlog = Some(run_checkpoints(p, key, log)?);
    }
    if let Some(roots) = &p.roots
        && !ring.is_empty()
    {
        let r =
            verify_entry_anchors(open_log(log)?, ring, roots).map_err(|e| read_failure(log, e))?;
        out.entry_anchors = Some(r);
    }
    Ok(out)
}

fn run_checkpoints(p: &Plan, key: &Verifier, log: &Path) -> Result<TlogReport, Failure> {
    let mut damaged = None;
    let notes = match &p.checkpoints {
        None => Vec::new(),
        Some(path) => match read_all(path) {
            Ok(n) => n,
            Err(CheckpointFileError::Io { op, source }) => {
                return Err(Failure::new(
                    exit::NO_INPUT,
                    format!("cannot read {}: {op}: {source}", path.display()),
                ));
            }
            Err(e) => {
                damaged = Some(format!(
                    "checkpoint file {} is damaged, no checkpoint in it could be read: {e}",
                    path.display()
                ));
                Vec::new()
            }
        },
    };
    let mut anchors: Option<Box<dyn BufRead>> = match (&p.roots, &p.anchors) {
        (None, _) => None,
        (Some(_), None) => Some(Box::new(io::empty())),
        (Some(_), Some(path)) => {
            let f = File::open(path).map_err(|e| {
                Failure::new(
                    exit::NO_INPUT,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Some(Box::new(BufReader::with_capacity(1 << 16, f)))
        }
    };
    let input = match (&p.roots, anchors.as_mut()) {
        (Some(roots), Some(records)) => Some(AnchorInput {
            records: records.as_mut(),
            roots,
        }),
        _ => None,
    };
    let mut rep = verify_tlog(open_log(log)?, &notes, key, input).map_err(|e| match e {
        TlogReadError::Log(e) => read_failure(log, e),
        TlogReadError::Anchors(e) => {
            read_failure(p.anchors.as_deref().unwrap_or(Path::new("anchors")), e)
        }
    })?;
    if let Some(detail) = damaged {
        rep.add(TlogBreak {
            kind: TlogBreakKind::CheckpointSignature,
            detail,
            checkpoint: None,
            size: None,
            line: None,
            anchor_line: None,
            entry_id: None,
        });
    }
    Ok(rep)
}
