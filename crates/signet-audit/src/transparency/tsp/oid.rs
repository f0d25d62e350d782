//! The object identifiers the `tsp` module compares against, as `const-oid` values.
//!
//! Guarantees: each constant is the OID its name and comment say (checked at compile
//! time by `ObjectIdentifier::new_unwrap`); nothing here parses input.

use der::asn1::ObjectIdentifier as Oid;

// Digests (RFC 5754, RFC 3279).
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

// Public keys and signatures (RFC 8017, RFC 4055, RFC 5480, RFC 5758).
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");

// CMS and RFC 3161 (RFC 5652, RFC 3161, RFC 2634, RFC 5035).
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");

// Certificate extensions and purposes (RFC 5280).
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");

// Name attributes, for people (RFC 4519).
pub const AT_CN: Oid = Oid::new_unwrap("2.5.4.3");
pub const AT_SERIAL: Oid = Oid::new_unwrap("2.5.4.5");
pub const AT_C: Oid = Oid::new_unwrap("2.5.4.6");
pub const AT_L: Oid = Oid::new_unwrap("2.5.4.7");
pub const AT_ST: Oid = Oid::new_unwrap("2.5.4.8");
pub const AT_O: Oid = Oid::new_unwrap("2.5.4.10");
pub const AT_OU: Oid = Oid::new_unwrap("2.5.4.11");
