//! Full verification of an RFC 3161 timestamp token against an expected digest.
//!
//! [`verify_token`] accepts a token (or the TimeStampResp around it) only when all of
//! these hold, and otherwise names the first check that failed ([`TspError::kind`]):
//! 1. status granted / grantedWithMods (`status`), the token parses strictly
//!    (`malformed`), eContentType is id-ct-TSTInfo (`content_type`);
//! 2. exactly one SignerInfo, with signed attributes whose content-type is
//!    id-ct-TSTInfo (`content_type`) and whose message-digest equals SHA-256/384/512
//!    (the SignerInfo digest) of the eContent bytes (`message_digest`);
//! 3. the signer certificate, found in the token (or among the roots) by
//!    issuerAndSerialNumber or subjectKeyIdentifier (`signer`), verifies the signature
//!    over the signed attributes re-tagged as `SET OF` (`signature`);
//! 4. signingCertificateV2 (ESSCertIDv2, any SHA-2) and/or signingCertificate (ESSCertID,
//!    SHA-1 through `ring`) is present, and its first entry matches the signer
//!    certificate's hash and, when given, issuer and serial (`ess_cert_id`, `ess.rs`);
//!    SignedData version, SignerInfo version and digestAlgorithms are consistent;
//! 5. the imprint is SHA-256 and equals the expected digest (`imprint`); the nonce
//!    equals the request's when one is given (`nonce`);
//! 6. the signer certificate has the critical timeStamping-only EKU (`eku`,
//!    `key_usage`); a `tsa` name in TSTInfo names that certificate (`tsa_name`);
//! 7. a path to a configured root exists with every certificate valid at genTime
//!    (`chain`, `validity`, `eku`), built by `rustls-webpki`, see `chain.rs`.
//!
//! Integrity (2-4) is checked before meaning (5-7), so a modified TSTInfo reports
//! `message_digest`, not whatever field the modification happened to hit.

use cms::signed_data::SignerIdentifier;
use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Any, Tag, Tagged};

use super::TspError;
use super::chain::{TrustRoots, check_path, check_tsa_purpose};
use super::crypto::{self, Hash, SigError};
use super::ess;
use super::oid;
use super::response::{SignerInfo, Token, parse_token_or_response};
use super::time::Time;
use super::x509::Certificate;

/// Most certificates accepted in one token.
pub const MAX_TOKEN_CERTS: usize = 32;

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    pub gen_time: Time,
    pub gen_time_unix_ns: u64,
    /// TSTInfo serialNumber INTEGER contents.
    pub serial: Vec<u8>,
    /// Subject of the certificate that signed the token.
    pub tsa_subject: String,
    /// TSA policy OID, dotted.
    pub policy: String,
    /// TSTInfo nonce INTEGER contents, if any.
    pub nonce: Option<Vec<u8>>,
}

/// Verifies a TimeStampToken or TimeStampResp (DER) for `expected_digest` (SHA-256).
pub fn verify_token(
    token_der_or_resp: &[u8],
    expected_digest: &[u8],
    nonce: Option<&[u8]>,
    roots: &TrustRoots,
) -> Result<VerifiedTimestamp, TspError> {
    let token = parse_token_or_response(token_der_or_resp)?;
    verify_parsed(&token, expected_digest, nonce, roots)
}

