//! The one HMAC key resolver: `signet serve` and every command that needs the chain key
//! (`audit verify`, `audit append`, `receipt verify`) get it here, the same way.
//!
//! Guarantees:
//! - The same sources in the same order everywhere. Secret: `--hmac-secret` or
//!   `--hmac-secret-file`, then `SIGNET_HMAC_SECRET` (hex) or `SIGNET_HMAC_SECRET_FILE`,
//!   then (serve only) the config file's `hmac_secret_file`. Key id: `--hmac-key-id`,
//!   then `SIGNET_HMAC_KEY_ID`, then (serve only) the file's `hmac_key_id`, then `k1`.
//! - Two secret sources in one layer (both flags, or both variables) are refused with
//!   the same message for every command, never silently ordered; `--hmac-secret` always
//!   works but always warns that the process list shows it.
//! - The environment is read only through [`Env`] (tests pass a map); an empty or blank
//!   variable counts as unset.
//! - The secret is held in [`Zeroizing`] buffers from the moment it is read (and the key
//!   in [`HmacKey`], which wipes itself); messages name the source, never the value.
//! - Extra keys for rotated logs (`--key ID=FILE`, CLI only) are read from files into
//!   the same [`KeyRing`]; a second key with an id already in it is refused.

use std::path::{Path, PathBuf};

use signet_audit::HmacKey;
use signet_audit::key::{KeyError, KeyRing};
use zeroize::Zeroizing;

use super::args::SecretArg;
use super::env::{Env, non_empty};
use super::resolve::{KEY_ID, Mode, Resolver};
use super::{ServeArgs, defaults, parse};

/// Where the HMAC secret comes from.
enum SecretSource {
    Hex(String, Zeroizing<String>),
    File(String, PathBuf),
}

/// The HMAC flags of a command (the same names for `serve` and the CLI commands).
#[derive(Clone, Copy, Debug, Default)]
pub struct HmacFlags<'a> {
    /// `--hmac-secret HEX`.
    pub secret: Option<&'a SecretArg>,
    /// `--hmac-secret-file FILE`.
    pub secret_file: Option<&'a Path>,
    /// `--hmac-key-id ID`.
    pub key_id: Option<&'a str>,
}

/// The chain key a CLI command was given, if any, and the key id in force.
#[derive(Debug)]
pub struct HmacChoice {
    pub key: Option<HmacKey>,
    /// The resolved key id (of `key` when there is one; else the id flag, variable or
    /// default, under which a `--key` ring entry may be picked).
    pub id: String,
    /// To print before running (`--hmac-secret` on the command line).
    pub warnings: Vec<String>,
}

/// The chain key from `flags` and `env` for commands without a config file. No secret
/// at all is not an error here (the command says what it needs); every other problem
/// is, with the messages `signet serve` gives for it.
pub fn resolve_hmac(flags: HmacFlags<'_>, env: &dyn Env) -> Result<HmacChoice, Vec<String>> {
    let args = ServeArgs {
        hmac_secret: flags.secret.cloned(),
        hmac_secret_file: flags.secret_file.map(Path::to_path_buf),
        hmac_key_id: flags.key_id.map(str::to_owned),
        ..ServeArgs::default()
    };
    let mut r = Resolver::new(&args, env, None, false, Mode::KeysOnly);
    let (key, id) = r.hmac_key_and_id();
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(HmacChoice {
        key,
        id,
        warnings: r.warnings,
    })
}

/// `primary` plus the `--key ID=FILE` keys, in one ring.
pub fn key_ring(primary: Option<HmacKey>, extra: &[String]) -> Result<KeyRing, String> {
    let mut ring = KeyRing::new();
    if let Some(k) = primary {
        ring.add(k).map_err(|e| format!("key ring: {e}"))?;
    }
    for spec in extra {
        let (id, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("--key {spec:?}: expected ID=FILE"))?;
        let k = HmacKey::from_file(id, Path::new(file)).map_err(|e| format!("--key {id}: {e}"))?;
        ring.add(k).map_err(|e| format!("--key: {e}"))?;
    }
    Ok(ring)
}

