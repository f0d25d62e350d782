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
    /// `--allow-no-checkpoints`.
    pub allow_no_checkpoints: bool,
    /// A checkpoint kept elsewhere that the log must extend: where it came from, and
    /// its note.
    pub trusted: Option<(PathBuf, String)>,
    /// `--checkpoint-state` named a file that does not exist yet (a first run).
    pub state_first_run: Option<PathBuf>,
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
    if log_key.is_none()
        && (a.trusted_checkpoint.is_some()
            || a.checkpoint_state.is_some()
            || a.allow_no_checkpoints)
    {
        return Err(Failure::usage(
            "--trusted-checkpoint, --checkpoint-state and --allow-no-checkpoints need --log-key VKEY",
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
        allow_no_checkpoints: a.allow_no_checkpoints,
        trusted: None,
        state_first_run: None,
    };
    if let Some(path) = &a.trusted_checkpoint {
        p.trusted = Some((path.clone(), read_note(path)?));
    }
    if let Some(path) = &a.checkpoint_state {
        if path.exists() {
            p.trusted = Some((path.clone(), read_note(path)?));
        } else {
            p.state_first_run = Some(path.clone());
        }
    }
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

/// A signed checkpoint note kept in a file of its own (exit 66 when unreadable).
fn read_note(path: &Path) -> Result<String, Failure> {
    let bytes = read_small(path, "trusted checkpoint")?;
    String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{}: not a signed checkpoint", path.display())))
}

/// Replaces the state file with `note` (write beside it, fsync, rename, fsync the
/// directory), so a crash leaves the old or the new checkpoint, never half of one.
pub fn save_state(path: &Path, note: &str) -> Result<(), Failure> {
    let cant = |e: std::io::Error| {
        Failure::new(
            exit::CANT_CREATE,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let tmp = signet_audit::durable::side_path(path, ".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = signet_audit::durable::create_new(&tmp, 0o644)
        .map_err(|e| cant(std::io::Error::other(e.to_string())))?;
    std::io::Write::write_all(&mut f, note.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(cant)?;
    std::fs::rename(&tmp, path).map_err(cant)?;
    signet_audit::durable::fsync_dir(path).map_err(cant)
}

/// The transparency outcome of one verify run.
pub struct Outcome {
    pub tlog: Option<TlogReport>,
    pub entry_anchors: Option<EntryAnchorReport>,
    /// The newest valid checkpoint whose root matches the log (for --checkpoint-state).
    pub newest_covering: Option<String>,
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
        newest_covering: None,
    };
    if let Some(key) = &p.log_key {
        let (rep, newest) = run_checkpoints(p, key, log)?;
        out.tlog = Some(rep);
        out.newest_covering = newest;
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

fn run_checkpoints(
    p: &Plan,
    key: &Verifier,
    log: &Path,
) -> Result<(TlogReport, Option<String>), Failure> {
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
        rep.add(plain_break(TlogBreakKind::CheckpointSignature, detail));
    }
    // A checkpoint kept elsewhere: the log must extend it, whatever the side files say.
    let mut covered = rep.covered_size.unwrap_or(0);
    if let Some((path, note)) = &p.trusted {
        let t = verify_tlog(open_log(log)?, std::slice::from_ref(note), key, None)
            .map_err(|e| read_failure(log, e))?;
        for mut b in t.breaks {
            b.detail = format!("trusted checkpoint {}: {}", path.display(), b.detail);
            b.checkpoint = None;
            rep.add(b);
        }
        if t.valid_checkpoints == 0 && t.break_count == 0 {
            rep.add(plain_break(
                TlogBreakKind::CheckpointSignature,
                format!(
                    "trusted checkpoint {}: not a checkpoint of this log",
                    path.display()
                ),
            ));
        }
        covered = covered.max(t.covered_size.unwrap_or(0));
    }
    if rep.log_size > 0 && covered == 0 && !p.allow_no_checkpoints {
        rep.add(plain_break(
            TlogBreakKind::Uncovered,
            format!(
                "the log has {} entries and no valid signed checkpoint covers any of them (were the checkpoints removed or emptied after the log was cut?); --allow-no-checkpoints accepts a log that never had one",
                rep.log_size
            ),
        ));
    }
    let newest = rep
        .covered_size
        .and_then(|size| notes.iter().rev().find(|n| note_size(n) == Some(size)))
        .cloned();
    Ok((rep, newest))
}

fn plain_break(kind: TlogBreakKind, detail: String) -> TlogBreak {
    TlogBreak {
        kind,
        detail,
        checkpoint: None,
        size: None,
        line: None,
        anchor_line: None,
        entry_id: None,
    }
}

/// The tree size a checkpoint note states (its second line).
fn note_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.parse().ok()
}
