//! Interop: Go's `golang.org/x/mod/sumdb/note` and `sumdb/tlog` (code nobody here
//! wrote) accept our signed checkpoints, verifier keys, inclusion and consistency
//! proofs and our `<log>.tree` stored-hash file, recompute the same hashes and proofs,
//! sign byte-identical notes, and reject tampered copies.
//!
//! Go is required: without `go` and Debian's x/mod sources the test fails (run
//! `scripts/test-tools.sh`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::fmt::Write as _;
use std::path::Path;

use ed25519_dalek::SigningKey;
use signet_audit::merkle::{Hash, consistency_proof, inclusion_proof, leaf_hash, tree_hash};
use signet_audit::note::{Checkpoint, sign_checkpoint, sign_note, vkey};
use signet_audit::tree_file::{HashFile, rebuild_from_log};
use signet_audit::util::to_hex;

const ORIGIN: &str = "interop.example/audit-log/v1";
const LEAVES: u64 = 77;

/// Reads commands, one a line, and checks each with x/mod; prints `ok <cmd>` per line.
const GO_CHECKER: &str = r#"package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var tree []byte
var verifiers note.Verifiers

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(s string) []tlog.Hash {
	out := []tlog.Hash{}
	if s != "-" {
		for _, p := range strings.Split(s, ",") {
			out = append(out, hash(p))
		}
	}
	return out
}

func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail("bad number %q", s)
	}
	return n
}

func file(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		fail("%v", err)
	}
	return b
}

func reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if (x+1)*tlog.HashSize > int64(len(tree)) {
				return nil, fmt.Errorf("stored hash %d is beyond the tree file", x)
			}
			copy(out[i][:], tree[x*tlog.HashSize:])
		}
		return out, nil
	})
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func main() {
	for _, line := range strings.Split(strings.TrimSpace(string(file(os.Args[1]))), "\n") {
		f := strings.Fields(line)
		switch f[0] {
		case "vkey":
			v, err := note.NewVerifier(f[1])
			if err != nil {
				fail("vkey %s: %v", f[1], err)
			}
			verifiers = note.VerifierList(v)
		case "note":
			n, err := note.Open(file(f[1]), verifiers)
			if err != nil {
				fail("note %s: %v", f[1], err)
			}
			lines := strings.Split(n.Text, "\n")
			root, err := base64.StdEncoding.DecodeString(lines[2])
			if err != nil || lines[0] != f[2] || lines[1] != f[3] || hex.EncodeToString(root) != f[4] {
				fail("checkpoint text %q", n.Text)
			}
		case "badnote":
			if _, err := note.Open(file(f[1]), verifiers); err == nil {
				fail("tampered note %s accepted", f[1])
			}
		case "tree":
			tree = file(f[1])
			n := num(f[2])
			if int64(len(tree)) != tlog.StoredHashCount(n)*tlog.HashSize {
				fail("tree file has %d bytes, want %d", len(tree), tlog.StoredHashCount(n)*tlog.HashSize)
			}
			th, err := tlog.TreeHash(n, reader())
			if err != nil || th != hash(f[3]) {
				fail("tree hash %v %v", th, err)
			}
			for i := int64(0); i < n; i++ {
				var leaf tlog.Hash
				copy(leaf[:], tree[tlog.StoredHashIndex(0, i)*tlog.HashSize:])
				want, err := tlog.StoredHashesForRecordHash(i, leaf, reader())
				if err != nil {
					fail("stored hashes %d: %v", i, err)
				}
				start := tlog.StoredHashCount(i) * tlog.HashSize
				for j, h := range want {
					if !bytes.Equal(h[:], tree[start+int64(j)*tlog.HashSize:start+int64(j+1)*tlog.HashSize]) {
						fail("stored hash %d of leaf %d differs", j, i)
					}
				}
			}
		case "incl", "badincl":
			index, size := num(f[1]), num(f[2])
			p := tlog.RecordProof(hashes(f[5]))
			err := tlog.CheckRecord(p, size, hash(f[4]), index, hash(f[3]))
			if f[0] == "badincl" {
				if err == nil {
					fail("tampered inclusion proof accepted: %s", line)
				}
				break
			}
			if err != nil {
				fail("inclusion %d in %d: %v", index, size, err)
			}
			mine, err := tlog.ProveRecord(size, index, reader())
			if err != nil || !sameHashes(mine, p) {
				fail("Go's inclusion proof %d in %d differs (%v)", index, size, err)
			}
		case "cons", "badcons":
			old, size := num(f[1]), num(f[2])
			p := tlog.TreeProof(hashes(f[5]))
			err := tlog.CheckTree(p, size, hash(f[4]), old, hash(f[3]))
			if f[0] == "badcons" {
				if err == nil {
					fail("tampered consistency proof accepted: %s", line)
				}
				break
			}
			if err != nil {
				fail("consistency %d -> %d: %v", old, size, err)
			}
			mine, err := tlog.ProveTree(size, old, reader())
			if err != nil || !sameHashes(mine, p) {
				fail("Go's consistency proof %d -> %d differs (%v)", old, size, err)
			}
		case "sign":
			parts := strings.SplitN(f[1], "+", 3)
			seed, err := hex.DecodeString(f[2])
			if err != nil {
				fail("seed: %v", err)
			}
			skey := "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed...))
			s, err := note.NewSigner(skey)
			if err != nil {
				fail("signer: %v", err)
			}
			msg, err := note.Sign(&note.Note{Text: string(file(f[3]))}, s)
			if err != nil || !bytes.Equal(msg, file(f[4])) {
				fail("Go signs %q, we signed %q (%v)", msg, file(f[4]), err)
			}
		default:
			fail("unknown command %q", f[0])
		}
		fmt.Println("ok", f[0])
	}
}
"#;

