//! Object identifiers used by the `tsp` module, as DER contents octets.
//!
//! Guarantees: each constant is the encoding of the dotted OID in its doc comment (the
//! test below re-derives every one from its text); [`to_dotted`] and [`from_dotted`]
//! convert between contents octets and dotted text and round-trip.

// Digests

/// `1.3.14.3.2.26`: sha1 (legacy ESSCertID only).
pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// `2.16.840.1.101.3.4.2.1`: sha256.
pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// `2.16.840.1.101.3.4.2.2`: sha384.
pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
/// `2.16.840.1.101.3.4.2.3`: sha512.
pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

// Keys and signatures

/// `1.2.840.113549.1.1.1`: rsaEncryption.
pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `1.2.840.113549.1.1.8`: id-mgf1.
pub const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
/// `1.2.840.113549.1.1.10`: id-RSASSA-PSS.
pub const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// `1.2.840.113549.1.1.11`: sha256WithRSAEncryption.
pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
/// `1.2.840.113549.1.1.12`: sha384WithRSAEncryption.
pub const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
/// `1.2.840.113549.1.1.13`: sha512WithRSAEncryption.
pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
/// `1.2.840.10045.2.1`: id-ecPublicKey.
pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `1.2.840.10045.3.1.7`: prime256v1 (P-256).
pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `1.3.132.0.34`: secp384r1 (P-384).
pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// `1.2.840.10045.4.3.2`: ecdsa-with-SHA256.
pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// `1.2.840.10045.4.3.3`: ecdsa-with-SHA384.
pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
/// `1.2.840.10045.4.3.4`: ecdsa-with-SHA512 (recognised, not supported by ring).
pub const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];

// CMS and RFC 3161

/// `1.2.840.113549.1.7.2`: id-signedData.
pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// `1.2.840.113549.1.9.3`: id-contentType attribute.
pub const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
/// `1.2.840.113549.1.9.4`: id-messageDigest attribute.
pub const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
/// `1.2.840.113549.1.9.16.1.4`: id-ct-TSTInfo.
pub const TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
/// `1.2.840.113549.1.9.16.2.12`: id-aa-signingCertificate (ESSCertID, SHA-1).
pub const SIGNING_CERTIFICATE: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x0c,
];
/// `1.2.840.113549.1.9.16.2.47`: id-aa-signingCertificateV2 (ESSCertIDv2).
pub const SIGNING_CERTIFICATE_V2: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f,
];

// X.509 extensions

/// `2.5.29.14`: subjectKeyIdentifier.
pub const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
/// `2.5.29.15`: keyUsage.
pub const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// `2.5.29.17`: subjectAltName.
pub const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// `2.5.29.19`: basicConstraints.
pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// `2.5.29.32`: certificatePolicies.
pub const CERT_POLICIES: &[u8] = &[0x55, 0x1d, 0x20];
/// `2.5.29.35`: authorityKeyIdentifier.
pub const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
/// `2.5.29.37`: extKeyUsage.
pub const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// `1.3.6.1.5.5.7.3.8`: id-kp-timeStamping.
pub const KP_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

// Name attributes

/// `2.5.4.3`: commonName.
pub const AT_CN: &[u8] = &[0x55, 0x04, 0x03];
/// `2.5.4.5`: serialNumber.
pub const AT_SERIAL: &[u8] = &[0x55, 0x04, 0x05];
/// `2.5.4.6`: countryName.
pub const AT_C: &[u8] = &[0x55, 0x04, 0x06];
/// `2.5.4.7`: localityName.
pub const AT_L: &[u8] = &[0x55, 0x04, 0x07];
/// `2.5.4.8`: stateOrProvinceName.
pub const AT_ST: &[u8] = &[0x55, 0x04, 0x08];
/// `2.5.4.10`: organizationName.
pub const AT_O: &[u8] = &[0x55, 0x04, 0x0a];
/// `2.5.4.11`: organizationalUnitName.
pub const AT_OU: &[u8] = &[0x55, 0x04, 0x0b];

