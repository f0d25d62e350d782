//! TSTInfo, the content a TSA signs (RFC 3161 section 2.4.2).
//!
//! Guarantees: [`parse_tst_info`] accepts only DER TSTInfo version 1 with every field
//! in schema order, genTime as a DER GeneralizedTime (fraction allowed, no trailing
//! zeros), and nothing after the last field; fields are slices of the input.
//! Extensions are noticed ([`TstInfo::has_extensions`]) but not interpreted.

use super::TspError;
use super::crypto::AlgId;
use super::der::{DerError, Tlv, parse_single, tag};
use super::oid;
use super::response::bad;
use super::time::Time;

/// TSTInfo (RFC 3161 section 2.4.2).
#[derive(Debug, Clone)]
pub struct TstInfo<'a> {
    pub policy: &'a [u8],
    pub imprint_alg: AlgId<'a>,
    pub imprint: &'a [u8],
    /// serialNumber INTEGER contents.
    pub serial: &'a [u8],
    pub gen_time: Time,
    /// Accuracy in microseconds, when given.
    pub accuracy_us: Option<u64>,
    pub ordering: bool,
    /// nonce INTEGER contents.
    pub nonce: Option<&'a [u8]>,
    /// The `tsa` GeneralName encoding.
    pub tsa_name: Option<&'a [u8]>,
    pub has_extensions: bool,
}

impl TstInfo<'_> {
    pub fn policy_string(&self) -> String {
        oid::to_dotted(self.policy)
    }
}

/// Parses a DER TSTInfo.
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo<'_>, TspError> {
    let m = bad("TSTInfo");
    let mut r = parse_single(der, tag::SEQUENCE)
        .and_then(|t| t.reader())
        .map_err(&m)?;
    let version = r
        .read(tag::INTEGER)
        .and_then(|t| t.small_uint())
        .map_err(&m)?;
    if version != 1 {
        return Err(TspError::Unsupported(format!("TSTInfo version {version}")));
    }
    let policy = r.read(tag::OID).and_then(|t| t.oid()).map_err(&m)?;
    let mut mi = r.nested(tag::SEQUENCE).map_err(&m)?;
    let imprint_alg = AlgId::read(&mut mi).map_err(&m)?;
    let imprint = mi.read(tag::OCTET_STRING).map_err(&m)?.value;
    mi.finish().map_err(&m)?;
    let serial = r.read(tag::INTEGER).and_then(|t| t.integer()).map_err(&m)?;
    let gen_time = r
        .read(tag::GENERALIZED_TIME)
        .and_then(|t| Time::from_der(&t))
        .map_err(&m)?;
    let accuracy_us = match r.read_optional(tag::SEQUENCE).map_err(&m)? {
        Some(acc) => Some(accuracy(acc).map_err(&m)?),
        None => None,
    };
    let ordering = r
        .read_optional(tag::BOOLEAN)
        .and_then(|b| b.map(|b| b.boolean()).transpose())
        .map_err(&m)?;
    let nonce = r
        .read_optional(tag::INTEGER)
        .and_then(|n| n.map(|n| n.integer()).transpose())
        .map_err(&m)?;
    let tsa_name = match r.read_optional(tag::ctx(0)).map_err(&m)? {
        Some(t) => {
            let mut g = t.reader().map_err(&m)?;
            let name = g.read_any().map_err(&m)?.raw;
            g.finish().map_err(&m)?;
            Some(name)
        }
        None => None,
    };
    let has_extensions = r.read_optional(tag::ctx(1)).map_err(&m)?.is_some();
    r.finish().map_err(&m)?;
    Ok(TstInfo {
        policy,
        imprint_alg,
        imprint,
        serial,
        gen_time,
        accuracy_us,
        ordering: ordering.unwrap_or(false),
        nonce,
        tsa_name,
        has_extensions,
    })
}

