//! Trust roots and the TSA certificate path check, on `rustls-webpki`.
//!
//! Guarantees:
//! - [`TrustRoots`] holds only certificates that parse (`x509-cert`) and that
//!   `rustls-webpki` accepts as trust anchors; an empty root set is refused.
//! - [`check_path`] accepts a signer certificate only if `rustls-webpki` builds a path
//!   from it, through certificates carried in the token, to a configured root, at
//!   genTime (not at the wall clock): every certificate below the root valid at
//!   genTime, issuers CAs within their pathLenConstraint, every signature verified,
//!   no unknown critical extension, and an extendedKeyUsage on an intermediate, when
//!   present, allowing id-kp-timeStamping (absent is allowed, RFC 5280 4.2.1.12).
//!   webpki does not look at the root's own validity, so the root used must also be
//!   valid at genTime (checked here, in the path callback, so another root can be
//!   tried). webpki's own limits bound the path search.
//! - [`check_tsa_purpose`] enforces RFC 3161 section 2.3 on the signer: extendedKeyUsage
//!   present, critical, and exactly id-kp-timeStamping; keyUsage, when present,
//!   allows digitalSignature or nonRepudiation. webpki cannot express "exactly" or
//!   "critical", so this stays ours; it runs before the path check.

use std::cell::RefCell;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

use super::TspError;
use super::oid;
use super::pem;
use super::time::Time;
use super::x509::Certificate;

/// id-kp-timeStamping, the OID contents webpki compares EKU entries with.
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// The configured TSA trust roots (DER certificates).
#[derive(Clone)]
pub struct TrustRoots {
    certs: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.parsed().map(|c| c.subject_string()).collect();
        f.debug_struct("TrustRoots")
            .field("subjects", &names)
            .finish()
    }
}

impl TrustRoots {
    /// Roots from a PEM file holding one or more `CERTIFICATE` blocks.
    pub fn from_pem(pem: &[u8]) -> Result<TrustRoots, TspError> {
        let ders = pem::certificates(pem).map_err(|e| TspError::Roots(e.to_string()))?;
        TrustRoots::from_der(ders)
    }

    /// Roots from DER certificates.
    pub fn from_der(certs: Vec<Vec<u8>>) -> Result<TrustRoots, TspError> {
        if certs.is_empty() {
            return Err(TspError::Roots("no certificate".into()));
        }
        for (i, c) in certs.iter().enumerate() {
            let bad = |e: String| TspError::Roots(format!("certificate {}: {e}", i + 1));
            Certificate::parse(c).map_err(|e| bad(e.to_string()))?;
            webpki::anchor_from_trusted_cert(&CertificateDer::from(c.as_slice()))
                .map_err(|e| bad(format!("not usable as a trust anchor ({e:?})")))?;
        }
        Ok(TrustRoots { certs })
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The roots, parsed (they were checked to parse on construction).
    pub fn parsed(&self) -> impl Iterator<Item = Certificate<'_>> {
        self.certs.iter().filter_map(|c| Certificate::parse(c).ok())
    }
}

/// RFC 3161 section 2.3 requirements on the certificate that signed the token.
pub fn check_tsa_purpose(cert: &Certificate<'_>) -> Result<(), TspError> {
    let malformed = |source| TspError::Malformed {
        part: "certificate",
        source,
    };
    let eku = cert
        .ext_key_usage()
        .map_err(malformed)?
        .ok_or(TspError::Eku("TSA certificate has no extendedKeyUsage"))?;
    if !eku.purposes.contains(&oid::KP_TIME_STAMPING) {
        return Err(TspError::Eku(
            "TSA certificate extendedKeyUsage lacks id-kp-timeStamping",
        ));
    }
    if eku.purposes.len() != 1 {
        return Err(TspError::Eku(
            "TSA certificate extendedKeyUsage has purposes besides id-kp-timeStamping",
        ));
    }
    if !eku.critical {
        return Err(TspError::Eku(
            "TSA certificate extendedKeyUsage is not critical",
        ));
    }
    if let Some(ku) = cert.key_usage().map_err(malformed)?
        && !ku.digital_signature()
        && !ku.non_repudiation()
    {
        return Err(TspError::KeyUsage(
            "TSA certificate keyUsage allows neither digitalSignature nor nonRepudiation".into(),
        ));
    }
    Ok(())
}

