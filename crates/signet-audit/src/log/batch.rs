//! Batch receipts: one Ed25519 signature per group-commit batch instead of one per
//! entry, and each entry's receipt carries its RFC 6962 inclusion path to the signed
//! root, so a verifier holding only the public key checks it offline.
//!
//! Guarantees:
//! - The tree is RFC 6962 over the batch's lines (leaf `SHA-256(0x00 || line)`, the
//!   line without `\n`, exactly as written and fsync'd), in log order: leaf `i` is the
//!   entry with `_seq = seq + i`.
//! - What is signed is [`message`]: a fixed domain line, the key id, the batch's first
//!   `_seq`, its size and its root. So a batch signature binds every line of the batch
//!   (hence each entry's hash, its owner, its response fingerprint), their positions in
//!   the log, and the key id; it can never pass for a per-entry receipt signature (whose
//!   message is an entry payload, starting with `{`) or a DSSE signature (`DSSEv1 …`).
//! - The signature is made at most once per batch and key, by whichever entry of the
//!   batch asks first ([`Batch::signature`]); entries that never ask cost nothing.

use std::sync::{Arc, OnceLock};

use ed25519_dalek::{Signer, SigningKey};

use crate::transparency::merkle::{self, Hash, MemStore};
use crate::util::to_hex;

/// First line of every signed batch message.
pub const DOMAIN: &str = "signet-receipt-batch/v1";

/// Most entries one batch tree may hold: keeps a receipt's path (at most 9 hashes)
/// well inside the receipt header limit.
pub const MAX_BATCH: usize = 512;

/// The exact bytes an `ed25519-batch` receipt signs:
/// `signet-receipt-batch/v1\nkey=<key id>\nseq=<first _seq>\nsize=<n>\nroot=<hex>\n`.
pub fn message(key_id: &str, seq: u64, size: u64, root: &Hash) -> Vec<u8> {
    format!(
        "{DOMAIN}\nkey={key_id}\nseq={seq}\nsize={size}\nroot={}\n",
        to_hex(root)
    )
    .into_bytes()
}

/// The Merkle tree over one group-commit batch, shared by its entries.
#[derive(Debug)]
pub struct Batch {
    seq: u64,
    tree: MemStore,
    root: Hash,
    /// `(key id, public key, signature)` of the first signer that asked.
    sig: OnceLock<(String, [u8; 32], [u8; 64])>,
}

/// One entry's place in its batch.
#[derive(Clone, Debug)]
pub struct BatchSlot {
    pub batch: Arc<Batch>,
    pub index: u64,
}

impl Batch {
    /// The tree over `lines` (each without `\n`), the first being entry `seq`.
    /// `None` when `lines` is empty.
    pub fn build(seq: u64, lines: &[&[u8]]) -> Option<Arc<Batch>> {
        if lines.is_empty() {
            return None;
        }
        let mut tree = MemStore::new();
        for l in lines {
            tree.append_leaf(merkle::leaf_hash(l)).ok()?;
        }
        let root = merkle::tree_hash(tree.size(), &tree).ok()?;
        Some(Arc::new(Batch {
            seq,
            tree,
            root,
            sig: OnceLock::new(),
        }))
    }

    /// `_seq` of the batch's first entry.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Entries in the batch.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// Inclusion path of leaf `index`.
    pub fn path(&self, index: u64) -> Option<Vec<Hash>> {
        merkle::inclusion_proof(index, self.size(), &self.tree).ok()
    }

    /// The batch's signature under `key` (named `key_id`), made once.
    pub fn signature(&self, key_id: &str, key: &SigningKey) -> [u8; 64] {
        let sign = || {
            key.sign(&message(key_id, self.seq, self.size(), &self.root))
                .to_bytes()
        };
        let public = key.verifying_key().to_bytes();
        let (id, pk, sig) = self.sig.get_or_init(|| (key_id.to_owned(), public, sign()));
        if id == key_id && *pk == public {
            *sig
        } else {
            sign()
        }
    }
}
