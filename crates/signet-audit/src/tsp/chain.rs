//! Trust roots and the TSA certificate path check.
//!
//! Guarantees:
//! - [`TrustRoots`] holds only certificates that parse; an empty root set is refused.
//! - [`check_path`] accepts a signer certificate only if a path leads from it, through
//!   certificates carried in the token, to a configured root, where every certificate
//!   on the path (root included) is valid at genTime (`notBefore <= genTime <=
//!   notAfter`), every issuer has basicConstraints cA=TRUE (and keyCertSign when it
//!   has keyUsage) and respects its pathLenConstraint, every signature verifies, and no
//!   certificate carries a critical extension we do not understand.
//! - Path search is bounded: at most [`MAX_PATH`] certificates deep and
//!   [`MAX_SIGNATURE_CHECKS`] signature checks, whatever the token carries.
//! - [`check_tsa_purpose`] enforces RFC 3161 section 2.3: extendedKeyUsage present,
//!   critical, and exactly id-kp-timeStamping; keyUsage, when present, allows
//!   digitalSignature or nonRepudiation.

use super::TspError;
use super::oid;
use super::pem;
use super::time::Time;
use super::x509::{
    Certificate, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, KU_NON_REPUDIATION, name_to_string,
};

/// Longest path, signer and root included.
pub const MAX_PATH: usize = 8;
/// Most certificate signature checks one path search may spend.
pub const MAX_SIGNATURE_CHECKS: usize = 64;

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
            Certificate::parse(c)
                .map_err(|e| TspError::Roots(format!("certificate {}: {e}", i + 1)))?;
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
    let eku = cert
        .ext_key_usage
        .as_ref()
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
    if let Some(ku) = cert.key_usage
        && ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION) == 0
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
    roots: &[Certificate<'_>],
    at: Time,
) -> Result<(), TspError> {
    let mut budget = MAX_SIGNATURE_CHECKS;
    Search {
        pool,
        roots,
        at,
        budget: &mut budget,
    }
    .search(leaf, 0)
}

struct Search<'s, 'a> {
    pool: &'s [Certificate<'a>],
    roots: &'s [Certificate<'a>],
    at: Time,
    budget: &'s mut usize,
}

impl Search<'_, '_> {
    /// `depth` = number of certificates already below `cert` on the path.
    fn search(&mut self, cert: &Certificate<'_>, depth: usize) -> Result<(), TspError> {
        valid_at(cert, self.at)?;
        if cert.unknown_critical {
            return Err(TspError::Chain(format!(
                "{} has a critical extension we do not understand",
                cert.subject_string()
            )));
        }
        if self.roots.iter().any(|r| r.raw == cert.raw) {
            return Ok(());
        }
        let mut last = None;
        for root in self.roots.iter().filter(|r| r.subject == cert.issuer) {
            match self
                .issued_by(cert, root, depth)
                .and_then(|()| self.check_root(root))
            {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        if depth + 2 < MAX_PATH {
            for next in self
                .pool
                .iter()
                .filter(|c| c.subject == cert.issuer && c.raw != cert.raw)
            {
                match self
                    .issued_by(cert, next, depth)
                    .and_then(|()| self.search(next, depth + 1))
                {
                    Ok(()) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            TspError::Chain(format!(
                "no trusted issuer for {} (issuer {})",
                cert.subject_string(),
                name_to_string(cert.issuer)
            ))
        }))
    }

    fn check_root(&self, root: &Certificate<'_>) -> Result<(), TspError> {
        valid_at(root, self.at)?;
        if root.unknown_critical {
            return Err(TspError::Chain(format!(
                "root {} has a critical extension we do not understand",
                root.subject_string()
            )));
        }
        Ok(())
    }

    /// `issuer` may issue `child`, which has `depth` certificates below it.
    fn issued_by(
        &mut self,
        child: &Certificate<'_>,
        issuer: &Certificate<'_>,
        depth: usize,
    ) -> Result<(), TspError> {
        let who = || issuer.subject_string();
        match issuer.basic_constraints {
            Some(bc) if bc.ca => {
                // Certificates below `issuer` other than the signer are intermediates.
                if bc.path_len.is_some_and(|n| depth as u64 > n) {
                    return Err(TspError::Chain(format!(
                        "path length constraint of {} exceeded",
                        who()
                    )));
                }
            }
            _ => {
                return Err(TspError::Chain(format!(
                    "issuer {} is not a CA (basicConstraints cA is not TRUE)",
                    who()
                )));
            }
        }
        if issuer
            .key_usage
            .is_some_and(|ku| ku & KU_KEY_CERT_SIGN == 0)
        {
            return Err(TspError::Chain(format!(
                "issuer {} keyUsage lacks keyCertSign",
                who()
            )));
        }
        if *self.budget == 0 {
            return Err(TspError::Chain("too many candidate issuers".into()));
        }
        *self.budget -= 1;
        child.verify_issued_by(issuer).map_err(|e| {
            TspError::Chain(format!(
                "signature on {} by {}: {e}",
                child.subject_string(),
                who()
            ))
        })
    }
}

fn valid_at(cert: &Certificate<'_>, at: Time) -> Result<(), TspError> {
    if cert.valid_at(at) {
        return Ok(());
    }
    Err(TspError::Validity {
        subject: cert.subject_string(),
        not_before: cert.not_before,
        not_after: cert.not_after,
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
        let t = crate::tsp::der::tlv(0x18, s.as_bytes());
        Time::from_der(&crate::tsp::der::parse_single(&t, 0x18).expect("tlv")).expect("time")
    }

    #[test]
    fn signet_fixture_path() {
        let roots = TrustRoots::from_pem(&fixture("tsa-ca.crt")).expect("roots");
        assert_eq!(roots.len(), 1);
        let tsa_pem = pem::certificates(&fixture("tsa.crt")).expect("pem");
        let tsa = Certificate::parse(&tsa_pem[0]).expect("tsa");
        let r: Vec<_> = roots.parsed().collect();
        check_tsa_purpose(&tsa).expect("purpose");
        check_path(&tsa, &[], &r, time("20261121210315Z")).expect("path");
        let e = check_path(&tsa, &[], &r, time("20270101000000Z")).expect_err("expired");
        assert_eq!(e.kind(), "validity");
        assert!(
            e.to_string()
                .contains("CN=Local Test TSA is valid 2026-11-21T21:03:07Z"),
            "{e}"
        );
        // A root is trusted as itself but it is not a TSA certificate.
        check_path(&r[0], &[], &r, time("20261121210315Z")).expect("root is trusted");
        assert_eq!(check_tsa_purpose(&r[0]).map_err(|e| e.kind()), Err("eku"));
        // The TSA certificate cannot act as its own root's issuer.
        let wrong = check_path(
            &r[0],
            &[],
            std::slice::from_ref(&tsa),
            time("20261121210315Z"),
        );
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
