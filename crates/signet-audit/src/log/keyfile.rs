//! Key files: Ed25519 receipt/log keys (PKCS#8 and SPKI PEM) and HMAC chain secrets.
//!
//! Guarantees:
//! - A secret file (private PEM, HMAC hex) is created with `O_CREAT|O_EXCL|O_NOFOLLOW`
//!   and mode exactly 0600 (set on the open file, so the umask cannot widen or narrow it);
//!   an existing file is never overwritten unless `force` is given. With `force` the new
//!   content goes to a fresh 0600 temporary file beside the target (also `O_EXCL`), which
//!   is fsynced and renamed over it, so a reader sees the old key or the new one, never a
//!   mix. A symbolic link at the target is refused in both modes.
//! - Every written file is fsynced, then its directory, before success is reported; a
//!   failed write leaves no partial file behind (best effort removal of what we created).
//! - The public key goes to `<out>.pub` (SPKI PEM, mode 0644). When `force` is not given
//!   and `<out>.pub` already exists, nothing is written.
//! - The private PEM is PKCS#8 v1 (RFC 8410, `BEGIN PRIVATE KEY`, no embedded public key),
//!   the form `openssl genpkey` and Python `cryptography` write; loading accepts v1 and
//!   v2 (a v2 public key must match the private one).
//! - Secret bytes pass only through [`Zeroizing`] buffers (or `SigningKey`, which wipes
//!   itself); nothing here prints or returns secret material in an error or `Debug`.
//! - The default Ed25519 key id is `ed25519-` followed by the first 16 hex characters
//!   (8 bytes) of SHA-256 over the raw 32-byte public key: anyone holding the `.pub` file
//!   can recompute it, and it fits the key id alphabet of receipts and key rings.
//!
//! Assumes: a Unix file system (modes, `O_NOFOLLOW`, `rename` atomic within a directory).
//! Only the last path component is checked for being a symbolic link.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::durable::{self, DurableError};
use crate::log::key::{HmacKey, KeyError, valid_key_id};
use crate::util::{fill_random, to_hex};

/// Suffix appended to the private key path to name the public key file.
pub const PUB_SUFFIX: &str = ".pub";
/// Mode of secret files.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public key files.
pub const PUBLIC_MODE: u32 = 0o644;
/// Largest key file the loaders read.
const MAX_KEY_FILE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(String),
    #[error("{0} is a symbolic link; refusing to write through it")]
    Symlink(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{0} is too large to be a key file")]
    TooLarge(String),
    #[error("{0} is not a PKCS#8 PEM Ed25519 private key")]
    BadPrivatePem(String),
    #[error("{0} is not an SPKI PEM Ed25519 public key")]
    BadPublicPem(String),
    #[error("key id must be 1 to 64 characters of [A-Za-z0-9._-]")]
    BadKeyId,
    #[error("cannot encode the key as PEM")]
    Encode,
    #[error(transparent)]
    Hmac(#[from] KeyError),
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Write {
        path: shown(path),
        source,
    }
}

/// The public key file that goes with `private`: the same path with `.pub` appended.
pub fn public_path(private: &Path) -> PathBuf {
    durable::side_path(private, PUB_SUFFIX)
}

/// A fresh Ed25519 key from the operating system's random source.
pub fn generate_ed25519() -> SigningKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    fill_random(&mut seed[..]);
    SigningKey::from_bytes(&seed)
}

/// `ed25519-` + first 16 hex of SHA-256(raw public key); see the module docs.
pub fn default_key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("ed25519-{}", to_hex(&digest[..8]))
}

/// PKCS#8 v1 PEM of the private key.
pub fn private_pem(key: &SigningKey) -> Result<Zeroizing<String>, KeyFileError> {
    // KeypairBytes wipes its secret on drop.
    let pair = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    pair.to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyFileError::Encode)
}

/// SPKI PEM of the public key.
pub fn public_pem(key: &VerifyingKey) -> Result<String, KeyFileError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyFileError::Encode)
}

/// What [`generate_ed25519_files`] wrote: public material only.
#[derive(Clone, Debug)]
pub struct Ed25519KeyFiles {
    pub key_id: String,
    pub private_path: PathBuf,
    pub public_path: PathBuf,
    pub public_pem: String,
    pub public_key: VerifyingKey,
}

/// Generates an Ed25519 key and writes `out` (0600) and `out.pub` (0644).
pub fn generate_ed25519_files(
    out: &Path,
    key_id: Option<&str>,
    force: bool,
) -> Result<Ed25519KeyFiles, KeyFileError> {
    if let Some(id) = key_id
        && !valid_key_id(id)
    {
        return Err(KeyFileError::BadKeyId);
    }
    let key = generate_ed25519();
    let public_path = write_ed25519(out, &key, force)?;
    let public_key = key.verifying_key();
    Ok(Ed25519KeyFiles {
        key_id: key_id.map_or_else(|| default_key_id(&public_key), str::to_owned),
        private_path: out.to_owned(),
        public_path,
        public_pem: public_pem(&public_key)?,
        public_key,
    })
}

