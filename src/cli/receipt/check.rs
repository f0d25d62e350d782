//! The checks behind `signet receipt verify`, one function per receipt form.
//!
//! Guarantees: a DSSE receipt's checkpoint, proof and token are checked on the
//! statement as parsed even when the envelope signature fails (so the report says what
//! else is wrong), but the verdict is then invalid whatever they say. The tlog-proof
//! must carry byte for byte the checkpoint the statement names, and prove the leaf of
//! the embedded line at the index of its `_seq`.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use signet_audit::dsse::{self, Envelope, PAYLOAD_TYPE_IN_TOTO, ReceiptStatement};
use signet_audit::key::KeyRing;
use signet_audit::line::LineView;
use signet_audit::merkle::leaf_hash;
use signet_audit::note::{Checkpoint, Verifier, open_checkpoint, parse_tlog_proof};
use signet_audit::receipt::{self, Alg, Receipt};
use signet_audit::tsp::{TrustRoots, verify_token};
use signet_audit::verify::{LineRead, MAX_LINE, read_line};

use super::{Findings, VerifyArgs, read_input};
use crate::cli::audit::{load_log_key, load_roots, open_log};
use crate::cli::keys::load_ed25519_verifying;
use crate::cli::secrets::key_ring;
use crate::exit::Failure;

fn receipt_key(a: &VerifyArgs, why: &str) -> Result<VerifyingKey, Failure> {
    let path = a
        .receipt_key
        .as_deref()
        .ok_or_else(|| Failure::usage(format!("{why} needs --receipt-key PUB")))?;
    load_ed25519_verifying(path, "--receipt-key")
}

/// Checks a standalone DSSE receipt.
pub fn dsse(a: &VerifyArgs, bytes: &[u8]) -> Result<Findings, Failure> {
    let key = receipt_key(a, "a DSSE receipt")?;
    let log_key = a.log_key.as_deref().map(load_log_key).transpose()?;
    let roots = a.tsa_root.as_deref().map(load_roots).transpose()?;
    let mut f = Findings::default();
    let env = match Envelope::from_json(bytes) {
        Ok(e) => e,
        Err(e) => {
            f.fail("envelope", format!("not a DSSE envelope: {e}"));
            return Ok(f);
        }
    };
    match dsse::verify_envelope(&env, &[("", &key)]) {
        Ok(_) => f.ok("signature", "the envelope verifies under the receipt key"),
        Err(e) => f.fail("signature", format!("{e} (receipt key given)")),
    }
    let stmt = if env.payload_type != PAYLOAD_TYPE_IN_TOTO {
        Err(dsse::DsseError::PayloadType)
    } else {
        ReceiptStatement::parse(&env.payload)
    };
    let stmt = match stmt {
        Ok(s) => s,
        Err(e) => {
            f.fail("statement", e.to_string());
            return Ok(f);
        }
    };
    let view = match stmt.entry_view() {
        Ok(v) => v,
        Err(e) => {
            f.fail("statement", e.to_string());
            return Ok(f);
        }
    };
    f.entry_id = Some(view.entry_id.clone());
    let seq = view.seq.map_or("none".to_owned(), |s| s.to_string());
    f.ok(
        "statement",
        format!(
            "in-toto statement about entry {} (_seq {seq}), subject sha256 matches the line; log {}, receipt key id {}",
            view.entry_id, stmt.origin, stmt.receipt_key_id
        ),
    );
    let cp = checkpoint(&mut f, &stmt, log_key.as_ref());
    if let (Some(cp), Some(key)) = (&cp, &log_key) {
        inclusion(&mut f, &stmt, &view, cp, key);
    }
    timestamp(&mut f, &stmt, roots.as_ref());
    Ok(f)
}

/// The checkpoint's signature and origin; returns it when both hold.
fn checkpoint(
    f: &mut Findings,
    stmt: &ReceiptStatement,
    log_key: Option<&Verifier>,
) -> Option<Checkpoint> {
    let Some(key) = log_key else {
        let why = match stmt.checkpoint {
            Some(_) => "no --log-key given: checkpoint and inclusion proof not checked",
            None => "the receipt carries no checkpoint (entry not yet checkpointed)",
        };
        f.skip("checkpoint", why);
        return None;
    };
    let Some(note) = &stmt.checkpoint else {
        f.fail(
            "checkpoint",
            "the receipt carries no checkpoint, so nothing proves the entry is in the log",
        );
        return None;
    };
    match open_checkpoint(note, key) {
        Err(e) => {
            f.fail(
                "checkpoint",
                format!("not signed by the log key {}: {e}", key.name()),
            );
            None
        }
        Ok(cp) if cp.origin != stmt.origin => {
            f.fail(
                "origin",
                format!(
                    "the statement names log {:?} but the checkpoint is of {:?}",
                    stmt.origin, cp.origin
                ),
            );
            None
        }
        Ok(cp) => {
            f.ok(
                "checkpoint",
                format!("size {}, signed by the log key {}", cp.size, key.name()),
            );
            Some(cp)
        }
    }
}

