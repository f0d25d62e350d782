//! TLS material for both sides of the gateway: the listener's certificate and key, and
//! the roots that upstream and TSA certificates are checked against.
//!
//! Guarantees:
//! - One crypto provider, chosen here and passed explicitly to every rustls config:
//!   `ring` (see [`provider`]). Nothing relies on a process-wide default provider, and
//!   `aws-lc-rs` is not in the build (deny.toml bans it).
//! - Upstream certificates are always verified, chain and host name (DNS name or IP
//!   address SAN), by rustls' WebPKI verifier. There is no option to turn this off.
//! - Upstream roots: only the CA certificate(s) in the `--upstream-ca` PEM file when one
//!   is given; otherwise the system roots (`rustls-native-certs`, which honours
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR`). System roots are loaded only for an `https://`
//!   upstream, and finding none is an error rather than a client that fails every call.
//!   An `https://` TSA gets its roots the same way ([`roots`], with `--tsa-ca`) and the
//!   same client config ([`client_config`]), so anchoring speaks the upstream's TLS.
//! - Listener: a PEM certificate chain plus a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private
//!   key, checked to match; ALPN offers `h2` then `http/1.1`.
//! - PEM is read with `rustls-pki-types`' `PemObject` (not the archived rustls-pemfile).
//!   Errors name the file and what is wrong with it, never key material.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS material could not be loaded. Every variant is a configuration error (exit 64).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {}: cannot read: {source}", .path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {}: not valid PEM: {detail}", .path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("{what} {}: no certificate (BEGIN CERTIFICATE) in the file", .path.display())]
    NoCertificates { what: &'static str, path: PathBuf },
    #[error(
        "TLS key {}: no private key in the file (PKCS#8, RSA or EC PEM expected)",
        .0.display()
    )]
    NoKey(PathBuf),
    #[error("{} {}: certificate {index} is not a usable trust anchor: {source}", .peer.ca, .path.display())]
    BadAnchor {
        peer: &'static Peer,
        path: PathBuf,
        index: usize,
        source: rustls::Error,
    },
    #[error(
        "no system root certificates found for the https {} \
         (install the ca-certificates package, set SSL_CERT_FILE, or pass {})",
        .0.name, .0.ca_flag
    )]
    NoSystemRoots(&'static Peer),
    #[error("TLS certificate and key: {0}")]
    Server(rustls::Error),
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
    #[error("upstream address: {0}")]
    Address(String),
}

/// The crypto provider for every TLS connection, in and out.
///
/// `ring`, on purpose: it builds with a plain C compiler (aws-lc-rs needs cmake and, on
/// some targets, NASM or a prebuilt blob), it is small, and it covers everything we use
/// (TLS 1.2/1.3, ECDSA, Ed25519, RSA, X25519, AES-GCM, ChaCha20-Poly1305). What we give
/// up: FIPS mode and the post-quantum X25519MLKEM768 key exchange, which only the
/// aws-lc-rs provider has in rustls 0.23. One stack only: switching means changing this
/// function and the Cargo features together.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_err(what: &'static str, path: &Path, e: rustls_pki_types::pem::Error) -> TlsError {
    match e {
        rustls_pki_types::pem::Error::Io(source) => TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        },
        other => TlsError::Pem {
            what,
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// Every certificate in a PEM file (other PEM sections are skipped); at least one.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(what, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The server a client config is for, as named in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// `upstream`, `TSA`.
    pub name: &'static str,
    /// The CA file in messages: `upstream CA`.
    pub ca: &'static str,
    /// The flag naming that file: `--upstream-ca`.
    pub ca_flag: &'static str,
}

/// The upstream the gateway forwards to.
pub static UPSTREAM: Peer = Peer {
    name: "upstream",
    ca: "upstream CA",
    ca_flag: "--upstream-ca",
};

/// The RFC 3161 time-stamping authority anchoring checkpoints.
pub static TSA: Peer = Peer {
    name: "TSA",
    ca: "TSA CA",
    ca_flag: "--tsa-ca",
};

/// The roots upstream certificates are verified against ([`roots`] for [`UPSTREAM`]).
pub fn upstream_roots(ca: Option<&Path>, https_upstream: bool) -> Result<RootCertStore, TlsError> {
    roots(&UPSTREAM, ca, https_upstream)
}