/// Writes `key` to `out` (PKCS#8 PEM, 0600) and `out.pub` (SPKI PEM, 0644); returns the
/// public path.
pub fn write_ed25519(out: &Path, key: &SigningKey, force: bool) -> Result<PathBuf, KeyFileError> {
    let pub_path = public_path(out);
    let private = private_pem(key)?;
    let public = public_pem(&key.verifying_key())?;
    // Check both targets first so a refusal writes nothing.
    check_target(out, force)?;
    check_target(&pub_path, force)?;
    write_file(out, private.as_bytes(), SECRET_MODE, force)?;
    if let Err(e) = write_file(&pub_path, public.as_bytes(), PUBLIC_MODE, force) {
        if !force {
            // We created `out` a moment ago; do not leave half a key pair.
            let _ = fs::remove_file(out);
            let _ = sync_dir(out);
        }
        return Err(e);
    }
    Ok(pub_path)
}

/// Generates a 32-byte HMAC secret and writes it to `out` as 64 lowercase hex and `\n`
/// (mode 0600).
pub fn generate_hmac_file(out: &Path, key_id: &str, force: bool) -> Result<HmacKey, KeyFileError> {
    let key = HmacKey::generate(key_id)?;
    write_hmac_secret(out, &key, force)?;
    Ok(key)
}

/// Writes `key` to `out` as lowercase hex and `\n` (mode 0600).
pub fn write_hmac_secret(out: &Path, key: &HmacKey, force: bool) -> Result<(), KeyFileError> {
    let hex = key.to_hex_secret();
    let mut text = Zeroizing::new(Vec::with_capacity(hex.len() + 1));
    text.extend_from_slice(hex.as_bytes());
    text.push(b'\n');
    write_secret_file(out, &text, force)
}

/// Reads an HMAC secret file written by [`write_hmac_secret`] (or any hex file).
pub fn load_hmac_secret(key_id: &str, path: &Path) -> Result<HmacKey, KeyFileError> {
    let text = read_limited(path)?;
    let text = std::str::from_utf8(&text).map_err(|_| KeyError::NotHex)?;
    Ok(HmacKey::from_hex(key_id, text)?)
}

/// Reads a PKCS#8 PEM Ed25519 private key.
pub fn load_ed25519_private(path: &Path) -> Result<SigningKey, KeyFileError> {
    let text = read_limited(path)?;
    let bad = || KeyFileError::BadPrivatePem(shown(path));
    let pem = std::str::from_utf8(&text).map_err(|_| bad())?;
    SigningKey::from_pkcs8_pem(pem).map_err(|_| bad())
}

/// Reads an SPKI PEM Ed25519 public key; weak (small-order) keys are refused.
pub fn load_ed25519_public(path: &Path) -> Result<VerifyingKey, KeyFileError> {
    let text = read_limited(path)?;
    let bad = || KeyFileError::BadPublicPem(shown(path));
    let pem = std::str::from_utf8(&text).map_err(|_| bad())?;
    let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| bad())?;
    if key.is_weak() {
        return Err(bad());
    }
    Ok(key)
}

/// Writes a secret file (mode 0600) under the rules in the module docs.
pub fn write_secret_file(path: &Path, contents: &[u8], force: bool) -> Result<(), KeyFileError> {
    check_target(path, force)?;
    write_file(path, contents, SECRET_MODE, force)
}

/// Reads at most [`MAX_KEY_FILE`] bytes into a buffer that is wiped on drop. The buffer
/// is allocated once so no copy of the content is left in freed memory.
fn read_limited(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let read_err = |source| KeyFileError::Read {
        path: shown(path),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE + 1));
    file.take(MAX_KEY_FILE as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() > MAX_KEY_FILE {
        return Err(KeyFileError::TooLarge(shown(path)));
    }
    Ok(buf)
}

/// Refuses a symbolic link always, and an existing file unless `force`.
fn check_target(path: &Path, force: bool) -> Result<(), KeyFileError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(KeyFileError::Symlink(shown(path))),
        Ok(_) if !force => Err(KeyFileError::Exists(shown(path))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(write_err(path)(e)),
    }
}