/// Checks a path from `leaf` through `pool` to one of `roots`, all valid at `at`.
pub fn check_path(
    leaf: &Certificate<'_>,
    pool: &[Certificate<'_>],
    roots: &TrustRoots,
    at: Time,
) -> Result<(), TspError> {
    valid_at(leaf, at)?;
    let leaf_der = CertificateDer::from(leaf.raw);
    let ee = EndEntityCert::try_from(&leaf_der)
        .map_err(|e| TspError::Chain(format!("signer certificate refused ({e:?})")))?;
    let root_certs: Vec<Certificate<'_>> = roots.parsed().collect();
    let root_ders: Vec<CertificateDer<'_>> = roots
        .certs
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let anchors: Vec<TrustAnchor<'_>> = root_ders
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let intermediates: Vec<CertificateDer<'_>> = pool
        .iter()
        .filter(|c| c.raw != leaf.raw)
        .map(|c| CertificateDer::from(c.raw))
        .collect();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(at.unix_secs()).unwrap_or(0),
    ));
    // The root's own validity, which webpki leaves to us; a refusal here lets webpki
    // try another path, and is reported when no path is left.
    let root_refused = RefCell::new(None);
    let root_valid = |path: &webpki::VerifiedPath<'_>| {
        let i = anchors.iter().position(|a| std::ptr::eq(a, path.anchor()));
        match i
            .and_then(|i| root_certs.get(i))
            .map(|root| valid_at(root, at))
        {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => {
                root_refused.replace(Some(e));
                Err(webpki::Error::InvalidCertValidity)
            }
            None => Err(webpki::Error::UnknownIssuer),
        }
    };
    let verdict = ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        time,
        // Intermediates without an EKU pass; the signer's EKU is check_tsa_purpose's.
        KeyUsage::required_if_present(TIME_STAMPING),
        None,
        Some(&root_valid),
    );
    match verdict {
        Ok(_) => Ok(()),
        Err(e) => Err(root_refused
            .into_inner()
            .unwrap_or_else(|| path_error(e, pool, at))),
    }
}

/// A webpki refusal as a [`TspError`], naming the expired certificate when it can.
fn path_error(e: webpki::Error, pool: &[Certificate<'_>], at: Time) -> TspError {
    use webpki::Error as W;
    match e {
        W::CertExpired { .. } | W::CertNotValidYet { .. } => pool
            .iter()
            .find_map(|c| valid_at(c, at).err())
            .unwrap_or_else(|| {
                TspError::Chain(format!("certificate not valid at genTime ({e:?})"))
            }),
        #[allow(deprecated)]
        W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => {
            TspError::Eku("an issuing certificate's extendedKeyUsage excludes id-kp-timeStamping")
        }
        other => TspError::Chain(format!("no valid path to a trusted root ({other:?})")),
    }
}

fn valid_at(cert: &Certificate<'_>, at: Time) -> Result<(), TspError> {
    if cert.valid_at(at) {
        return Ok(());
    }
    Err(TspError::Validity {
        subject: cert.subject_string(),
        not_before: cert.not_before(),
        not_after: cert.not_after(),
        gen_time: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/fixtures/signet-0.1/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    fn time(s: &str) -> Time {
        Time::from_generalized(s.as_bytes()).expect("time")
    }

    #[test]
    fn signet_fixture_path() {
        let roots = TrustRoots::from_pem(&fixture("tsa-ca.crt")).expect("roots");
        assert_eq!(roots.len(), 1);
        let tsa_pem = pem::certificates(&fixture("tsa.crt")).expect("pem");
        let tsa = Certificate::parse(&tsa_pem[0]).expect("tsa");
        check_tsa_purpose(&tsa).expect("purpose");
        check_path(&tsa, &[], &roots, time("20261121210315Z")).expect("path");
        let e = check_path(&tsa, &[], &roots, time("20270101000000Z")).expect_err("expired");
        assert_eq!(e.kind(), "validity");
        assert!(
            e.to_string()
                .contains("CN=Local Test TSA is valid 2026-11-21T21:03:07Z"),
            "{e}"
        );
        // A root is not a TSA certificate.
        let r: Vec<_> = roots.parsed().collect();
        assert_eq!(check_tsa_purpose(&r[0]).map_err(|e| e.kind()), Err("eku"));
        // The TSA certificate cannot act as its root's issuer.
        let as_root = TrustRoots::from_pem(&fixture("tsa.crt")).expect("tsa as root");
        let wrong = check_path(&r[0], &[], &as_root, time("20261121210315Z"));
        assert_eq!(wrong.map_err(|e| e.kind()), Err("chain"));
    }

    #[test]
    fn roots_must_be_certificates() {
        assert_eq!(
            TrustRoots::from_pem(b"").map_err(|e| e.kind()).err(),
            Some("roots")
        );
        assert!(TrustRoots::from_der(vec![]).is_err());
        assert!(TrustRoots::from_der(vec![vec![0x30, 0x00]]).is_err());
    }
}
