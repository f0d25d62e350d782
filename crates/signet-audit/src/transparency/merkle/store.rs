//! In-memory tree state: [`CompactRange`] (the right edge only, for the writer) and
//! [`MemStore`] (every stored hash, for tests, tools and as the file store's reference).
//!
//! Guarantees: [`CompactRange::append`] yields exactly the stored hashes that
//! [`super::stored_hashes_for_append`] computes, with no reads and O(log n) hashing,
//! and [`CompactRange::root`] equals [`super::tree_hash`] of the same size; the range
//! holds `popcount(size)` hashes.

use super::{Hash, HashReader, Plan, TreeError, fold, node_hash, stored_hashes_for_append};

/// The right edge of a tree: the roots of the perfect subtrees that make up leaves
/// `[0, size)`, largest first. Enough to append and to compute the root without reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the right edge of the tree of size `n` (reads `popcount(n)` hashes).
    pub fn from_reader<R: HashReader>(n: u64, r: &R) -> Result<Self, TreeError<R::Error>> {
        let mut plan = Plan::default();
        plan.range(0, n);
        let peaks = r.read_hashes(&plan.indexes).map_err(TreeError::Read)?;
        if peaks.len() != plan.indexes.len() {
            return Err(TreeError::ShortRead {
                want: plan.indexes.len(),
                got: peaks.len(),
            });
        }
        Ok(CompactRange { size: n, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Adds a leaf and pushes onto `out` the hashes to store for it (as
    /// [`stored_hashes_for_append`] would return them).
    pub fn append(&mut self, leaf: Hash, out: &mut Vec<Hash>) {
        let mut h = leaf;
        out.push(h);
        let mut s = self.size;
        while s & 1 == 1 {
            // popcount(size) == peaks.len(), so a set bit always has its peak.
            let Some(left) = self.peaks.pop() else { break };
            h = node_hash(&left, &h);
            out.push(h);
            s >>= 1;
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// Root of the current tree (O(log n) hashing, no reads).
    pub fn root(&self) -> Hash {
        fold(&self.peaks)
    }
}

/// Stored hashes in memory (tests, small tools, and the reference for the file store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStore {
    hashes: Vec<Hash>,
    size: u64,
}

/// The in-memory store does not hold a requested hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored hash {0} is not in the store")]
pub struct MissingHash(pub u64);

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf (by its leaf hash), reading O(log n) stored hashes.
    pub fn append_leaf(&mut self, leaf: Hash) -> Result<(), TreeError<MissingHash>> {
        let add = stored_hashes_for_append(self.size, leaf, self)?;
        self.hashes.extend(add);
        self.size += 1;
        Ok(())
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// All stored hashes in stored-index order.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

impl HashReader for MemStore {
    type Error = MissingHash;
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|u| self.hashes.get(u))
                    .copied()
                    .ok_or(MissingHash(i))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{leaves, mth};
    use super::super::{empty_root, stored_hash_count, tree_hash};
    use super::*;

    #[test]
    fn store_and_compact_range_agree_with_definition() {
        let ls = leaves(70);
        let mut store = MemStore::new();
        let mut range = CompactRange::new();
        let mut from_range = Vec::new();
        for (i, l) in ls.iter().enumerate() {
            store.append_leaf(*l).expect("append");
            range.append(*l, &mut from_range);
            let n = i as u64 + 1;
            assert_eq!(store.hashes().len() as u64, stored_hash_count(n));
            assert_eq!(range.root(), mth(&ls[..=i]));
            assert_eq!(tree_hash(n, &store).expect("root"), mth(&ls[..=i]));
            assert_eq!(CompactRange::from_reader(n, &store).expect("load"), range);
        }
        assert_eq!(from_range, store.hashes());
        assert_eq!(tree_hash(0, &store).expect("empty"), empty_root());
    }

    #[test]
    fn missing_hashes_are_reported() {
        let mut s = MemStore::new();
        s.append_leaf([1; 32]).expect("append");
        assert_eq!(s.read_hashes(&[0, 1]), Err(MissingHash(1)));
        assert_eq!(
            CompactRange::from_reader(2, &s),
            Err(TreeError::Read(MissingHash(2)))
        );
    }
}