/// [`verify_token`] on an already parsed token.
pub fn verify_parsed(
    token: &Token<'_>,
    expected_digest: &[u8],
    nonce: Option<&[u8]>,
    roots: &TrustRoots,
) -> Result<VerifiedTimestamp, TspError> {
    let tst = &token.tst_info;
    let [si] = token.signer_infos.as_slice() else {
        return Err(TspError::Signer(format!(
            "{} signer infos, a TSA token has exactly one",
            token.signer_infos.len()
        )));
    };
    if token.certificates.len() > MAX_TOKEN_CERTS {
        return Err(TspError::Chain(format!(
            "token carries more than {MAX_TOKEN_CERTS} certificates"
        )));
    }
    let pool = token
        .certificates
        .iter()
        .map(|c| Certificate::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TspError::Malformed {
            part: "certificate",
            source,
        })?;
    let root_certs: Vec<Certificate<'_>> = roots.parsed().collect();
    let info = &si.info;

    let attrs = SignedAttrs::parse(si)?;
    if attrs.content_type != oid::TST_INFO {
        return Err(TspError::ContentType(
            "content-type attribute is not id-ct-TSTInfo",
        ));
    }
    let hash = Hash::from_alg(&info.digest_alg).map_err(unsupported)?;
    if !token.digest_algorithms.contains(&info.digest_alg.oid) {
        return Err(TspError::Signer(
            "digest algorithm not listed in SignedData.digestAlgorithms".into(),
        ));
    }
    if hash.digest(token.tst_info_der) != attrs.message_digest {
        return Err(TspError::MessageDigest(
            "message-digest attribute does not match the TSTInfo",
        ));
    }
    let signer = find_signer(&info.sid, &pool, &root_certs)?;
    // The `[0] IMPLICIT` attributes as sent, re-tagged as the SET OF that was signed.
    let mut signed = attrs.raw.to_vec();
    signed[0] = 0x31;
    let spki = signer.cert.tbs_certificate().subject_public_key_info();
    let sig_alg = &info.signature_algorithm;
    crypto::verify(spki, sig_alg, Some(hash), &signed, si.signature).map_err(|e| match e {
        SigError::Invalid => {
            TspError::Signature("does not verify with the signer certificate's key".into())
        }
        SigError::Unsupported(what) => TspError::Unsupported(what),
    })?;
    ess::check(
        attrs.ess_v2.map(Any::to_ref),
        attrs.ess_v1.map(Any::to_ref),
        signer,
    )?;

    if Hash::from_alg(&tst.imprint_alg) != Ok(Hash::Sha256) {
        return Err(TspError::Imprint("hash algorithm is not SHA-256"));
    }
    if tst.imprint != expected_digest {
        return Err(TspError::Imprint(
            "hashed message does not match the expected digest",
        ));
    }
    if let Some(want) = nonce {
        let got = tst.nonce.ok_or(TspError::Nonce("the token has no nonce"))?;
        let positive = got.first().is_some_and(|b| b & 0x80 == 0);
        if !positive || strip_zeros(got) != strip_zeros(want) {
            return Err(TspError::Nonce("does not match the request's nonce"));
        }
    }
    check_tsa_purpose(signer)?;
    if let Some(name) = &tst.tsa_name
        && !signer.has_name(name)
    {
        return Err(TspError::TsaName(
            "TSTInfo tsa does not name the signing certificate",
        ));
    }
    check_path(signer, &pool, roots, tst.gen_time)?;

    Ok(VerifiedTimestamp {
        gen_time: tst.gen_time,
        gen_time_unix_ns: tst
            .gen_time
            .unix_ns()
            .ok_or_else(|| TspError::Unsupported("genTime before 1970 or after 2554".into()))?,
        serial: tst.serial.to_vec(),
        tsa_subject: signer.subject_string(),
        policy: tst.policy_string(),
        nonce: tst.nonce.map(<[u8]>::to_vec),
    })
}

pub(super) fn unsupported(e: SigError) -> TspError {
    TspError::Unsupported(e.to_string().trim_start_matches("unsupported ").to_owned())
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|x| **x == 0).count();
    &b[skip..]
}

/// The signed attributes the checks use.
struct SignedAttrs<'s, 'a> {
    raw: &'a [u8],
    content_type: ObjectIdentifier,
    message_digest: &'s [u8],
    ess_v2: Option<&'s Any>,
    ess_v1: Option<&'s Any>,
}

impl<'s, 'a> SignedAttrs<'s, 'a> {
    fn parse(si: &'s SignerInfo<'a>) -> Result<SignedAttrs<'s, 'a>, TspError> {
        let (Some(all), Some(raw)) = (&si.info.signed_attrs, si.signed_attrs) else {
            return Err(TspError::Signer(
                "SignerInfo has no signed attributes".into(),
            ));
        };
        let m = |what: &'static str| TspError::Malformed {
            part: what,
            source: Tag::Set.value_error().into(),
        };
        let (mut ct, mut md, mut ess_v2, mut ess_v1) = (None, None, None, None);
        let mut seen: Vec<&ObjectIdentifier> = Vec::new();
        for attr in all.iter() {
            if seen.contains(&&attr.oid) {
                return Err(m("signed attributes (repeated attribute)"));
            }
            seen.push(&attr.oid);
            let slot = match attr.oid {
                oid::CONTENT_TYPE => &mut ct,
                oid::MESSAGE_DIGEST => &mut md,
                oid::SIGNING_CERTIFICATE_V2 => &mut ess_v2,
                oid::SIGNING_CERTIFICATE => &mut ess_v1,
                _ => continue,
            };
            let [value] = attr.values.as_slice() else {
                return Err(m("signed attributes (attribute without exactly one value)"));
            };
            *slot = Some(value);
        }
        let content_type = ct.ok_or(TspError::ContentType("no content-type attribute"))?;
        let message_digest = md.ok_or(TspError::MessageDigest("no message-digest attribute"))?;
        if message_digest.tag() != Tag::OctetString {
            return Err(m("signed attributes (message-digest value)"));
        }
        Ok(SignedAttrs {
            raw: raw.raw,
            content_type: AnyRef::from(content_type).decode_as().map_err(|source| {
                TspError::Malformed {
                    part: "signed attributes",
                    source,
                }
            })?,
            message_digest: message_digest.value(),
            ess_v2,
            ess_v1,
        })
    }
}

