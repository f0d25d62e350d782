//! `trusted_networks`: clients inside configured networks may be attributed to a
//! configured owner (e.g. `policy:internal-batch`) when they send no owner header.
//!
//! Guarantees:
//! - This check never refuses and never sets `state.owner`: it only offers
//!   `state.network_owner`, and `owner_resolution` uses it only when no owner header
//!   is present. A trusted network never overrides an explicit owner. The network
//!   that matched is recorded in metadata `trusted_networks`.
//! - CIDRs are parsed here (no crate): `a.b.c.d/len` and IPv6 `x::y/len`, or a bare
//!   address (a /32 or /128). A prefix length out of range, or an address with bits
//!   set beyond its prefix (`10.0.0.1/8`, usually a typo), is a configuration error.
//! - IPv4 networks also match IPv4-mapped IPv6 clients (`::ffff:10.1.2.3`, as a
//!   dual-stack listener reports them), and IPv6 networks written in mapped form
//!   match plain IPv4 clients.
//!
//! Assumes: `client_ip` is the socket peer, not a forwarded header.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use signet_audit::json::Value;

use super::{AdmissionCheck, AdmissionState, Owner, Refusal, Request};

pub const CHECK: &str = "trusted_networks";

/// An IP network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, len: u8 },
    V6 { net: u128, len: u8 },
}

/// Why a CIDR does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("not an IPv4 or IPv6 address")]
    Address,
    #[error("prefix length must be a number from 0 to {0}")]
    Prefix(u8),
    #[error("address has bits set beyond the /{0} prefix")]
    HostBits(u8),
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = if addr.contains(':') {
            IpAddr::V6(Ipv6Addr::from_str(addr).map_err(|_| CidrError::Address)?)
        } else {
            IpAddr::V4(Ipv4Addr::from_str(addr).map_err(|_| CidrError::Address)?)
        };
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) if (1..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_digit()) => l
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or(CidrError::Prefix(max))?,
            Some(_) => return Err(CidrError::Prefix(max)),
        };
        match addr {
            IpAddr::V4(a) => {
                let net = u32::from(a);
                if net & !mask32(len) != 0 {
                    return Err(CidrError::HostBits(len));
                }
                Ok(Cidr::V4 { net, len })
            }
            IpAddr::V6(a) => {
                let net = u128::from(a);
                if net & !mask128(len) != 0 {
                    return Err(CidrError::HostBits(len));
                }
                Ok(Cidr::V6 { net, len })
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cidr::V4 { net, len } => write!(f, "{}/{len}", Ipv4Addr::from(net)),
            Cidr::V6 { net, len } => write!(f, "{}/{len}", Ipv6Addr::from(net)),
        }
    }
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            Cidr::V4 { net, len } => {
                let v4 = match ip {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(a) => a.to_ipv4_mapped(),
                };
                v4.is_some_and(|a| u32::from(a) & mask32(len) == net)
            }
            Cidr::V6 { net, len } => {
                let v6 = match ip {
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                    IpAddr::V6(a) => a,
                };
                u128::from(v6) & mask128(len) == net
            }
        }
    }
}

/// The `trusted_networks` check.
pub struct TrustedNetworks {
    nets: Vec<(Cidr, String)>,
    owner: Owner,
}

impl TrustedNetworks {
    /// `owner` should have method `trusted_network`.
    pub fn new(nets: Vec<Cidr>, owner: Owner) -> TrustedNetworks {
        let nets = nets.into_iter().map(|c| (c, c.to_string())).collect();
        TrustedNetworks { nets, owner }
    }
}

impl AdmissionCheck for TrustedNetworks {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal> {
        if let Some((_, text)) = self.nets.iter().find(|(c, _)| c.contains(req.client_ip)) {
            state.network_owner = Some(self.owner.clone());
            state
                .metadata
                .insert(CHECK.into(), Value::from(text.as_str()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::headers::test_support::{request, run};
    use crate::admission::owner::parse_owner_spec;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(
            cidr("10.0.0.0/8"),
            Cidr::V4 {
                net: 0x0a00_0000,
                len: 8
            }
        );
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("192.168.1.7").to_string(), "192.168.1.7/32");
        assert_eq!(cidr("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(cidr("::/0").to_string(), "::/0");
        assert_eq!(cidr("::1").to_string(), "::1/128");
    }

    #[test]
    fn rejects_bad_cidrs() {
        use CidrError::*;
        for (s, e) in [
            ("10.0.0.1/8", HostBits(8)),
            ("10.0.0.0/33", Prefix(32)),
            ("10.0.0.0/", Prefix(32)),
            ("10.0.0.0/+8", Prefix(32)),
            ("10.0.0.0/0008", Prefix(32)),
            ("2001:db8::/129", Prefix(128)),
            ("2001:db8::1/32", HostBits(32)),
            ("10.0.0/8", Address),
            ("010.0.0.0/8", Address),
            ("fe80::1%eth0/64", Address),
            ("example.com/8", Address),
            ("", Address),
        ] {
            assert_eq!(s.parse::<Cidr>(), Err(e), "{s}");
        }
    }

    #[test]
    fn matching_v4_v6_and_mapped() {
        let n = cidr("10.0.0.0/8");
        assert!(n.contains(ip("10.255.0.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(
            !n.contains(ip("::10.1.2.3")),
            "deprecated compatible form is not mapped"
        );
        assert!(!n.contains(ip("2001:db8::1")));
        let v6 = cidr("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(cidr("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(cidr("192.0.2.1/32").contains(ip("192.0.2.1")));
        assert!(!cidr("192.0.2.1/32").contains(ip("192.0.2.2")));
    }

    #[test]
    fn offers_owner_only_inside() {
        let owner = parse_owner_spec("policy:internal-batch", "trusted_network").unwrap();
        let check = TrustedNetworks::new(vec![cidr("192.0.2.0/24")], owner);
        let mut r = request(&[], b"");
        let mut state = AdmissionState::default();
        run(&check, &r, &mut state).unwrap();
        assert_eq!(state.network_owner.as_ref().unwrap().id, "internal-batch");
        assert!(state.owner.is_none(), "owner_resolution decides");
        r.client_ip = ip("198.51.100.1");
        let mut state = AdmissionState::default();
        run(&check, &r, &mut state).unwrap();
        assert!(state.network_owner.is_none());
    }
}
