//! The Go toolchain with Debian's `golang.org/x/mod` sources, for interop checks by
//! code nobody here wrote (`sumdb/note`, `sumdb/tlog`).
//!
//! Go runs in GOPATH mode, offline: `GOPATH=/usr/share/gocode` (where
//! `golang-golang-x-mod-dev` installs the sources), `GO111MODULE=off`, `GOPROXY=off`,
//! `GOFLAGS` cleared, a build cache under the cargo target directory. A missing `go`
//! or missing sources fail the test (run `scripts/test-tools.sh`); they never skip it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian's `golang-golang-x-mod-dev` puts the sources.
pub const GOPATH: &str = "/usr/share/gocode";

/// The `go` binary. Panics (fails the test) when Go or x/mod is missing.
pub fn go() -> PathBuf {
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("go"))
            .find(|p| p.is_file())
    });
    let go = from_path
        .or_else(|| Some(PathBuf::from("/usr/lib/go/bin/go")).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("`go` not found: run scripts/test-tools.sh (installs golang-go)")
        });
    for pkg in ["sumdb/note", "sumdb/tlog"] {
        let dir = Path::new(GOPATH).join("src/golang.org/x/mod").join(pkg);
        assert!(
            dir.is_dir(),
            "{} missing: run scripts/test-tools.sh (installs golang-golang-x-mod-dev)",
            dir.display()
        );
    }
    go
}

/// Runs the Go program `source` (package main) with `args`, offline in GOPATH mode.
pub fn run(source: &str, args: &[&Path]) -> Output {
    let go = go();
    let dir = tempfile::tempdir().expect("temp dir for the Go program");
    let main = dir.path().join("main.go");
    std::fs::write(&main, source).expect("write main.go");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-build-cache");
    Command::new(go)
        .arg("run")
        .arg(&main)
        .args(args)
        .current_dir(dir.path())
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .env("GOCACHE", cache)
        .env("CGO_ENABLED", "0")
        .output()
        .expect("run go")
}