fn inclusion(
    f: &mut Findings,
    stmt: &ReceiptStatement,
    view: &LineView,
    cp: &Checkpoint,
    key: &Verifier,
) {
    let Some(text) = &stmt.tlog_proof else {
        f.fail("inclusion", "the receipt carries no tlog-proof");
        return;
    };
    let proof = match parse_tlog_proof(text) {
        Ok(p) => p,
        Err(e) => {
            f.fail("inclusion", e.to_string());
            return;
        }
    };
    if Some(&proof.checkpoint) != stmt.checkpoint.as_ref() {
        f.fail(
            "inclusion",
            "the proof is against another checkpoint than the receipt's",
        );
        return;
    }
    if view.seq != Some(proof.index) {
        f.fail(
            "inclusion",
            format!(
                "the proof is for entry {} but the line has _seq {}",
                proof.index,
                view.seq.map_or("none".to_owned(), |s| s.to_string())
            ),
        );
        return;
    }
    match proof.verify(&leaf_hash(stmt.entry_line.as_bytes()), key) {
        Ok(_) => f.ok(
            "inclusion",
            format!(
                "the line is entry {} of the tree of size {}",
                proof.index, cp.size
            ),
        ),
        Err(e) => f.fail("inclusion", format!("{e}")),
    }
}

fn timestamp(f: &mut Findings, stmt: &ReceiptStatement, roots: Option<&TrustRoots>) {
    let Some(roots) = roots else {
        if stmt.rfc3161_token.is_some() {
            f.skip(
                "timestamp",
                "no --tsa-root given: RFC 3161 token not checked",
            );
        }
        return;
    };
    let (Some(token), Some(note)) = (&stmt.rfc3161_token, &stmt.checkpoint) else {
        f.fail(
            "timestamp",
            "the receipt carries no RFC 3161 token for its checkpoint",
        );
        return;
    };
    let digest: [u8; 32] = Sha256::digest(note.as_bytes()).into();
    match verify_token(token, &digest, None, roots) {
        Ok(ts) => f.ok(
            "timestamp",
            format!(
                "the checkpoint existed at {} (TSA {})",
                ts.gen_time, ts.tsa_subject
            ),
        ),
        Err(e) => f.fail("timestamp", format!("{} ({})", e, e.kind())),
    }
}

/// Checks an `X-Signet-Receipt` header against its entry line.
pub fn header(a: &VerifyArgs, bytes: &[u8]) -> Result<Findings, Failure> {
    let mut f = Findings::default();
    let text = String::from_utf8_lossy(bytes);
    let r = match Receipt::parse(text.trim()) {
        Ok(r) => r,
        Err(e) => {
            f.fail("header", format!("not a signet receipt: {e}"));
            return Ok(f);
        }
    };
    f.entry_id = Some(r.entry_id().to_owned());
    if a.entry.is_none() && a.log.is_none() {
        return Err(Failure::usage(
            "a header receipt needs the entry: --entry LINEFILE or --log LOG",
        ));
    }
    let verifier_key = match r.alg() {
        Alg::Ed25519 | Alg::Ed25519Batch => Some(receipt_key(a, "an ed25519 receipt")?),
        Alg::HmacSha256 => None,
    };
    let ring = match r.alg() {
        Alg::HmacSha256 => key_ring(&a.keys)?,
        Alg::Ed25519 | Alg::Ed25519Batch => KeyRing::new(),
    };
    if r.alg() == Alg::HmacSha256 && ring.is_empty() {
        return Err(Failure::usage(
            "an hmac-sha256 receipt needs the chain key: SIGNET_HMAC_SECRET or --hmac-secret-file FILE",
        ));
    }
    let batch = r.batch().map_or(String::new(), |b| {
        format!(
            ", leaf {} of the batch of {} entries from _seq {} ({} path hashes)",
            b.index,
            b.size,
            b.seq,
            b.path.len()
        )
    });
    f.ok(
        "header",
        format!(
            "{} receipt for entry {}, key id {}{batch}",
            r.alg().as_str(),
            r.entry_id(),
            r.key_id()
        ),
    );
    let line = match (&a.entry, &a.log) {
        (Some(p), _) => {
            let mut l = read_input(p, MAX_LINE + 1, "entry file")?;
            if l.last() == Some(&b'\n') {
                l.pop();
            }
            f.ok("entry", format!("line from {}", p.display()));
            l
        }
        (None, Some(log)) => match find_entry(log, r.entry_id())? {
            Some((n, l)) => {
                f.ok("entry", format!("{} line {n}", log.display()));
                l
            }
            None => {
                f.fail(
                    "entry",
                    format!("no entry {} in {}", r.entry_id(), log.display()),
                );
                return Ok(f);
            }
        },
        (None, None) => return Ok(f),
    };
    let result = match &verifier_key {
        Some(k) => receipt::verify_ed25519(&r, &line, k),
        None => receipt::verify_hmac(&r, &line, &ring),
    };
    match result {
        Ok(()) => f.ok("signature", "the receipt signs this entry"),
        Err(e) => f.fail("signature", e.to_string()),
    }
    if a.log_key.is_some() || a.tsa_root.is_some() {
        f.skip(
            "checkpoint",
            "--log-key and --tsa-root apply to DSSE receipts (use `signet audit verify` for the log)",
        );
    }
    Ok(f)
}

/// The first line of `log` whose entry id is `id`: `(1-based line number, bytes)`.
fn find_entry(log: &Path, id: &str) -> Result<Option<(u64, Vec<u8>)>, Failure> {
    let mut r = open_log(log)?;
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        n += 1;
        let read = read_line(&mut r, &mut buf).map_err(|e| {
            Failure::new(
                crate::exit::NO_INPUT,
                format!("error reading {}: {e}", log.display()),
            )
        })?;
        match read {
            LineRead::Eof => return Ok(None),
            LineRead::TooLong => continue,
            LineRead::Line { terminated } => {
                let body = if terminated {
                    &buf[..buf.len() - 1]
                } else {
                    &buf[..]
                };
                if LineView::parse(body).is_ok_and(|v| v.entry_id == id) {
                    return Ok(Some((n, body.to_vec())));
                }
                if !terminated {
                    return Ok(None);
                }
            }
        }
    }
}