impl Resolver<'_> {
    /// The chain key; `None` when absent (an error in serve mode) or bad (recorded).
    pub(super) fn hmac_key(&mut self) -> Option<HmacKey> {
        self.hmac_key_and_id().0
    }

    fn hmac_key_and_id(&mut self) -> (Option<HmacKey>, String) {
        let a = self.args;
        let raw = self.raw();
        if raw.is_some_and(|r| r.hmac_secret.is_some()) {
            self.errors.push(format!(
                "{}: secrets are not read from the config file; use hmac_secret_file, SIGNET_HMAC_SECRET_FILE or SIGNET_HMAC_SECRET",
                self.file_origin("hmac_secret")
            ));
        }
        let before = self.errors.len();
        let id = self.value(
            KEY_ID,
            a.hmac_key_id.clone(),
            raw.and_then(|r| r.hmac_key_id.clone()),
            parse::key_id,
        );
        let id_ok = self.errors.len() == before;
        let id = id.unwrap_or_else(|| defaults::HMAC_KEY_ID.to_owned());

        let Some(source) = self.secret_source() else {
            return (None, id);
        };
        // With a bad key id the secret is still checked (under the default id) so its
        // problems are reported in the same run.
        let key = match source {
            SecretSource::Hex(origin, hex) => {
                HmacKey::from_hex(&id, &hex).map_err(|e| self.errors.push(format!("{origin}: {e}")))
            }
            SecretSource::File(origin, path) => HmacKey::from_file(&id, &path).map_err(|e| {
                self.errors.push(match e {
                    KeyError::Read { .. } => format!("{origin}: {e}"),
                    _ => format!("{origin} ({}): {e}", path.display()),
                })
            }),
        };
        (key.ok().filter(|_| id_ok), id)
    }

    fn secret_source(&mut self) -> Option<SecretSource> {
        let a = self.args;
        match (&a.hmac_secret, &a.hmac_secret_file) {
            (Some(_), Some(_)) => {
                self.errors.push(
                    "--hmac-secret and --hmac-secret-file are both given; use one".to_owned(),
                );
                return None;
            }
            (Some(s), None) => {
                self.warnings.push(
                    "--hmac-secret puts the secret in the process list; use SIGNET_HMAC_SECRET or --hmac-secret-file".to_owned(),
                );
                return Some(SecretSource::Hex(
                    "--hmac-secret".to_owned(),
                    Zeroizing::new(s.expose().to_owned()),
                ));
            }
            (None, Some(p)) => {
                return Some(SecretSource::File(
                    "--hmac-secret-file".to_owned(),
                    p.clone(),
                ));
            }
            (None, None) => {}
        }
        let hex = non_empty(self.env, "SIGNET_HMAC_SECRET").map(Zeroizing::new);
        let file = non_empty(self.env, "SIGNET_HMAC_SECRET_FILE");
        match (hex, file) {
            (Some(_), Some(_)) => {
                self.errors.push(
                    "SIGNET_HMAC_SECRET and SIGNET_HMAC_SECRET_FILE are both set; set one"
                        .to_owned(),
                );
                return None;
            }
            (Some(h), None) => return Some(SecretSource::Hex("SIGNET_HMAC_SECRET".to_owned(), h)),
            (None, Some(f)) => {
                return Some(SecretSource::File(
                    "SIGNET_HMAC_SECRET_FILE".to_owned(),
                    PathBuf::from(f),
                ));
            }
            (None, None) => {}
        }
        if let Some(src) = self.file
            && let Some(text) = &src.raw.hmac_secret_file
        {
            let origin = self.file_origin("hmac_secret_file");
            return match parse::path(text) {
                Ok(p) => Some(SecretSource::File(origin, src.resolve(p))),
                Err(m) => {
                    self.errors.push(format!("{origin}: {m}"));
                    None
                }
            };
        }
        if self.missing_is_error() {
            self.errors.push(
                "no hmac secret: set SIGNET_HMAC_SECRET or SIGNET_HMAC_SECRET_FILE, or pass --hmac-secret-file (or hmac_secret_file in the config file)"
                    .to_owned(),
            );
        }
        None
    }
}
