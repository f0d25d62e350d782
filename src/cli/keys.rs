//! `signet keys`: generate key files; print a key's signed-note verifier key.
//!
//! Guarantees: key files are written by `signet_audit::keyfile` (mode 0600, created
//! exclusively, never through a symbolic link, fsynced with their directory); an existing
//! file is replaced only with `--force`. Only public material is printed: the key id,
//! file paths and the SPKI public key PEM. An HMAC secret is never printed.
//!
//! Exit codes: 0 written, 64 bad arguments (e.g. a key id outside `[A-Za-z0-9._-]`),
//! 73 the file exists, is a symbolic link or cannot be created.
//!
//! `signet keys vkey FILE [--origin NAME]` prints one line, the C2SP signed-note
//! verifier key `<origin>+<key id>+<base64(0x01 || public key)>` of an Ed25519 key
//! (PKCS#8 private PEM or SPKI public PEM). The name must be the log's checkpoint
//! origin; the default is the one `signet serve` uses, `<hostname>/signet-audit` (host
//! name from `/proc/sys/kernel/hostname`, `localhost` when unreadable). Exit 0 printed,
//! 64 not an Ed25519 PEM key or a bad name, 66 unreadable file.

use std::path::PathBuf;

use std::path::Path;

use clap::{Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use signet_audit::key::{DEFAULT_KEY_ID, KeyError};
use signet_audit::keyfile::{self, KeyFileError};

use crate::exit::{self, CmdResult, Failure};

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Generate an Ed25519 key (receipts, checkpoints): PKCS#8 PEM at FILE, public key at FILE.pub
    #[command(name = "generate-ed25519")]
    GenerateEd25519(GenerateArgs),
    /// Generate a 32-byte HMAC chain secret, written as 64 hex characters
    #[command(name = "generate-hmac")]
    GenerateHmac(GenerateArgs),
    /// Print the signed-note verifier key of an Ed25519 key (for `--log-key`)
    Vkey(VkeyArgs),
}

#[derive(Args, Debug)]
pub struct VkeyArgs {
    /// Ed25519 key file: PKCS#8 private PEM, or SPKI public PEM (the `.pub`)
    pub file: PathBuf,
    /// Key name, i.e. the log's checkpoint origin [default: <hostname>/signet-audit,
    /// as `signet serve` derives it]
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Where to write the secret key (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Key id (Ed25519 default: derived from the public key; HMAC default: k1)
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// Replace existing files (atomically, via a temporary file and rename)
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: KeysCmd) -> CmdResult {
    match cmd {
        KeysCmd::GenerateEd25519(a) => generate_ed25519(&a),
        KeysCmd::GenerateHmac(a) => generate_hmac(&a),
        KeysCmd::Vkey(a) => print_vkey(&a),
    }
}

/// The public key of an Ed25519 PEM file, private (PKCS#8) or public (SPKI).
pub fn load_ed25519_verifying(path: &Path, what: &str) -> Result<VerifyingKey, Failure> {
    let public = keyfile::load_ed25519_public(path);
    let private = match public {
        Ok(k) => return Ok(k),
        Err(KeyFileError::BadPublicPem(_)) => keyfile::load_ed25519_private(path),
        Err(e) => Err(e),
    };
    match private {
        Ok(k) => Ok(k.verifying_key()),
        Err(e @ KeyFileError::Read { .. }) => {
            Err(Failure::new(exit::NO_INPUT, format!("{what}: {e}")))
        }
        Err(_) => Err(Failure::usage(format!(
            "{what} {} is not an Ed25519 PEM key (SPKI public or PKCS#8 private)",
            path.display()
        ))),
    }
}

fn print_vkey(a: &VkeyArgs) -> CmdResult {
    let key = load_ed25519_verifying(&a.file, "key file")?;
    let origin = a
        .origin
        .clone()
        .unwrap_or_else(crate::config::defaults::origin);
    let vkey = signet_audit::note::vkey(&origin, &key)
        .map_err(|e| Failure::usage(format!("--origin {origin:?}: {e}")))?;
    outln!("{vkey}");
    Ok(exit::OK)
}

fn generate_ed25519(a: &GenerateArgs) -> CmdResult {
    let files =
        keyfile::generate_ed25519_files(&a.out, a.key_id.as_deref(), a.force).map_err(failure)?;
    outln!("key id: {}", files.key_id);
    outln!(
        "private key: {} (mode 0600, keep it secret)",
        files.private_path.display()
    );
    outln!("public key: {}", files.public_path.display());
    out!("{}", files.public_pem);
    Ok(exit::OK)
}

fn generate_hmac(a: &GenerateArgs) -> CmdResult {
    let id = a.key_id.as_deref().unwrap_or(DEFAULT_KEY_ID);
    let key = keyfile::generate_hmac_file(&a.out, id, a.force).map_err(failure)?;
    outln!("key id: {}", key.id());
    outln!(
        "hmac secret: {} (mode 0600, keep it secret)",
        a.out.display()
    );
    outln!(
        "configure: SIGNET_HMAC_SECRET_FILE={} SIGNET_HMAC_KEY_ID={}",
        a.out.display(),
        key.id()
    );
    Ok(exit::OK)
}

/// Maps a key file error to an exit code; messages name files, never key material.
fn failure(e: KeyFileError) -> Failure {
    let code = match &e {
        KeyFileError::BadKeyId | KeyFileError::Hmac(KeyError::BadKeyId) => exit::USAGE,
        KeyFileError::Exists(_) => {
            return Failure::new(
                exit::CANT_CREATE,
                format!("{e} (use --force to replace it)"),
            );
        }
        // Symlink, write and encoding failures: the key file could not be created.
        _ => exit::CANT_CREATE,
    };
    Failure::new(code, e.to_string())
}