fn hex_list(hs: &[Hash]) -> String {
    if hs.is_empty() {
        return "-".into();
    }
    hs.iter().map(|h| to_hex(h)).collect::<Vec<_>>().join(",")
}

#[test]
fn go_x_mod_accepts_our_notes_proofs_and_tree_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines: Vec<String> = (0..LEAVES)
        .map(|i| format!(r#"{{"metadata":{{"_seq":{i}}},"path":"/v1/r/{i}"}}"#))
        .collect();
    let log = d.join("audit.jsonl");
    std::fs::write(
        &log,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();

    // The writer's file, appended in batches, equals a rebuild from the log.
    let mut tree = HashFile::open(&d.join("audit.jsonl.tree")).unwrap();
    let leaves: Vec<Hash> = lines.iter().map(|l| leaf_hash(l.as_bytes())).collect();
    for batch in leaves.chunks(10) {
        tree.append_leaves(batch).unwrap();
        tree.sync().unwrap();
    }
    let rebuilt = d.join("rebuilt.tree");
    let (n, root) = rebuild_from_log(&log, &rebuilt).unwrap();
    assert_eq!((n, root), (LEAVES, tree.root()));
    assert_eq!(
        std::fs::read(&rebuilt).unwrap(),
        std::fs::read(d.join("audit.jsonl.tree")).unwrap()
    );

    let seed = [0x42u8; 32];
    let key = SigningKey::from_bytes(&seed);
    let vk = vkey(ORIGIN, &key.verifying_key()).unwrap();
    let cp = Checkpoint::new(ORIGIN, LEAVES, root);
    let note = sign_checkpoint(&cp, &key).unwrap();
    let write = |name: &str, body: &str| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let mut cmds = String::new();
    writeln!(cmds, "vkey {vk}").unwrap();
    writeln!(
        cmds,
        "note {} {ORIGIN} {LEAVES} {}",
        write("cp.note", &note),
        to_hex(&root)
    )
    .unwrap();
    let tampered = [
        note.replacen(&format!("\n{LEAVES}\n"), "\n78\n", 1),
        sign_checkpoint(&cp, &SigningKey::from_bytes(&[7; 32])).unwrap(),
        note.replace(ORIGIN, "other.example/log"),
    ];
    for (i, bad) in tampered.iter().enumerate() {
        writeln!(cmds, "badnote {}", write(&format!("bad{i}.note"), bad)).unwrap();
    }
    writeln!(
        cmds,
        "tree {} {LEAVES} {}",
        rebuilt.display(),
        to_hex(&root)
    )
    .unwrap();
    for (i, size) in [
        (0, 1),
        (0, 77),
        (5, 37),
        (76, 77),
        (17, 64),
        (63, 64),
        (31, 33),
        (40, 41),
    ] {
        let p = inclusion_proof(i, size, &tree).unwrap();
        let r = tree_hash(size, &tree).unwrap();
        let args = format!("{i} {size} {} {} ", to_hex(&leaves[i as usize]), to_hex(&r));
        writeln!(cmds, "incl {args}{}", hex_list(&p)).unwrap();
        if let Some(first) = p.first() {
            let mut bad = p.clone();
            bad[0] = leaf_hash(first);
            writeln!(cmds, "badincl {args}{}", hex_list(&bad)).unwrap();
        }
    }
    for (m, size) in [
        (1, 77),
        (7, 77),
        (32, 64),
        (33, 77),
        (76, 77),
        (77, 77),
        (5, 6),
    ] {
        let p = consistency_proof(m, size, &tree).unwrap();
        let (old, new) = (
            tree_hash(m, &tree).unwrap(),
            tree_hash(size, &tree).unwrap(),
        );
        let args = format!("{m} {size} {} {} ", to_hex(&old), to_hex(&new));
        writeln!(cmds, "cons {args}{}", hex_list(&p)).unwrap();
        if p.len() > 1 {
            writeln!(cmds, "badcons {args}{}", hex_list(&p[1..])).unwrap();
        }
    }
    // Go's signer, given our key, writes exactly our bytes (also for a free-form note).
    let texts = [
        cp.to_text().unwrap(),
        "free text\n\nwith a blank line\n".to_owned(),
    ];
    for (i, text) in texts.iter().enumerate() {
        let ours = sign_note(text, ORIGIN, &key).unwrap();
        let (t, o) = (
            write(&format!("t{i}"), text),
            write(&format!("o{i}"), &ours),
        );
        writeln!(cmds, "sign {vk} {} {t} {o}", to_hex(&seed)).unwrap();
    }
    // The golden note of formats/tlog, under its own key.
    let golden = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tlog/golden.json"),
    )
    .unwrap();
    let Ok((signet_audit::json::Value::Object(golden), _)) = signet_audit::json::parse(&golden)
    else {
        panic!("golden.json is not a JSON object");
    };
    let field = |k: &str| golden[k].as_str().unwrap().to_owned();
    writeln!(cmds, "vkey {}", field("vkey")).unwrap();
    let golden_root = "a87af3179cccfb68c0f823dd6831b353f101a57fd49f3704db207bb2c9485c16";
    let golden_note = write("golden.note", &field("note_with_cosig"));
    writeln!(
        cmds,
        "note {golden_note} gateway.example/audit-log/v1 37 {golden_root}"
    )
    .unwrap();

    let input = d.join("commands.txt");
    std::fs::write(&input, &cmds).unwrap();
    let out = support::go::run(GO_CHECKER, &[input.as_path()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Go rejected our output:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), cmds.lines().count(), "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("ok ")), "{stdout}");
}