/// The roots `peer`'s certificates are verified against.
///
/// `ca` given: exactly the certificates in that file. Otherwise the system roots when
/// `https`, and an empty store when the peer is plain http (no connection ever needs
/// one).
pub fn roots(
    peer: &'static Peer,
    ca: Option<&Path>,
    https: bool,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca {
        for (index, cert) in certificates(peer.ca, path)?.into_iter().enumerate() {
            roots.add(cert).map_err(|source| TlsError::BadAnchor {
                peer,
                path: path.to_owned(),
                index: index + 1,
                source,
            })?;
        }
        return Ok(roots);
    }
    if !https {
        return Ok(roots);
    }
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "some system root certificates could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(
            added,
            ignored,
            "system root certificates skipped as unusable"
        );
    }
    if roots.is_empty() {
        return Err(TlsError::NoSystemRoots(peer));
    }
    Ok(roots)
}

/// Client config for upstream and TSA connections: `roots`, full verification, no
/// client certificate, no ALPN (the connectors offer HTTP/1.1 only).
pub fn client_config(roots: RootCertStore) -> Result<ClientConfig, TlsError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Server config for the TLS listener from a PEM chain and a PEM private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates("TLS certificate", cert)?;
    let key = match PrivateKeyDer::from_pem_file(key) {
        Ok(k) => k,
        Err(rustls_pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey(key.to_owned()));
        }
        Err(e) => return Err(pem_err("TLS key", key, e)),
    };
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Server)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn self_signed(alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn openssl(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs (the interop tests need it too)")
            .success();
        assert!(ok, "openssl {args:?}");
    }

    #[test]
    fn listener_accepts_pkcs8_rsa_and_sec1_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let subj = ["-subj", "/CN=localhost", "-days", "1"];
        // RSA: PKCS#8 from req, then the same key as PKCS#1 ("RSA PRIVATE KEY").
        openssl(
            d,
            &[
                &["req", "-x509", "-newkey", "rsa:2048", "-nodes"][..],
                &subj,
                &["-keyout", "rsa8.pem", "-out", "rsa.crt"],
            ]
            .concat(),
        );
        openssl(
            d,
            &["rsa", "-in", "rsa8.pem", "-traditional", "-out", "rsa1.pem"],
        );
        // EC: SEC1 ("EC PRIVATE KEY") straight from ecparam.
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec1.pem",
            ],
        );
        openssl(
            d,
            &[
                &["req", "-x509", "-new", "-key", "ec1.pem"][..],
                &subj,
                &["-out", "ec.crt"],
            ]
            .concat(),
        );
        for (cert, key, label) in [
            ("rsa.crt", "rsa8.pem", "-----BEGIN PRIVATE KEY-----"),
            ("rsa.crt", "rsa1.pem", "-----BEGIN RSA PRIVATE KEY-----"),
            ("ec.crt", "ec1.pem", "-----BEGIN EC PRIVATE KEY-----"),
        ] {
            let text = std::fs::read_to_string(d.join(key)).expect("key");
            assert!(text.starts_with(label), "{key} is not {label}");
            let cfg = server_config(&d.join(cert), &d.join(key)).expect(key);
            assert_eq!(
                cfg.alpn_protocols,
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            );
        }
    }

    #[test]
    fn mismatched_key_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let (cert, _) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, other_key) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let c = write(dir.path(), "c.pem", &cert);
        let k = write(dir.path(), "k.pem", &other_key);
        let e = server_config(&c, &k).expect_err("keys differ");
        assert!(e.to_string().starts_with("TLS certificate and key:"), "{e}");
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let (cert, key) = self_signed(&rcgen::PKCS_ED25519);
        let empty = write(dir.path(), "empty.pem", "just text\n");
        let torn = write(
            dir.path(),
            "torn.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
        );
        let only_key = write(dir.path(), "key.pem", &key);
        let only_cert = write(dir.path(), "cert.pem", &cert);
        let missing = dir.path().join("missing.pem");

        let e = upstream_roots(Some(&empty), true).expect_err("empty");
        assert!(e.to_string().contains("no certificate"), "{e}");
        let e = upstream_roots(Some(&torn), true).expect_err("torn");
        assert!(e.to_string().contains("not valid PEM"), "{e}");
        let e = upstream_roots(Some(&only_key), true).expect_err("a key is not a CA");
        assert!(e.to_string().contains("no certificate"), "{e}");
        let e = upstream_roots(Some(&missing), true).expect_err("missing");
        assert!(e.to_string().contains("cannot read"), "{e}");
        let e = server_config(&only_cert, &only_cert).expect_err("no key");
        assert!(e.to_string().contains("no private key"), "{e}");
        assert!(!e.to_string().contains("PRIVATE KEY-----"));

        let roots = upstream_roots(Some(&only_cert), true).expect("one anchor");
        assert_eq!(roots.len(), 1);
        assert!(upstream_roots(None, false).expect("http").is_empty());
    }
}