fn accuracy(acc: Tlv<'_>) -> Result<u64, DerError> {
    let mut a = acc.reader()?;
    let mut us = 0u64;
    for (t, scale) in [
        (tag::INTEGER, 1_000_000),
        (tag::ctx_prim(0), 1_000),
        (tag::ctx_prim(1), 1),
    ] {
        if let Some(v) = a.read_optional(t)? {
            let n = v.retagged(tag::INTEGER).small_uint()?;
            us = us.saturating_add(n.saturating_mul(scale));
        }
    }
    a.finish()?;
    Ok(us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::der::tlv;

    /// A TSTInfo with `extra` appended after genTime.
    fn tst(version: u8, gen_time: (u8, &[u8]), extra: &[u8]) -> Vec<u8> {
        let mut alg = tlv(tag::OID, oid::SHA256);
        alg.extend(tlv(tag::NULL, &[]));
        let mut mi = tlv(tag::SEQUENCE, &alg);
        mi.extend(tlv(tag::OCTET_STRING, &[9; 32]));
        let mut body = tlv(tag::INTEGER, &[version]);
        body.extend(tlv(tag::OID, &[0x2a, 0x03]));
        body.extend(tlv(tag::SEQUENCE, &mi));
        body.extend(tlv(tag::INTEGER, &[0x00, 0x80]));
        body.extend(tlv(gen_time.0, gen_time.1));
        body.extend_from_slice(extra);
        tlv(tag::SEQUENCE, &body)
    }

    const GT: (u8, &[u8]) = (tag::GENERALIZED_TIME, b"20261121210315.05Z");

    #[test]
    fn all_fields() {
        let mut acc = tlv(tag::INTEGER, &[2]);
        acc.extend(tlv(tag::ctx_prim(0), &[5]));
        acc.extend(tlv(tag::ctx_prim(1), &[7]));
        let mut extra = tlv(tag::SEQUENCE, &acc);
        extra.extend(tlv(tag::BOOLEAN, &[0xff]));
        extra.extend(tlv(tag::INTEGER, &[0x12, 0x34]));
        let name = tlv(tag::ctx(4), &tlv(tag::SEQUENCE, &[]));
        extra.extend(tlv(tag::ctx(0), &name));
        extra.extend(tlv(tag::ctx(1), &tlv(tag::SEQUENCE, &[])));
        let der = tst(1, GT, &extra);
        let t = parse_tst_info(&der).expect("parse");
        assert_eq!(t.policy_string(), "1.2.3");
        assert_eq!(
            (t.imprint_alg.oid, t.imprint),
            (oid::SHA256, &[9u8; 32][..])
        );
        assert_eq!(t.serial, [0x00, 0x80]);
        assert_eq!(t.gen_time.to_string(), "2026-11-21T21:03:15.05Z");
        assert_eq!(t.accuracy_us, Some(2_005_007));
        assert!(t.ordering && t.has_extensions);
        assert_eq!(t.nonce, Some(&[0x12, 0x34][..]));
        assert_eq!(t.tsa_name, Some(&name[..]));
        let der = tst(1, GT, &[]);
        let minimal = parse_tst_info(&der).expect("minimal");
        assert_eq!(
            (minimal.accuracy_us, minimal.ordering, minimal.nonce),
            (None, false, None)
        );
    }

    #[test]
    fn rejects_what_rfc3161_does_not_allow() {
        let kind = |der: &[u8]| parse_tst_info(der).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind(&tst(2, GT, &[])), Err("unsupported"));
        assert_eq!(
            kind(&tst(1, (tag::UTC_TIME, b"261121210315Z"), &[])),
            Err("malformed")
        );
        assert_eq!(
            kind(&tst(1, (tag::GENERALIZED_TIME, b"20261121210315.50Z"), &[])),
            Err("malformed")
        );
        assert_eq!(
            kind(&tst(1, GT, &tlv(tag::OCTET_STRING, &[]))),
            Err("malformed")
        );
        let nonce_after_name = [
            tlv(tag::ctx(0), &tlv(tag::ctx(4), &tlv(tag::SEQUENCE, &[]))),
            tlv(tag::INTEGER, &[1]),
        ]
        .concat();
        assert_eq!(kind(&tst(1, GT, &nonce_after_name)), Err("malformed"));
        let mut trailing = tst(1, GT, &[]);
        trailing.push(0);
        assert_eq!(kind(&trailing), Err("malformed"));
    }
}
