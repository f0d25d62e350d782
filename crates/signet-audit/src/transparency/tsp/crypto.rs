//! Algorithm identifiers, digests and signature checks (through `ring`) for timestamp
//! tokens and their certificates.
//!
//! Guarantees:
//! - Only these are accepted: digests SHA-256/384/512 (SHA-1 only where a caller asks
//!   for the legacy ESSCertID hash); RSA PKCS#1 v1.5 with SHA-256/384/512 and RSA-PSS
//!   (MGF1 with the same hash, salt length = hash length, trailer 1) on 2048-8192 bit
//!   keys; ECDSA on P-256/P-384 with SHA-256/384. Anything else is
//!   [`SigError::Unsupported`], never a silent pass.
//! - The public key is the subjectPublicKey of an `x509-cert` SubjectPublicKeyInfo: for
//!   RSA the `RSAPublicKey` DER, for EC the uncompressed point, as `ring` expects.
//!   Certificate paths are checked by `rustls-webpki` (`chain.rs`); this module checks
//!   the CMS signer's signature, whose algorithm identifiers CMS writes differently
//!   (bare `rsaEncryption` paired with the SignerInfo digest).

use der::Sequence;
use der::asn1::ObjectIdentifier;
use ring::{digest, signature as sig};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::oid;

/// True when an AlgorithmIdentifier's parameters are absent or NULL.
fn no_params(alg: &AlgorithmIdentifierOwned) -> bool {
    alg.parameters.as_ref().is_none_or(|p| p.is_null())
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
    pub fn from_alg(alg: &AlgorithmIdentifierOwned) -> Result<Hash, SigError> {
        let h = match alg.oid {
            oid::SHA256 => Hash::Sha256,
            oid::SHA384 => Hash::Sha384,
            oid::SHA512 => Hash::Sha512,
            other => {
                return Err(SigError::Unsupported(format!("digest {other}")));
            }
        };
        if no_params(alg) {
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

fn key_kind(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyKind, SigError> {
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION | oid::RSASSA_PSS => Ok(KeyKind::Rsa),
        oid::EC_PUBLIC_KEY => {
            let curve = spki.algorithm.parameters.as_ref();
            match curve.and_then(|p| p.decode_as::<ObjectIdentifier>().ok()) {
                Some(oid::P256) => Ok(KeyKind::P256),
                Some(oid::P384) => Ok(KeyKind::P384),
                _ => Err(SigError::Unsupported("elliptic curve".into())),
            }
        }
        other => Err(SigError::Unsupported(format!(
            "public key algorithm {other}"
        ))),
    }
}

/// RSASSA-PSS-params (RFC 4055 section 3.1); absent fields take their defaults.
#[derive(Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mgf: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt: Option<u64>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u64>,
}

/// The hash of RSASSA-PSS parameters, if they are ones `ring` can check: MGF1 with the
/// same hash, salt length = hash length, trailer 1 (SHA-1 defaults are refused).
fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Result<Hash, SigError> {
    let unsupported = || SigError::Unsupported("rsa-pss parameters".into());
    let p: PssParams = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as().ok())
        .ok_or_else(unsupported)?;
    let hash = p.hash.as_ref().and_then(|h| Hash::from_alg(h).ok());
    let mgf_hash = p
        .mgf
        .as_ref()
        .filter(|m| m.oid == oid::MGF1)
        .and_then(|m| {
            m.parameters
                .as_ref()?
                .decode_as::<AlgorithmIdentifierOwned>()
                .ok()
        })
        .and_then(|h| Hash::from_alg(&h).ok());
    let salt = p.salt.unwrap_or(20);
    let ok = hash.is_some()
        && hash == mgf_hash
        && hash.map(Hash::output_len) == usize::try_from(salt).ok()
        && p.trailer.unwrap_or(1) == 1;
    hash.filter(|_| ok).ok_or_else(unsupported)
}

/// Checks `signature` over `msg` with the key in `spki`, under `sig_alg`. `digest` is
/// the hash to pair with a bare `rsaEncryption` / `id-ecPublicKey` signature algorithm
/// (as CMS SignerInfos write it).
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    sig_alg: &AlgorithmIdentifierOwned,
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
        oid::SHA256_WITH_RSA if no_params(sig_alg) => ("pkcs1", Sha256),
        oid::SHA384_WITH_RSA if no_params(sig_alg) => ("pkcs1", Sha384),
        oid::SHA512_WITH_RSA if no_params(sig_alg) => ("pkcs1", Sha512),
        oid::RSA_ENCRYPTION if no_params(sig_alg) => ("pkcs1", bare()?),
        oid::RSASSA_PSS => ("pss", pss_hash(sig_alg)?),
        oid::ECDSA_SHA256 if sig_alg.parameters.is_none() => ("ecdsa", Sha256),
        oid::ECDSA_SHA384 if sig_alg.parameters.is_none() => ("ecdsa", Sha384),
        oid::EC_PUBLIC_KEY => ("ecdsa", bare()?),
        other => {
            return Err(SigError::Unsupported(format!(
                "signature algorithm {other}"
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
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| SigError::Unsupported("public key with unused bits".into()))?;
    sig::UnparsedPublicKey::new(alg, key)
        .verify(msg, signature)
        .map_err(|_| SigError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Any, Decode, Encode};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use x509_cert::spki::SubjectPublicKeyInfoOwned;

    fn alg(oid: ObjectIdentifier, params: Option<Any>) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid,
            parameters: params,
        }
    }

    #[test]
    fn ecdsa_p256_verifies_and_rejects() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("gen");
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("kp");
        let s = kp.sign(&rng, b"msg").expect("sign");
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: alg(
                oid::EC_PUBLIC_KEY,
                Some(Any::encode_from(&oid::P256).expect("oid")),
            ),
            subject_public_key: der::asn1::BitString::from_bytes(kp.public_key().as_ref())
                .expect("bits"),
        };
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki.to_der().expect("der")).expect("rt");
        let ecdsa = alg(oid::ECDSA_SHA256, None);
        assert_eq!(verify(&spki, &ecdsa, None, b"msg", s.as_ref()), Ok(()));
        assert_eq!(
            verify(&spki, &ecdsa, None, b"msh", s.as_ref()),
            Err(SigError::Invalid)
        );
        let bare = alg(oid::EC_PUBLIC_KEY, None);
        assert!(verify(&spki, &bare, None, b"msg", s.as_ref()).is_err());
        assert_eq!(
            verify(&spki, &bare, Some(Hash::Sha256), b"msg", s.as_ref()),
            Ok(())
        );
        let rsa = alg(oid::SHA256_WITH_RSA, Some(Any::null()));
        assert!(matches!(
            verify(&spki, &rsa, None, b"msg", s.as_ref()),
            Err(SigError::Unsupported(_))
        ));
        let sha512 = alg(oid::ECDSA_SHA512, None);
        assert!(matches!(
            verify(&spki, &sha512, None, b"msg", s.as_ref()),
            Err(SigError::Unsupported(_))
        ));
    }

    #[test]
    fn digests_and_pss_parameters() {
        assert_eq!(Hash::Sha256.digest(b"").len(), 32);
        assert_eq!(Hash::Sha1.digest(b"abc")[..4], [0xa9, 0x99, 0x3e, 0x36]);
        assert_eq!(
            Hash::from_alg(&alg(oid::SHA384, Some(Any::null()))),
            Ok(Hash::Sha384)
        );
        let odd = Any::encode_from(&0u8).expect("int");
        assert!(Hash::from_alg(&alg(oid::SHA256, Some(odd))).is_err());
        let params = |salt: Option<u64>| {
            let sha = alg(oid::SHA256, None);
            let mgf = alg(oid::MGF1, Some(Any::encode_from(&sha).expect("sha")));
            let p = PssParams {
                hash: Some(sha),
                mgf: Some(mgf),
                salt,
                trailer: None,
            };
            alg(oid::RSASSA_PSS, Some(Any::encode_from(&p).expect("params")))
        };
        assert_eq!(pss_hash(&params(Some(32))), Ok(Hash::Sha256));
        assert!(pss_hash(&params(None)).is_err(), "salt 20 with SHA-256");
        assert!(pss_hash(&alg(oid::RSASSA_PSS, None)).is_err());
    }
}
