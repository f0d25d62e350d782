//! Helpers shared by the integration tests: the test-tool venv and the fixtures.
#![allow(dead_code)]

pub mod audit_log;
pub mod gateway;
pub mod go;
pub mod raw;
pub mod tls;
pub mod tsa;

use std::path::PathBuf;

/// The venv made by `scripts/test-tools.sh`. Panics (fails the test) when missing:
/// interop checks are never skipped.
pub fn venv() -> PathBuf {
    let v = std::env::var_os("SIGNET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/venv")
        });
    assert!(
        v.join("bin/python").exists(),
        "test venv missing at {}: run scripts/test-tools.sh (CI does)",
        v.display()
    );
    v
}

/// Python from the test venv (has `cryptography` and `signet-sign`).
pub fn python() -> PathBuf {
    venv().join("bin/python")
}

/// The reference signet 0.1.10.1 CLI.
pub fn reference_signet() -> PathBuf {
    venv().join("bin/signet")
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/signet-0.1")
        .join(name)
}
