//! RFC 6962 Merkle tree over the audit log lines, kept as "stored hashes".
//!
//! Guarantees:
//! - Hashing is RFC 6962 / RFC 9162 section 2.1: leaf `SHA-256(0x00 || line)` (the line
//!   without its `\n`), node `SHA-256(0x01 || left || right)`, empty tree `SHA-256("")`.
//! - Storage layout: appending leaf `i` stores its leaf hash, then the root of every
//!   perfect subtree that leaf completes (lowest level first). A tree of `n` leaves
//!   therefore holds `2n - popcount(n)` hashes, and the hash of level `l`, index `k`
//!   sits at [`stored_hash_index`]`(l, k)`. This is the layout of the Go `sumdb/tlog`
//!   design, so a Go `tlog.HashReader` can read our files as they are.
//! - Appending costs O(log n) hashing ([`CompactRange`] needs no reads at all; the
//!   reader-based [`stored_hashes_for_append`] reads O(log n) hashes); a root, an
//!   inclusion proof or a consistency proof reads O(log n) stored hashes in one
//!   [`HashReader::read_hashes`] call.
//! - Proof generation refuses impossible requests (index not below the size, sizes out
//!   of order, a consistency proof from the empty tree) instead of returning a proof
//!   that cannot verify. Verification lives in [`verify`] and rejects every malformed
//!   case.
//!
//! Assumes the [`HashReader`] returns exactly the hashes asked for, in order; a reader
//! returning a different count is reported as [`TreeError::ShortRead`].

mod store;
pub mod verify;

use sha2::{Digest, Sha256};

pub use store::{CompactRange, MemStore, MissingHash};

pub use verify::{
    ProofError, root_from_inclusion, verify_consistency, verify_consistency_raw, verify_inclusion,
    verify_inclusion_raw,
};

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// RFC 6962 leaf hash of one log line (without its trailing `\n`).
pub fn leaf_hash(line: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(line);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Number of stored hashes for a tree of `n` leaves: `2n - popcount(n)`.
pub fn stored_hash_count(n: u64) -> u64 {
    2 * n - u64::from(n.count_ones())
}

/// Position of the hash of level `level`, index `n` (leaves `n << level` up to
/// `((n + 1) << level) - 1`) in the stored-hash sequence.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Written right after the leaf hash of the subtree's last leaf, one slot per level.
    let last_leaf = ((n + 1) << level) - 1;
    stored_hash_count(last_leaf) + u64::from(level)
}

/// For `count` stored hashes (`count < 2^62`): how many whole leaves they hold, and
/// how many hashes those leaves use (anything beyond is a partial append).
pub fn leaves_for_stored_count(count: u64) -> (u64, u64) {
    // stored_hash_count(n) lies in [2n - 64, 2n], so n is within 32 of count / 2.
    let mut n = count / 2 + 33;
    while stored_hash_count(n) > count {
        n -= 1;
    }
    (n, stored_hash_count(n))
}

/// Random access to stored hashes.
pub trait HashReader {
    type Error;
    /// Returns the hashes at `indexes`, in the same order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

/// Why a root or proof could not be produced.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError<E> {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency proof needs 0 < old size <= new size, got {old} and {new}")]
    BadSizes { old: u64, new: u64 },
    #[error("hash store returned {got} hashes for {want} requested")]
    ShortRead { want: usize, got: usize },
    #[error("reading stored hashes: {0}")]
    Read(E),
}

/// Which stored hashes to read, and how to fold them into the requested hashes.
#[derive(Default)]
struct Plan {
    indexes: Vec<u64>,
    /// Each output hash folds `indexes[start..end]` right to left.
    parts: Vec<(usize, usize)>,
}

impl Plan {
    /// Adds the RFC 6962 hash of leaves `[lo, hi)`; `lo` must be a multiple of the
    /// largest power of two not above `hi - lo` (true of every range RFC 6962 splits).
    fn range(&mut self, lo: u64, hi: u64) {
        let start = self.indexes.len();
        let mut lo = lo;
        while lo < hi {
            let fits = 63 - (hi - lo).leading_zeros();
            let level = lo.trailing_zeros().min(fits);
            self.indexes.push(stored_hash_index(level, lo >> level));
            lo += 1 << level;
        }
        self.parts.push((start, self.indexes.len()));
    }

    fn run<R: HashReader>(&self, r: &R) -> Result<Vec<Hash>, TreeError<R::Error>> {
        let hashes = r.read_hashes(&self.indexes).map_err(TreeError::Read)?;
        if hashes.len() != self.indexes.len() {
            return Err(TreeError::ShortRead {
                want: self.indexes.len(),
                got: hashes.len(),
            });
        }
        Ok(self
            .parts
            .iter()
            .map(|&(s, e)| fold(&hashes[s..e]))
            .collect())
    }
}

/// Folds perfect-subtree roots (largest, leftmost first) into one root.
fn fold(hashes: &[Hash]) -> Hash {
    let mut it = hashes.iter().rev();
    let Some(last) = it.next() else {
        return empty_root();
    };
    it.fold(*last, |acc, h| node_hash(h, &acc))
}

/// Largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The hashes to append to the store when adding leaf `n` (the store holds `n` leaves):
/// the leaf hash, then each subtree root the leaf completes.
pub fn stored_hashes_for_append<R: HashReader>(
    n: u64,
    leaf: Hash,
    r: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let levels = n.trailing_ones();
    let indexes: Vec<u64> = (0..levels)
        .map(|l| stored_hash_index(l, (n >> l) - 1))
        .collect();
    let left = r.read_hashes(&indexes).map_err(TreeError::Read)?;
    if left.len() != indexes.len() {
        return Err(TreeError::ShortRead {
            want: indexes.len(),
            got: left.len(),
        });
    }
    let mut out = Vec::with_capacity(left.len() + 1);
    let mut h = leaf;
    out.push(h);
    for l in &left {
        h = node_hash(l, &h);
        out.push(h);
    }
    Ok(out)
}

/// Root of the tree of the first `n` leaves.
pub fn tree_hash<R: HashReader>(n: u64, r: &R) -> Result<Hash, TreeError<R::Error>> {
    if n == 0 {
        return Ok(empty_root());
    }
    let mut plan = Plan::default();
    plan.range(0, n);
    Ok(plan.run(r)?.pop().unwrap_or_else(empty_root))
}

/// RFC 6962 inclusion proof (audit path) of leaf `index` in the tree of size `n`.
pub fn inclusion_proof<R: HashReader>(
    index: u64,
    n: u64,
    r: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if index >= n {
        return Err(TreeError::IndexOutOfRange { index, size: n });
    }
    let (mut lo, mut hi) = (0, n);
    let mut ranges = Vec::new();
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            ranges.push((mid, hi));
            hi = mid;
        } else {
            ranges.push((lo, mid));
            lo = mid;
        }
    }
    run_ranges(ranges, r)
}

/// RFC 6962 consistency proof from size `m` to size `n` (`0 < m <= n`; empty if equal).
pub fn consistency_proof<R: HashReader>(
    m: u64,
    n: u64,
    r: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if m == 0 || m > n {
        return Err(TreeError::BadSizes { old: m, new: n });
    }
    let (mut lo, mut hi, mut whole_old_tree) = (0, n, true);
    let mut ranges = Vec::new();
    while m != hi {
        let mid = lo + split_point(hi - lo);
        if m <= mid {
            ranges.push((mid, hi));
            hi = mid;
        } else {
            ranges.push((lo, mid));
            lo = mid;
            whole_old_tree = false;
        }
    }
    if !whole_old_tree {
        ranges.push((lo, hi));
    }
    run_ranges(ranges, r)
}

/// Hashes the ranges collected top-down; proofs list them bottom-up.
fn run_ranges<R: HashReader>(
    ranges: Vec<(u64, u64)>,
    r: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let mut plan = Plan::default();
    for &(lo, hi) in ranges.iter().rev() {
        plan.range(lo, hi);
    }
    plan.run(r)
}

/// Reference helpers shared by the Merkle tests.
#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Recursive RFC 6962 MTH straight from the definition.
    pub fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// `n` distinct leaf hashes.
    pub fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("l{i}").as_bytes()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{leaves, mth};
    use super::*;

    #[test]
    fn stored_index_layout() {
        // Leaves 0,1 then node(0,1), leaf 2, leaf 3, node(2,3), node(0..4).
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
        assert_eq!(stored_hash_index(0, 4), 7);
        for n in 0..200u64 {
            let c = stored_hash_count(n);
            assert_eq!(leaves_for_stored_count(c), (n, c));
            if n > 0 && c > stored_hash_count(n - 1) + 1 {
                assert_eq!(leaves_for_stored_count(c - 1).0, n - 1);
            }
        }
    }

    #[test]
    fn proofs_verify_and_bad_requests_are_refused() {
        let ls = leaves(21);
        let mut store = MemStore::new();
        for l in &ls {
            store.append_leaf(*l).expect("append");
        }
        for n in 1..=21u64 {
            let root = tree_hash(n, &store).expect("root");
            assert_eq!(root, mth(&ls[..n as usize]));
            for i in 0..n {
                let p = inclusion_proof(i, n, &store).expect("proof");
                verify_inclusion(&p, i, n, &ls[i as usize], &root).expect("verifies");
            }
            for m in 1..=n {
                let p = consistency_proof(m, n, &store).expect("proof");
                let old = tree_hash(m, &store).expect("old root");
                verify_consistency(&p, m, n, &old, &root).expect("consistent");
            }
        }
        assert!(matches!(
            inclusion_proof(3, 3, &store),
            Err(TreeError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            consistency_proof(0, 3, &store),
            Err(TreeError::BadSizes { .. })
        ));
        assert!(matches!(
            consistency_proof(4, 3, &store),
            Err(TreeError::BadSizes { .. })
        ));
        assert_eq!(
            tree_hash(22, &store),
            Err(TreeError::Read(MissingHash(stored_hash_index(1, 10))))
        );
    }
}
