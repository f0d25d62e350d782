//! ASN.1 times (UTCTime, GeneralizedTime) as instants, for genTime and certificate
//! validity. `der`'s own GeneralizedTime refuses fractional seconds, which TSAs write
//! (`clock_precision_digits`), so genTime is decoded here.
//!
//! Guarantees:
//! - Only the DER forms are accepted (X.690 11.7, 11.8): `Z` suffix, seconds present,
//!   no time-zone offsets; a GeneralizedTime fraction has no trailing zeros and at
//!   least one digit; calendar fields are range-checked (leap years included, no leap
//!   second). UTCTime years 50-99 are 19xx, 00-49 are 20xx (RFC 5280 4.1.2.5.1).
//! - Fractions finer than a nanosecond are truncated; [`Time`] orders instants exactly.

use std::fmt;

/// An instant: seconds since the Unix epoch plus nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    secs: i64,
    nanos: u32,
}

impl Time {
    /// Decodes the contents of a DER GeneralizedTime (fraction allowed, as genTime).
    pub fn from_generalized(value: &[u8]) -> Option<Time> {
        generalized_time(value)
    }

    /// Decodes the contents of a DER UTCTime.
    pub fn from_utc(value: &[u8]) -> Option<Time> {
        utc_time(value)
    }

    /// A certificate validity time as decoded by `x509-cert` (whole seconds).
    pub fn from_x509(t: &x509_cert::time::Time) -> Time {
        let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        Time { secs, nanos: 0 }
    }

    /// From Unix seconds and nanoseconds (`nanos` below one billion).
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Time> {
        (nanos < 1_000_000_000).then_some(Time { secs, nanos })
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_secs(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds since the Unix epoch, if the instant is in 1970..2554.
    pub fn unix_ns(&self) -> Option<u64> {
        u64::try_from(self.secs)
            .ok()?
            .checked_mul(1_000_000_000)?
            .checked_add(u64::from(self.nanos))
    }
}

impl fmt::Display for Time {
    /// RFC 3339 in UTC, with the fraction when it is not zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// `YYMMDDHHMMSSZ`.
fn utc_time(s: &[u8]) -> Option<Time> {
    if s.len() != 13 || s[12] != b'Z' {
        return None;
    }
    let yy = digits(&s[0..2])?;
    let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
    fields(year, &s[2..12], 0)
}

/// `YYYYMMDDHHMMSS[.f+]Z`.
fn generalized_time(s: &[u8]) -> Option<Time> {
    let (body, z) = s.split_at(s.len().checked_sub(1)?);
    if z != b"Z" || body.len() < 14 {
        return None;
    }
    let year = digits(&body[0..4])?;
    let nanos = match &body[14..] {
        [] => 0,
        [b'.', frac @ ..] => {
            if frac.is_empty() || frac.last() == Some(&b'0') || !frac.iter().all(u8::is_ascii_digit)
            {
                return None;
            }
            let mut n = 0u32;
            for i in 0..9 {
                n = n * 10 + frac.get(i).map_or(0, |d| u32::from(d - b'0'));
            }
            n
        }
        _ => return None,
    };
    fields(year, &body[4..14], nanos)
}

/// `MMDDHHMMSS` after the year.
fn fields(year: u32, s: &[u8], nanos: u32) -> Option<Time> {
    let (mo, d, h, mi, sec) = (
        digits(&s[0..2])?,
        digits(&s[2..4])?,
        digits(&s[4..6])?,
        digits(&s[6..8])?,
        digits(&s[8..10])?,
    );
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > mdays[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec);
    Some(Time { secs, nanos })
}

fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gt(s: &str) -> Option<Time> {
        generalized_time(s.as_bytes())
    }

    #[test]
    fn decodes_known_instants() {
        assert_eq!(gt("19700101000000Z"), Time::from_unix(0, 0));
        let t = gt("20261121210315Z").expect("time");
        assert_eq!(t.unix_secs(), 1_795_294_995);
        assert_eq!(t.to_string(), "2026-11-21T21:03:15Z");
        let f = gt("20261121210315.623Z").expect("fraction");
        assert_eq!(f.unix_ns(), Some(1_795_294_995_623_000_000));
        assert_eq!(f.to_string(), "2026-11-21T21:03:15.623Z");
        assert_eq!(
            utc_time(b"261121210307Z").map(|t| t.unix_secs()),
            Some(1_795_294_987)
        );
        assert_eq!(
            utc_time(b"500101000000Z").map(|t| t.to_string()).as_deref(),
            Some("1950-01-01T00:00:00Z")
        );
        assert_eq!(
            gt("20000229235959Z").map(|t| t.to_string()).as_deref(),
            Some("2000-02-29T23:59:59Z")
        );
        assert_eq!(
            gt("99991231235959Z").map(|t| t.to_string()).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert!(gt("20200101000000Z") < gt("20200101000000.000000001Z"));
        assert_eq!(
            gt("20200101000000.1234567891Z").map(|t| t.nanos),
            Some(123_456_789)
        );
    }

    #[test]
    fn rejects_non_der_times() {
        for bad in [
            "20261121210315",
            "202611212103Z",
            "20261121210315+0100",
            "20261121210315.Z",
            "20261121210315.620Z",
            "20261121210315,6Z",
            "20261321210315Z",
            "21000229000000Z",
            "20261121240000Z",
            "20261121235960Z",
            "2026112121031 Z",
        ] {
            assert_eq!(gt(bad), None, "{bad}");
        }
        assert_eq!(utc_time(b"2611212103Z"), None);
        assert_eq!(utc_time(b"261121210307+0000"), None);
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in -1_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn never_panics(s in "[0-9.Z+ ]{0,24}") {
            let _ = (gt(&s), utc_time(s.as_bytes()));
        }
    }
}