/// Dotted text of OID contents (`"1.2.840.113549"`).
pub fn to_dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for b in oid {
        acc = (acc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let (a, rest) = if acc < 40 {
                    (0, acc)
                } else if acc < 80 {
                    (1, acc - 40)
                } else {
                    (2, acc - 80)
                };
                parts.extend([a, rest]);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// OID contents for dotted text; `None` unless it has at least two valid arcs.
pub fn from_dotted(s: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = s
        .split('.')
        .map(|p| p.parse().ok().filter(|_| !p.starts_with('+')))
        .collect::<Option<_>>()?;
    let (&a, &b) = (arcs.first()?, arcs.get(1)?);
    if a > 2 || (a < 2 && b >= 40) {
        return None;
    }
    let mut out = Vec::new();
    let first = a.checked_mul(40)?.checked_add(b)?;
    for mut arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut tmp = vec![(arc & 0x7f) as u8];
        arc >>= 7;
        while arc > 0 {
            tmp.push(0x80 | (arc & 0x7f) as u8);
            arc >>= 7;
        }
        out.extend(tmp.iter().rev());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_their_dotted_text() {
        let all: &[(&[u8], &str)] = &[
            (SHA1, "1.3.14.3.2.26"),
            (SHA256, "2.16.840.1.101.3.4.2.1"),
            (SHA384, "2.16.840.1.101.3.4.2.2"),
            (SHA512, "2.16.840.1.101.3.4.2.3"),
            (RSA_ENCRYPTION, "1.2.840.113549.1.1.1"),
            (MGF1, "1.2.840.113549.1.1.8"),
            (RSASSA_PSS, "1.2.840.113549.1.1.10"),
            (SHA256_WITH_RSA, "1.2.840.113549.1.1.11"),
            (SHA384_WITH_RSA, "1.2.840.113549.1.1.12"),
            (SHA512_WITH_RSA, "1.2.840.113549.1.1.13"),
            (EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
            (P256, "1.2.840.10045.3.1.7"),
            (P384, "1.3.132.0.34"),
            (ECDSA_SHA256, "1.2.840.10045.4.3.2"),
            (ECDSA_SHA384, "1.2.840.10045.4.3.3"),
            (ECDSA_SHA512, "1.2.840.10045.4.3.4"),
            (SIGNED_DATA, "1.2.840.113549.1.7.2"),
            (CONTENT_TYPE, "1.2.840.113549.1.9.3"),
            (MESSAGE_DIGEST, "1.2.840.113549.1.9.4"),
            (TST_INFO, "1.2.840.113549.1.9.16.1.4"),
            (SIGNING_CERTIFICATE, "1.2.840.113549.1.9.16.2.12"),
            (SIGNING_CERTIFICATE_V2, "1.2.840.113549.1.9.16.2.47"),
            (SUBJECT_KEY_ID, "2.5.29.14"),
            (KEY_USAGE, "2.5.29.15"),
            (SUBJECT_ALT_NAME, "2.5.29.17"),
            (BASIC_CONSTRAINTS, "2.5.29.19"),
            (CERT_POLICIES, "2.5.29.32"),
            (AUTHORITY_KEY_ID, "2.5.29.35"),
            (EXT_KEY_USAGE, "2.5.29.37"),
            (KP_TIME_STAMPING, "1.3.6.1.5.5.7.3.8"),
            (AT_CN, "2.5.4.3"),
            (AT_SERIAL, "2.5.4.5"),
            (AT_C, "2.5.4.6"),
            (AT_L, "2.5.4.7"),
            (AT_ST, "2.5.4.8"),
            (AT_O, "2.5.4.10"),
            (AT_OU, "2.5.4.11"),
        ];
        for (der, text) in all {
            assert_eq!(from_dotted(text).as_deref(), Some(*der), "{text}");
        }
    }

    #[test]
    fn oid_text_round_trips() {
        for s in [
            "1.2.840.113549.1.9.16.1.4",
            "2.16.840.1.101.3.4.2.1",
            "1.3.6.1.5.5.7.3.8",
            "2.999.3",
        ] {
            let der = from_dotted(s).expect(s);
            assert_eq!(to_dotted(&der), s);
        }
        assert_eq!(
            from_dotted("1.2.840.113549").expect("oid"),
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
        );
        for bad in ["", "1", "3.1", "1.40", "1..2", "1.2.x"] {
            assert_eq!(from_dotted(bad), None, "{bad}");
        }
    }
}
