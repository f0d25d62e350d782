//! Verification of RFC 6962 inclusion and consistency proofs (RFC 9162 sections
//! 2.1.3.2 and 2.1.4.2).
//!
//! Guarantees: a proof is accepted only if it has exactly the number of hashes the
//! sizes call for and recomputes the expected root(s); an index not below the tree
//! size, sizes out of order, a non-empty proof for equal sizes, an empty proof for
//! different sizes and a consistency proof from the empty tree (which proves nothing)
//! are all rejected. Hash comparisons are constant time. The `_raw` variants take
//! untrusted byte strings (JSON, base64) and reject any hash that is not 32 bytes,
//! except that two equal sizes only compare their roots byte for byte.

use subtle::ConstantTimeEq;

use super::{Hash, node_hash};

/// Why a proof does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    #[error("proof must be empty when both tree sizes are equal")]
    ProofNotEmpty,
    #[error("proof has too few hashes")]
    TooShort,
    #[error("proof has too many hashes")]
    TooLong,
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    #[error("hash is {0} bytes long, not 32")]
    BadHashLength(usize),
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Right-shifts `f` and `s` together until `f` is odd or zero.
fn skip_lonely(f: &mut u64, s: &mut u64) {
    while *f & 1 == 0 && *f != 0 {
        *f >>= 1;
        *s >>= 1;
    }
}

/// Checks that `leaf` is leaf `index` of the tree of size `size` whose root is `root`.
pub fn verify_inclusion(
    proof: &[Hash],
    index: u64,
    size: u64,
    leaf: &Hash,
    root: &Hash,
) -> Result<(), ProofError> {
    let r = root_from_inclusion(proof, index, size, leaf)?;
    if !same(&r, root) {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The root of the tree of size `size` in which `leaf` is leaf `index` with audit path
/// `proof`: what a verifier then compares with a signed root. Refuses a proof of the
/// wrong length for `(index, size)`, so exactly one path shape is accepted.
pub fn root_from_inclusion(
    proof: &[Hash],
    index: u64,
    size: u64,
    leaf: &Hash,
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::TooLong);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            skip_lonely(&mut f, &mut s);
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::TooShort);
    }
    Ok(r)
}

/// Checks that the tree of size `old_size` with root `old_root` is a prefix of the
/// tree of size `new_size` with root `new_root`.
pub fn verify_consistency(
    proof: &[Hash],
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::ProofNotEmpty);
        }
        return if same(old_root, new_root) {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    // When the old tree is a perfect subtree its root is the path's first node.
    let (first, rest) = match proof.split_first() {
        None => return Err(ProofError::TooShort),
        Some(_) if old_size.is_power_of_two() => (old_root, proof),
        Some(split) => split,
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::TooLong);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            skip_lonely(&mut f, &mut s);
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::TooShort);
    }
    if !(same(&fr, old_root) & same(&sr, new_root)) {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn to_hash(b: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(b).map_err(|_| ProofError::BadHashLength(b.len()))
}

fn to_hashes<B: AsRef<[u8]>>(proof: &[B]) -> Result<Vec<Hash>, ProofError> {
    proof.iter().map(|p| to_hash(p.as_ref())).collect()
}

/// [`verify_inclusion`] over untrusted byte strings.
pub fn verify_inclusion_raw<B: AsRef<[u8]>>(
    proof: &[B],
    index: u64,
    size: u64,
    leaf: &[u8],
    root: &[u8],
) -> Result<(), ProofError> {
    verify_inclusion(
        &to_hashes(proof)?,
        index,
        size,
        &to_hash(leaf)?,
        &to_hash(root)?,
    )
}

/// [`verify_consistency`] over untrusted byte strings.
pub fn verify_consistency_raw<B: AsRef<[u8]>>(
    proof: &[B],
    old_size: u64,
    new_size: u64,
    old_root: &[u8],
    new_root: &[u8],
) -> Result<(), ProofError> {
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::ProofNotEmpty);
        }
        return if same(old_root, new_root) {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    verify_consistency(
        &to_hashes(proof)?,
        old_size,
        new_size,
        &to_hash(old_root)?,
        &to_hash(new_root)?,
    )
}

#[cfg(test)]
mod tests {
    use super::super::{MemStore, consistency_proof, inclusion_proof, leaf_hash, tree_hash};
    use super::*;

    fn store(n: u64) -> MemStore {
        let mut s = MemStore::new();
        for i in 0..n {
            s.append_leaf(leaf_hash(&i.to_be_bytes())).expect("append");
        }
        s
    }

    #[test]
    fn inclusion_corruptions_fail() {
        let s = store(13);
        let root = tree_hash(13, &s).expect("root");
        let leaf = leaf_hash(&6u64.to_be_bytes());
        let p = inclusion_proof(6, 13, &s).expect("proof");
        verify_inclusion(&p, 6, 13, &leaf, &root).expect("ok");
        let mut flipped = p.clone();
        flipped[1][0] ^= 1;
        let mut longer = p.clone();
        longer.push(root);
        let cases: Vec<(&str, Result<(), ProofError>)> = vec![
            ("flipped", verify_inclusion(&flipped, 6, 13, &leaf, &root)),
            ("truncated", verify_inclusion(&p[1..], 6, 13, &leaf, &root)),
            ("extended", verify_inclusion(&longer, 6, 13, &leaf, &root)),
            ("other index", verify_inclusion(&p, 7, 13, &leaf, &root)),
            ("smaller size", verify_inclusion(&p, 6, 8, &leaf, &root)),
            ("index = size", verify_inclusion(&p, 13, 13, &leaf, &root)),
            ("wrong leaf", verify_inclusion(&p, 6, 13, &root, &root)),
        ];
        for (label, r) in cases {
            assert!(r.is_err(), "{label} verified");
        }
    }

    #[test]
    fn consistency_corruptions_fail() {
        let s = store(13);
        let (old, new) = (
            tree_hash(6, &s).expect("old"),
            tree_hash(13, &s).expect("new"),
        );
        let p = consistency_proof(6, 13, &s).expect("proof");
        verify_consistency(&p, 6, 13, &old, &new).expect("ok");
        let mut flipped = p.clone();
        flipped[0][31] ^= 0x80;
        assert!(verify_consistency(&flipped, 6, 13, &old, &new).is_err());
        assert!(verify_consistency(&p[..p.len() - 1], 6, 13, &old, &new).is_err());
        assert!(verify_consistency(&p, 6, 13, &new, &old).is_err());
        assert!(verify_consistency(&p, 5, 13, &old, &new).is_err());
        assert_eq!(
            verify_consistency(&[], 0, 13, &old, &new),
            Err(ProofError::EmptyOldTree)
        );
        assert_eq!(
            verify_consistency(&[old], 13, 13, &new, &new),
            Err(ProofError::ProofNotEmpty)
        );
        let p8 = consistency_proof(8, 13, &s).expect("proof");
        let old8 = tree_hash(8, &s).expect("old8");
        verify_consistency(&p8, 8, 13, &old8, &new).expect("power of two");
        assert_eq!(
            verify_consistency(&[], 8, 13, &old8, &new),
            Err(ProofError::TooShort)
        );
        assert_eq!(
            verify_consistency_raw(&[[0u8; 31]], 8, 13, &old8, &new),
            Err(ProofError::BadHashLength(31))
        );
    }
}
