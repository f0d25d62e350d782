//! Algorithm identifiers, digests and signature checks (through `ring`) for timestamp
//! tokens and their certificates.
//!
//! Guarantees:
//! - Only these are accepted: digests SHA-256/384/512 (SHA-1 only where a caller asks
//!   for the legacy ESSCertID hash); RSA PKCS#1 v1.5 with SHA-256/384/512 and RSA-PSS
//!   (MGF1 with the same hash, salt length = hash length, trailer 1) on 2048-8192 bit
//!   keys; ECDSA on P-256/P-384 with SHA-256/384. Anything else is
//!   [`SigError::Unsupported`], never a silent pass.
//! - The public key is taken from a SubjectPublicKeyInfo we parse ourselves: for RSA the
//!   `RSAPublicKey` DER, for EC the uncompressed point, as `ring` expects.

use ring::{digest, signature as sig};

use super::der::{DerError, Reader, Tlv, tag};
use super::oid;

/// An AlgorithmIdentifier: the OID and the raw parameters, if any.
#[derive(Debug, Clone, Copy)]
pub struct AlgId<'a> {
    /// The whole AlgorithmIdentifier encoding.
    pub raw: &'a [u8],
    pub oid: &'a [u8],
    /// The whole parameters TLV (`05 00` for NULL), when present.
    pub params: Option<Tlv<'a>>,
}