/// Creates `path` exclusively (never following a symlink) with exactly `mode`, writes,
/// fsyncs it and its directory. On failure the file is removed again.
fn create_exclusive(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyFileError> {
    durable::write_new(path, contents, mode).map_err(|e| match e {
        DurableError::Exists => KeyFileError::Exists(shown(path)),
        DurableError::Symlink => KeyFileError::Symlink(shown(path)),
        DurableError::Io { source, .. } => write_err(path)(source),
        other => write_err(path)(other.into()),
    })
}

fn write_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<(), KeyFileError> {
    if !force {
        return create_exclusive(path, contents, mode);
    }
    let tmp = temp_beside(path);
    create_exclusive(&tmp, contents, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(path)(e));
    }
    sync_dir(path)
}

/// `.<name>.tmp-<16 random hex>` in the directory of `path`.
fn temp_beside(path: &Path) -> PathBuf {
    let mut rnd = [0u8; 8];
    fill_random(&mut rnd);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", to_hex(&rnd)))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fsyncs the directory holding `path`, so a new or renamed entry survives a crash.
fn sync_dir(path: &Path) -> Result<(), KeyFileError> {
    durable::fsync_dir(path).map_err(write_err(parent_dir(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn ed25519_files_modes_and_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("receipt.key");
        let info = generate_ed25519_files(&out, None, false).expect("generate");
        assert_eq!(info.public_path, dir.path().join("receipt.key.pub"));
        assert_eq!(mode(&out), 0o600);
        assert_eq!(mode(&info.public_path), 0o644);
        let private = fs::read_to_string(&out).expect("read");
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{private}"
        );
        let public = fs::read_to_string(&info.public_path).expect("read");
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(public, info.public_pem);

        let sk = load_ed25519_private(&out).expect("load private");
        let vk = load_ed25519_public(&info.public_path).expect("load public");
        assert_eq!(sk.verifying_key(), vk);
        assert_eq!(vk, info.public_key);
        assert_eq!(info.key_id, default_key_id(&vk));
        assert!(info.key_id.starts_with("ed25519-") && info.key_id.len() == 24);
        assert!(valid_key_id(&info.key_id));
        // Debug of the loaded key and of the result never shows the secret.
        let secret_hex = to_hex(&sk.to_bytes());
        assert!(!format!("{sk:?}{info:?}").contains(&secret_hex));
        assert_eq!(entries(dir.path()), ["receipt.key", "receipt.key.pub"]);
    }

    #[test]
    fn default_key_id_is_sha256_prefix() {
        // RFC 8032 test 1 public key; id computed with `sha256sum` over the raw 32 bytes.
        let raw = crate::util::from_hex(
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        )
        .expect("hex");
        let raw: [u8; 32] = raw.try_into().expect("32 bytes");
        let vk = VerifyingKey::from_bytes(&raw).expect("point");
        let digest = to_hex(&Sha256::digest(raw));
        assert_eq!(default_key_id(&vk), format!("ed25519-{}", &digest[..16]));
    }

    #[test]
    fn second_write_refused_and_force_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("k.pem");
        let first = generate_ed25519_files(&out, Some("rk-1"), false).expect("generate");
        assert_eq!(first.key_id, "rk-1");
        let before = fs::read(&out).expect("read");
        let again = generate_ed25519_files(&out, None, false);
        assert!(matches!(again, Err(KeyFileError::Exists(_))), "{again:?}");
        assert_eq!(fs::read(&out).expect("read"), before);

        let second = generate_ed25519_files(&out, None, true).expect("force");
        assert_ne!(fs::read(&out).expect("read"), before);
        assert_ne!(second.public_key, first.public_key);
        assert_eq!(mode(&out), 0o600);
        assert_eq!(
            load_ed25519_private(&out).expect("load").verifying_key(),
            second.public_key
        );
        assert_eq!(
            load_ed25519_public(&second.public_path).expect("load"),
            second.public_key
        );
        assert_eq!(
            entries(dir.path()),
            ["k.pem", "k.pem.pub"],
            "no temporary file left"
        );
    }

    #[test]
    fn existing_pub_refuses_without_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("k.pem");
        fs::write(public_path(&out), "keep").expect("write");
        let r = generate_ed25519_files(&out, None, false);
        assert!(matches!(r, Err(KeyFileError::Exists(_))), "{r:?}");
        assert!(!out.exists());
        assert_eq!(fs::read_to_string(public_path(&out)).expect("read"), "keep");
    }

    #[test]
    fn symlinks_refused_even_with_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        fs::write(&target, "precious").expect("write");
        let link = dir.path().join("link.pem");
        symlink(&target, &link).expect("symlink");
        let dangling = dir.path().join("dangling.pem");
        symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
        for force in [false, true] {
            for p in [&link, &dangling] {
                let r = generate_ed25519_files(p, None, force);
                assert!(
                    matches!(r, Err(KeyFileError::Symlink(_))),
                    "{p:?} {force}: {r:?}"
                );
                let r = generate_hmac_file(p, "k1", force);
                assert!(
                    matches!(r, Err(KeyFileError::Symlink(_))),
                    "{p:?} {force}: {r:?}"
                );
            }
        }
        assert_eq!(fs::read_to_string(&target).expect("read"), "precious");
        assert!(!dir.path().join("nowhere").exists());
        // A symlink at the .pub path is refused too, and the private key is not left.
        let out = dir.path().join("k2.pem");
        symlink(&target, public_path(&out)).expect("symlink");
        let r = generate_ed25519_files(&out, None, true);
        assert!(matches!(r, Err(KeyFileError::Symlink(_))), "{r:?}");
        assert!(!out.exists());
        // The open itself refuses a symlink (O_NOFOLLOW / O_EXCL), whatever the checks said.
        let r = create_exclusive(&link, b"x", SECRET_MODE);
        assert!(
            matches!(r, Err(KeyFileError::Exists(_) | KeyFileError::Symlink(_))),
            "{r:?}"
        );
        assert_eq!(fs::read_to_string(&target).expect("read"), "precious");
    }

    #[test]
    fn hmac_file_shape_mode_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("hmac.hex");
        let key = generate_hmac_file(&out, "k1", false).expect("generate");
        assert_eq!(mode(&out), 0o600);
        let text = fs::read_to_string(&out).expect("read");
        assert_eq!(text.len(), 65);
        assert!(
            crate::util::is_hex64(&text[..64]) && text.ends_with('\n'),
            "{text}"
        );
        let loaded = load_hmac_secret("k1", &out).expect("load");
        assert!(loaded.mac(&[b"x"]).ct_eq(&key.mac(&[b"x"])));

        let r = generate_hmac_file(&out, "k1", false);
        assert!(matches!(r, Err(KeyFileError::Exists(_))), "{r:?}");
        assert_eq!(fs::read_to_string(&out).expect("read"), text);
        generate_hmac_file(&out, "k1", true).expect("force");
        assert_ne!(fs::read_to_string(&out).expect("read"), text);
        assert_eq!(mode(&out), 0o600);
        assert_eq!(entries(dir.path()), ["hmac.hex"]);
        assert!(matches!(
            generate_hmac_file(&dir.path().join("x"), "bad id", false),
            Err(KeyFileError::Hmac(KeyError::BadKeyId))
        ));
    }

    #[test]
    fn mode_ignores_umask_widening_attempts() {
        // A pre-existing 0666 file replaced with force ends up 0600.
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("s");
        fs::write(&out, "old").expect("write");
        fs::set_permissions(&out, Permissions::from_mode(0o666)).expect("chmod");
        write_secret_file(&out, b"new", true).expect("force");
        assert_eq!(mode(&out), 0o600);
        assert_eq!(fs::read_to_string(&out).expect("read"), "new");
    }

    #[test]
    fn loaders_reject_wrong_material() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("k.pem");
        let info = generate_ed25519_files(&out, None, false).expect("generate");
        // A public key is not a private key and the other way round.
        assert!(matches!(
            load_ed25519_private(&info.public_path),
            Err(KeyFileError::BadPrivatePem(_))
        ));
        assert!(matches!(
            load_ed25519_public(&out),
            Err(KeyFileError::BadPublicPem(_))
        ));
        let junk = dir.path().join("junk");
        fs::write(&junk, [0xffu8, 0, 1]).expect("write");
        assert!(matches!(
            load_ed25519_private(&junk),
            Err(KeyFileError::BadPrivatePem(_))
        ));
        let big = dir.path().join("big");
        fs::write(&big, vec![b'a'; MAX_KEY_FILE + 1]).expect("write");
        assert!(matches!(
            load_ed25519_public(&big),
            Err(KeyFileError::TooLarge(_))
        ));
        assert!(matches!(
            load_ed25519_private(&dir.path().join("missing")),
            Err(KeyFileError::Read { .. })
        ));
        // An error message names the file, never its content.
        let msg = load_ed25519_public(&out).expect_err("private").to_string();
        assert!(!msg.contains("PRIVATE"), "{msg}");
        assert!(matches!(
            generate_ed25519_files(&dir.path().join("n"), Some("a;b"), false),
            Err(KeyFileError::BadKeyId)
        ));
        assert!(!dir.path().join("n").exists());
    }

    #[test]
    fn openssl_style_pkcs8_v1_loads() {
        // RFC 8410 section 10.3 example private key (PKCS#8 v1).
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("rfc8410.pem");
        fs::write(&p, pem).expect("write");
        let sk = load_ed25519_private(&p).expect("load");
        assert_eq!(private_pem(&sk).expect("pem").as_str(), pem);
    }
}
