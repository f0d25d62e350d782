//! Rendering entries for a terminal.
//!
//! Guarantees: log content is attacker-influenced, so every string shown in summaries
//! has control characters replaced (no terminal escape sequences reach the screen);
//! pretty JSON keeps numbers exactly as written and escapes strings as JSON does.

use signet_audit::json::{self, Map, Value};

/// Replaces control characters (C0, DEL, C1) with `?`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Canonical one-line JSON.
pub fn compact(v: &Value) -> String {
    let mut out = Vec::new();
    json::write_canonical(v, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Indented JSON (two spaces), keys sorted, numbers as written.
pub fn pretty(v: &Value) -> String {
    let mut s = String::new();
    write_pretty(v, 0, &mut s);
    s
}

fn write_pretty(v: &Value, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match v {
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write_pretty(x, depth + 1, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            out.push_str("{\n");
            for (i, (k, x)) in m.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&compact(&Value::String(k.clone())));
                out.push_str(": ");
                write_pretty(x, depth + 1, out);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        other => out.push_str(&compact(other)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for nanoseconds since the epoch.
pub fn utc(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let ms = (ts_ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// One line per entry: time, seq, decision, check, owner, reason.
pub fn summary(m: &Map) -> String {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
    let meta = m.get("metadata").and_then(Value::as_object);
    let seq = meta
        .and_then(|x| x.get("_seq"))
        .map(compact)
        .unwrap_or_else(|| "-".into());
    let check = match meta
        .and_then(|x| x.get("_check_name"))
        .and_then(Value::as_str)
    {
        Some(c) => format!("{}/{c}", s("check_name")),
        None => s("check_name").to_owned(),
    };
    let ts = m
        .get("ts_ns")
        .and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .map(utc)
        .unwrap_or_default();
    let owner = if s("owner_id").is_empty() {
        s("owner_type").to_owned()
    } else {
        format!("{}:{}", s("owner_type"), s("owner_id"))
    };
    sanitize(&format!(
        "{ts}  #{seq:<6} {:<8} {check:<40} {owner:<32} {}  [{}]",
        s("decision"),
        s("reason"),
        s("entry_id")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_795_294_946_570_563_090), "2026-11-21T21:02:26.570Z");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn sanitizes_escapes() {
        assert_eq!(sanitize("a\x1b[31mb\u{9b}c\n"), "a?[31mb?c?");
    }

    #[test]
    fn pretty_keeps_floats() {
        let (v, _) = json::parse(br#"{"a":[1,0.294],"b":{}}"#).expect("json");
        assert_eq!(
            pretty(&v),
            "{\n  \"a\": [\n    1,\n    0.294\n  ],\n  \"b\": {}\n}"
        );
    }
}