impl<'a> AlgId<'a> {
    /// Reads an AlgorithmIdentifier SEQUENCE.
    pub fn read(r: &mut Reader<'a>) -> Result<AlgId<'a>, DerError> {
        let seq = r.read(tag::SEQUENCE)?;
        let mut s = seq.reader()?;
        let oid = s.read(tag::OID)?.oid()?;
        let params = if s.is_empty() {
            None
        } else {
            Some(s.read_any()?)
        };
        s.finish()?;
        Ok(AlgId {
            raw: seq.raw,
            oid,
            params,
        })
    }

    /// True when parameters are absent or NULL.
    fn no_params(&self) -> bool {
        self.params.is_none_or(|p| p.null().is_ok())
    }
}

/// A supported digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The SHA-2 digest named by `alg` (parameters absent or NULL).
    pub fn from_alg(alg: &AlgId<'_>) -> Result<Hash, SigError> {
        let h = match alg.oid {
            oid::SHA256 => Hash::Sha256,
            oid::SHA384 => Hash::Sha384,
            oid::SHA512 => Hash::Sha512,
            other => {
                return Err(SigError::Unsupported(format!(
                    "digest {}",
                    oid::to_dotted(other)
                )));
            }
        };
        if alg.no_params() {
            Ok(h)
        } else {
            Err(SigError::Unsupported("digest parameters".into()))
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    /// Name for messages (`sha-256`).
    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "sha-1",
            Hash::Sha256 => "sha-256",
            Hash::Sha384 => "sha-384",
            Hash::Sha512 => "sha-512",
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

/// A SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy)]
pub struct Spki<'a> {
    pub alg: AlgId<'a>,
    /// The subjectPublicKey BIT STRING octets.
    pub key: &'a [u8],
}

impl<'a> Spki<'a> {
    pub fn read(r: &mut Reader<'a>) -> Result<Spki<'a>, DerError> {
        let mut s = r.nested(tag::SEQUENCE)?;
        let alg = AlgId::read(&mut s)?;
        let key = s.read(tag::BIT_STRING)?.bit_string_octets()?;
        s.finish()?;
        Ok(Spki { alg, key })
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("signature does not verify")]
    Invalid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
}

fn key_kind(spki: &Spki<'_>) -> Result<KeyKind, SigError> {
    match spki.alg.oid {
        oid::RSA_ENCRYPTION | oid::RSASSA_PSS => Ok(KeyKind::Rsa),
        oid::EC_PUBLIC_KEY => match spki.alg.params.map(|p| (p.tag, p.value)) {
            Some((tag::OID, oid::P256)) => Ok(KeyKind::P256),
            Some((tag::OID, oid::P384)) => Ok(KeyKind::P384),
            _ => Err(SigError::Unsupported("elliptic curve".into())),
        },
        other => Err(SigError::Unsupported(format!(
            "public key algorithm {}",
            oid::to_dotted(other)
        ))),
    }
}

/// Parses RSASSA-PSS-params and returns the hash, if it is one `ring` can check.
fn pss_hash(alg: &AlgId<'_>) -> Result<Hash, SigError> {
    let unsupported = || SigError::Unsupported("rsa-pss parameters".into());
    let p = alg.params.ok_or_else(unsupported)?;
    let parse = || -> Result<Option<Hash>, DerError> {
        let mut r = p.reader()?;
        let Some(h) = r.read_optional(tag::ctx(0))? else {
            return Ok(None);
        };
        let hash = Hash::from_alg(&AlgId::read(&mut h.reader()?)?).ok();
        let Some(mgf) = r.read_optional(tag::ctx(1))? else {
            return Ok(None);
        };
        let mgf = AlgId::read(&mut mgf.reader()?)?;
        let mgf_hash = match mgf.params {
            Some(p) if mgf.oid == oid::MGF1 => {
                Hash::from_alg(&AlgId::read(&mut Reader::new(p.raw))?).ok()
            }
            _ => None,
        };
        let salt = match r.read_optional(tag::ctx(2))? {
            Some(s) => s.reader()?.read(tag::INTEGER)?.small_uint()?,
            None => 20,
        };
        let trailer = match r.read_optional(tag::ctx(3))? {
            Some(t) => t.reader()?.read(tag::INTEGER)?.small_uint()?,
            None => 1,
        };
        r.finish()?;
        let ok = hash.is_some()
            && hash == mgf_hash
            && hash.map(Hash::output_len) == usize::try_from(salt).ok()
            && trailer == 1;
        Ok(hash.filter(|_| ok))
    };
    if p.tag != tag::SEQUENCE {
        return Err(unsupported());
    }
    parse().ok().flatten().ok_or_else(unsupported)
}

/// Checks `signature` over `msg` with the key in `spki`, under `sig_alg`. `digest` is
/// the hash to pair with a bare `rsaEncryption` / `id-ecPublicKey` signature algorithm
/// (as CMS SignerInfos write it).
pub fn verify(
    spki: &Spki<'_>,
    sig_alg: &AlgId<'_>,
    digest: Option<Hash>,
    msg: &[u8],
    signature: &[u8],
) -> Result<(), SigError> {
    use Hash::*;
    use KeyKind::*;
    let kind = key_kind(spki)?;
    let bare =
        || digest.ok_or_else(|| SigError::Unsupported("signature algorithm without digest".into()));
    let (family, hash) = match sig_alg.oid {
        oid::SHA256_WITH_RSA if sig_alg.no_params() => ("pkcs1", Sha256),
        oid::SHA384_WITH_RSA if sig_alg.no_params() => ("pkcs1", Sha384),
        oid::SHA512_WITH_RSA if sig_alg.no_params() => ("pkcs1", Sha512),
        oid::RSA_ENCRYPTION if sig_alg.no_params() => ("pkcs1", bare()?),
        oid::RSASSA_PSS => ("pss", pss_hash(sig_alg)?),
        oid::ECDSA_SHA256 if sig_alg.params.is_none() => ("ecdsa", Sha256),
        oid::ECDSA_SHA384 if sig_alg.params.is_none() => ("ecdsa", Sha384),
        oid::EC_PUBLIC_KEY => ("ecdsa", bare()?),
        other => {
            return Err(SigError::Unsupported(format!(
                "signature algorithm {}",
                oid::to_dotted(other)
            )));
        }
    };
    let alg: &'static dyn sig::VerificationAlgorithm = match (family, kind, hash) {
        ("pkcs1", Rsa, Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
        ("pkcs1", Rsa, Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
        ("pkcs1", Rsa, Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        ("pss", Rsa, Sha256) => &sig::RSA_PSS_2048_8192_SHA256,
        ("pss", Rsa, Sha384) => &sig::RSA_PSS_2048_8192_SHA384,
        ("pss", Rsa, Sha512) => &sig::RSA_PSS_2048_8192_SHA512,
        ("ecdsa", P256, Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
        ("ecdsa", P256, Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
        ("ecdsa", P384, Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
        ("ecdsa", P384, Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
        (_, kind, _) => {
            let key = match kind {
                Rsa => "an rsa",
                P256 => "a p-256",
                P384 => "a p-384",
            };
            return Err(SigError::Unsupported(format!(
                "{family} signature with {} and {key} key",
                hash.name()
            )));
        }
    };
    sig::UnparsedPublicKey::new(alg, spki.key)
        .verify(msg, signature)
        .map_err(|_| SigError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::der::{parse_single, tlv};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn alg_id(oid: &[u8], params: Option<&[u8]>) -> Vec<u8> {
        let mut c = tlv(tag::OID, oid);
        c.extend_from_slice(params.unwrap_or_default());
        tlv(tag::SEQUENCE, &c)
    }

    fn read_alg(der: &[u8]) -> AlgId<'_> {
        AlgId::read(&mut Reader::new(der)).expect("alg")
    }

    #[test]
    fn ecdsa_p256_verifies_and_rejects() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("gen");
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("kp");
        let s = kp.sign(&rng, b"msg").expect("sign");
        let mut bits = vec![0u8];
        bits.extend_from_slice(kp.public_key().as_ref());
        let mut c = alg_id(oid::EC_PUBLIC_KEY, Some(&tlv(tag::OID, oid::P256)));
        c.extend(tlv(tag::BIT_STRING, &bits));
        let spki_der = tlv(tag::SEQUENCE, &c);
        let spki = Spki::read(&mut Reader::new(&spki_der)).expect("spki");
        let ecdsa = alg_id(oid::ECDSA_SHA256, None);
        assert_eq!(
            verify(&spki, &read_alg(&ecdsa), None, b"msg", s.as_ref()),
            Ok(())
        );
        assert_eq!(
            verify(&spki, &read_alg(&ecdsa), None, b"msh", s.as_ref()),
            Err(SigError::Invalid)
        );
        let bare = alg_id(oid::EC_PUBLIC_KEY, None);
        assert!(verify(&spki, &read_alg(&bare), None, b"msg", s.as_ref()).is_err());
        assert_eq!(
            verify(
                &spki,
                &read_alg(&bare),
                Some(Hash::Sha256),
                b"msg",
                s.as_ref()
            ),
            Ok(())
        );
        let rsa = alg_id(oid::SHA256_WITH_RSA, Some(&[5, 0]));
        assert!(matches!(
            verify(&spki, &read_alg(&rsa), None, b"msg", s.as_ref()),
            Err(SigError::Unsupported(_))
        ));
        let sha512 = alg_id(oid::ECDSA_SHA512, None);
        assert!(matches!(
            verify(&spki, &read_alg(&sha512), None, b"msg", s.as_ref()),
            Err(SigError::Unsupported(_))
        ));
    }

    #[test]
    fn digests_and_pss_parameters() {
        assert_eq!(Hash::Sha256.digest(b"").len(), 32);
        assert_eq!(Hash::Sha1.digest(b"abc")[..4], [0xa9, 0x99, 0x3e, 0x36]);
        let with_null = alg_id(oid::SHA384, Some(&[5, 0]));
        assert_eq!(Hash::from_alg(&read_alg(&with_null)), Ok(Hash::Sha384));
        let odd = alg_id(oid::SHA256, Some(&[2, 1, 0]));
        assert!(Hash::from_alg(&read_alg(&odd)).is_err());
        // RSASSA-PSS-params for SHA-256 / MGF1-SHA-256 / salt 32.
        let sha = alg_id(oid::SHA256, None);
        let mut p = tlv(tag::ctx(0), &sha);
        p.extend(tlv(tag::ctx(1), &alg_id(oid::MGF1, Some(&sha))));
        p.extend(tlv(tag::ctx(2), &tlv(tag::INTEGER, &[32])));
        let good = alg_id(oid::RSASSA_PSS, Some(&tlv(tag::SEQUENCE, &p)));
        assert_eq!(pss_hash(&read_alg(&good)), Ok(Hash::Sha256));
        let mut p20 = tlv(tag::ctx(0), &sha);
        p20.extend(tlv(tag::ctx(1), &alg_id(oid::MGF1, Some(&sha))));
        let salt20 = alg_id(oid::RSASSA_PSS, Some(&tlv(tag::SEQUENCE, &p20)));
        assert!(pss_hash(&read_alg(&salt20)).is_err());
        assert!(parse_single(&good, tag::SEQUENCE).is_ok());
    }
}