fn find_signer<'x, 'a>(
    sid: &SignerIdentifier,
    pool: &'x [Certificate<'a>],
    roots: &'x [Certificate<'a>],
) -> Result<&'x Certificate<'a>, TspError> {
    let is_signer = |c: &&Certificate<'_>| match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            *c.issuer() == isn.issuer && c.serial() == isn.serial_number.as_bytes()
        }
        SignerIdentifier::SubjectKeyIdentifier(k) => {
            c.subject_key_id().as_deref() == Some(k.0.as_bytes())
        }
    };
    pool.iter()
        .find(is_signer)
        .or_else(|| roots.iter().find(is_signer))
        .ok_or_else(|| TspError::Signer("signer certificate is not in the token".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::pem::base64_decode;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/fixtures/signet-0.1/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    fn receipt() -> Vec<u8> {
        let text = String::from_utf8(fixture("audit-anchored.jsonl")).expect("utf8");
        let start = text.find("\"receipt\":\"").expect("receipt") + 11;
        let end = start + text[start..].find('"').expect("end");
        base64_decode(&text.as_bytes()[start..end]).expect("base64")
    }

    const DIGEST: &str = "f3670189b7419118e177d1afed03e53f8b988df5ae9002b8239414b9be85c78a";

    #[test]
    fn signet_receipt_verifies_and_tampering_is_named() {
        let roots = TrustRoots::from_pem(&fixture("tsa-ca.crt")).expect("roots");
        let digest = crate::util::from_hex(DIGEST).expect("hex");
        let der = receipt();
        let ok = verify_token(&der, &digest, None, &roots).expect("verifies");
        assert_eq!(ok.tsa_subject, "CN=Local Test TSA");
        assert_eq!(ok.policy, "1.2.3.4.1");
        assert_eq!(ok.serial, [2]);
        assert_eq!(ok.gen_time_unix_ns, 1_795_294_995_000_000_000);

        let kind = |der: &[u8], digest: &[u8], nonce: Option<&[u8]>| {
            verify_token(der, digest, nonce, &roots)
                .map(|_| ())
                .map_err(|e| e.kind())
        };
        assert_eq!(kind(&der, &[0; 32], None), Err("imprint"));
        assert_eq!(kind(&der, &digest, Some(&[1, 2, 3])), Err("nonce"));
        let mut sig = der.clone();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        assert_eq!(kind(&sig, &digest, None), Err("signature"));
        let at = der
            .windows(32)
            .position(|w| w == digest.as_slice())
            .expect("imprint in TSTInfo");
        let mut tst = der.clone();
        tst[at] ^= 1;
        assert_eq!(kind(&tst, &digest, None), Err("message_digest"));
        assert_eq!(kind(&der[..der.len() - 1], &digest, None), Err("malformed"));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let roots = TrustRoots::from_pem(&fixture("tsa-ca.crt")).expect("roots");
        let digest = crate::util::from_hex(DIGEST).expect("hex");
        let good = receipt();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut der = good.clone();
                der[i] ^= 1 << bit;
                // Byte 8 is the unsigned PKIStatus: 0 -> 1 is grantedWithMods, still a
                // grant. Every other bit of this receipt is signed or checked.
                let harmless = i == 8 && bit == 0;
                let verdict = verify_token(&der, &digest, None, &roots);
                assert_eq!(
                    verdict.is_ok(),
                    harmless,
                    "bit {bit} of byte {i}: {verdict:?}"
                );
            }
        }
    }
}
