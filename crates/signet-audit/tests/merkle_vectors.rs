//! Every transparency-dev/merkle proof vector (195 files, `wantErr` honoured), the
//! golden tree of `golden.json`, and property tests of the stores.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use signet_audit::json::{self, Value};
use signet_audit::merkle::{
    self, CompactRange, Hash, MemStore, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    stored_hash_count, tree_hash, verify_consistency, verify_consistency_raw, verify_inclusion,
    verify_inclusion_raw,
};
use signet_audit::tree_file::HashFile;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/tlog");

fn load(path: &Path) -> json::Map {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match json::parse(&bytes) {
        Ok((Value::Object(m), _)) => m,
        other => panic!("{}: not a JSON object: {other:?}", path.display()),
    }
}

fn b64(v: &Value) -> Vec<u8> {
    STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

fn num(m: &json::Map, k: &str) -> u64 {
    match &m[k] {
        Value::Number(n) => n.as_u64().expect("u64"),
        v => panic!("{k} is not a number: {v:?}"),
    }
}

fn list(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().map(b64).collect(),
        v => panic!("not a list: {v:?}"),
    }
}

fn hash(v: &Value) -> Hash {
    Hash::try_from(b64(v).as_slice()).expect("32-byte hash")
}

fn hashes(v: &Value) -> Vec<Hash> {
    list(v)
        .iter()
        .map(|h| Hash::try_from(h.as_slice()).expect("32 bytes"))
        .collect()
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read fixture dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn all_transparency_dev_vectors() {
    let root = Path::new(FIXTURES).join("merkle-vectors");
    let mut files = Vec::new();
    json_files(&root, &mut files);
    files.sort();
    assert_eq!(files.len(), 195, "expected all 195 vectors");
    let (mut inclusion, mut consistency) = (0, 0);
    for f in &files {
        let v = load(f);
        let want_err = matches!(v["wantErr"], Value::Bool(true));
        let proof = list(&v["proof"]);
        let got = if f.starts_with(root.join("inclusion")) {
            inclusion += 1;
            verify_inclusion_raw(
                &proof,
                num(&v, "leafIdx"),
                num(&v, "treeSize"),
                &b64(&v["leafHash"]),
                &b64(&v["root"]),
            )
        } else {
            consistency += 1;
            verify_consistency_raw(
                &proof,
                num(&v, "size1"),
                num(&v, "size2"),
                &b64(&v["root1"]),
                &b64(&v["root2"]),
            )
        };
        assert_eq!(
            got.is_err(),
            want_err,
            "{}: {:?} ({})",
            f.display(),
            got,
            v["desc"].as_str().unwrap_or("")
        );
    }
    assert!(inclusion > 50 && consistency > 50);
}

#[test]
fn golden_tree_roots_and_proofs() {
    let g = load(&Path::new(FIXTURES).join("golden.json"));
    let Value::Array(leaves) = &g["leaves_b64"] else {
        panic!("leaves_b64")
    };
    assert_eq!(leaves.len(), 37);
    let mut store = MemStore::new();
    let dir = tempfile::tempdir().expect("tmp");
    let mut file = HashFile::open(&dir.path().join("g.tree")).expect("tree file");
    for l in leaves {
        let h = leaf_hash(&b64(l));
        store.append_leaf(h).expect("append");
        file.append_leaves(&[h]).expect("file append");
    }
    file.sync().expect("sync");
    let root = hash(&g["root"]);
    assert_eq!(num(&g, "size"), 37);
    assert_eq!(tree_hash(37, &store).expect("root"), root);
    assert_eq!(file.root(), root);
    assert_eq!(empty_root(), hash(&g["empty_root"]));
    let Value::Array(incl) = &g["inclusion"] else {
        panic!("inclusion")
    };
    for case in incl {
        let c = case.as_object().expect("object");
        let i = num(c, "index");
        let want = hashes(&c["proof"]);
        assert_eq!(
            inclusion_proof(i, 37, &store).expect("proof"),
            want,
            "index {i}"
        );
        assert_eq!(inclusion_proof(i, 37, &file).expect("file proof"), want);
        let leaf = leaf_hash(&b64(&leaves[i as usize]));
        verify_inclusion(&want, i, 37, &leaf, &root).expect("verifies");
    }
    let Value::Array(cons) = &g["consistency"] else {
        panic!("consistency")
    };
    for case in cons {
        let c = case.as_object().expect("object");
        let m = num(c, "old");
        let (want, old_root) = (hashes(&c["proof"]), hash(&c["old_root"]));
        assert_eq!(tree_hash(m, &store).expect("old root"), old_root, "old {m}");
        assert_eq!(consistency_proof(m, 37, &store).expect("proof"), want);
        assert_eq!(consistency_proof(m, 37, &file).expect("file proof"), want);
        verify_consistency(&want, m, 37, &old_root, &root).expect("consistent");
    }
}

fn leaf(i: u64) -> Hash {
    leaf_hash(format!("{{\"_seq\":{i}}}").as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_proofs_verify(n in 1u64..300, a in any::<u64>(), b in any::<u64>()) {
        let (m, i) = (a % n + 1, b % n);
        let mut store = MemStore::new();
        let mut range = CompactRange::new();
        let mut stored = Vec::new();
        for k in 0..n {
            store.append_leaf(leaf(k)).expect("append");
            range.append(leaf(k), &mut stored);
        }
        prop_assert_eq!(store.hashes().len() as u64, stored_hash_count(n));
        prop_assert_eq!(stored_hash_count(n), 2 * n - u64::from(n.count_ones()));
        prop_assert_eq!(&stored[..], store.hashes());
        let root = tree_hash(n, &store).expect("root");
        prop_assert_eq!(range.root(), root);
        let old = tree_hash(m, &store).expect("old root");
        let p = consistency_proof(m, n, &store).expect("consistency");
        prop_assert!(verify_consistency(&p, m, n, &old, &root).is_ok());
        let q = inclusion_proof(i, n, &store).expect("inclusion");
        prop_assert!(verify_inclusion(&q, i, n, &leaf(i), &root).is_ok());
        // The same proofs from a prefix of the store, read through the file store.
        let dir = tempfile::tempdir().expect("tmp");
        let mut file = HashFile::open(&dir.path().join("t.tree")).expect("open");
        let all: Vec<Hash> = (0..n).map(leaf).collect();
        file.append_leaves(&all).expect("file append");
        prop_assert_eq!(file.root(), root);
        prop_assert_eq!(consistency_proof(m, n, &file).expect("file consistency"), p);
        prop_assert_eq!(inclusion_proof(i, m.max(i + 1), &file).expect("file incl"),
            inclusion_proof(i, m.max(i + 1), &store).expect("incl"));
        prop_assert_eq!(merkle::leaves_for_stored_count(stored_hash_count(n)).0, n);
    }

    #[test]
    fn raw_verifiers_never_panic(proof in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..40), 0..70),
        i in any::<u64>(), n in any::<u64>(), m in any::<u64>(),
        leaf in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = verify_inclusion_raw(&proof, i, n, &leaf, &leaf);
        let _ = verify_consistency_raw(&proof, m, n, &leaf, &leaf);
    }
}
