//! Writes a large, valid, chained audit log for benchmarks and soak tests.
//!
//! Entries look like the gateway's own (about 700 bytes a line, the size of the lines
//! signet 0.1 writes): a mix of check names, decisions and owners, request method, path,
//! status and upstream latency in integer microseconds. Every line is sealed with the
//! library's own [`seal`], so `signet audit verify` with the same key must say OK.
//!
//! Speed over durability: lines go through one `BufWriter` and the file is flushed (not
//! fsync'd) at the end. The content is pseudo-random from `--seed`: the same arguments
//! give the same bytes.
//!
//! ```text
//! cargo run --release -p signet-audit --example gen_log -- \
//!     --bytes 1G --out /tmp/audit.jsonl --key-hex "$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
//! ```

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use signet_audit::json::{Map, Value};
use signet_audit::{Decision, EntryDraft, HmacKey, OwnerType, seal};

const USAGE: &str = "usage: gen_log (--entries N | --bytes SIZE) --out FILE \
[--key-hex HEX] [--key-id ID] [--seed N]
  SIZE takes a K, M or G suffix (powers of 1024); the key defaults to $SIGNET_HMAC_SECRET";

struct Args {
    entries: Option<u64>,
    bytes: Option<u64>,
    out: PathBuf,
    key_hex: String,
    key_id: String,
    seed: u64,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("bad size {s:?}"))
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut entries, mut bytes, mut out, mut key_hex) = (None, None, None, None);
    let (mut key_id, mut seed) = ("k1".to_owned(), 1u64);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let val = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--entries" => {
                entries = Some(val.parse().map_err(|_| format!("bad --entries {val:?}"))?)
            }
            "--bytes" => bytes = Some(parse_size(&val)?),
            "--out" => out = Some(PathBuf::from(val)),
            "--key-hex" => key_hex = Some(val),
            "--key-id" => key_id = val,
            "--seed" => seed = val.parse().map_err(|_| format!("bad --seed {val:?}"))?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if entries.is_some() == bytes.is_some() {
        return Err(format!(
            "give exactly one of --entries and --bytes\n{USAGE}"
        ));
    }
    let key_hex = match key_hex.or_else(|| std::env::var("SIGNET_HMAC_SECRET").ok()) {
        Some(k) => k,
        None => {
            return Err(format!(
                "no key: pass --key-hex or set SIGNET_HMAC_SECRET\n{USAGE}"
            ));
        }
    };
    Ok(Args {
        entries,
        bytes,
        out: out.ok_or_else(|| format!("--out is required\n{USAGE}"))?,
        key_hex,
        key_id,
        seed,
    })
}

/// splitmix64: fast, seedable, good enough to vary ids and sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, nibbles: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(nibbles);
        while s.len() < nibbles {
            let mut w = self.next();
            for _ in 0..16.min(nibbles - s.len()) {
                s.push(HEX[(w & 15) as usize] as char);
                w >>= 4;
            }
        }
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        let variant = ["8", "9", "a", "b"][self.below(4) as usize];
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            variant,
            &h[17..20],
            &h[20..]
        )
    }
}

const HUMANS: [&str; 6] = [
    "alice@example.com",
    "bob@example.com",
    "carol.ng@example.org",
    "dmitri@research.example.net",
    "eve.oncall@example.com",
    "ratelimited@example.com",
];
const AGENTS: [&str; 3] = ["nightly-syncer", "support-bot-7", "ci-evaluator"];
const PATHS: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
];

/// One realistic draft; `ts_ns` is set by the caller.
fn draft(rng: &mut Rng) -> EntryDraft {
    let roll = rng.below(100);
    let (check, decision, reason, status) = match roll {
        0..=67 => (
            "pipeline.complete",
            Decision::Allow,
            "request completed",
            200u64,
        ),
        68..=81 => (
            "pipeline.admission",
            Decision::Block,
            "rate limit exceeded",
            429,
        ),
        82..=86 => (
            "pipeline.admission",
            Decision::Block,
            "no commit owner could be resolved",
            403,
        ),
        87..=91 => (
            "pipeline.inspection",
            Decision::Redact,
            "output matched a redaction rule",
            200,
        ),
        92..=94 => (
            "pipeline.inspection",
            Decision::Block,
            "scope drift: stream aborted",
            200,
        ),
        95..=97 => (
            "pipeline.admission",
            Decision::Escalate,
            "possible prompt injection held for review",
            202,
        ),
        _ => (
            "pipeline.preflight",
            Decision::Block,
            "request body too large",
            413,
        ),
    };
    let mut d = EntryDraft {
        approval_chain: Vec::new(),
        check_name: check.to_owned(),
        decision,
        entry_id: rng.uuid(),
        metadata: Map::new(),
        owner_id: String::new(),
        owner_type: OwnerType::Unresolved,
        reason: reason.to_owned(),
        request_fingerprint: String::new(),
        ts_ns: 0,
    };
    if status != 403 {
        let (owner_type, id, prefix, auth) = match rng.below(20) {
            0..=15 => (OwnerType::Human, rng.pick(&HUMANS), "human", None),
            16..=18 => (OwnerType::Agent, rng.pick(&AGENTS), "agent", Some("mtls")),
            _ => (
                OwnerType::Policy,
                "acme-default@v3",
                "policy",
                Some("signed_header"),
            ),
        };
        d.owner_type = owner_type;
        d.owner_id = id.to_owned();
        d.approval_chain.push(format!("{prefix}:{id}"));
        if let Some(auth) = auth {
            d.metadata.insert("owner_auth".into(), auth.into());
        }
    }
    // One request in ten has no body (its fingerprint is then "").
    let (method, path) = match rng.below(10) {
        0 => ("GET", "/v1/models"),
        _ => {
            d.request_fingerprint = format!("sha256:{}", rng.hex(64));
            ("POST", rng.pick(&PATHS))
        }
    };
    let m = &mut d.metadata;
    m.insert("method".into(), method.into());
    m.insert("path".into(), path.into());
    m.insert("status".into(), Value::from(status));
    m.insert("latency_us".into(), Value::from(200 + rng.below(2_500_000)));
    match (check, status) {
        ("pipeline.complete", _) | ("pipeline.inspection", _) => {
            let prompt = 5 + rng.below(4000);
            let completion = 1 + rng.below(1500);
            let mut tokens = Map::new();
            tokens.insert("completion_tokens".into(), Value::from(completion));
            tokens.insert("prompt_tokens".into(), Value::from(prompt));
            tokens.insert("total_tokens".into(), Value::from(prompt + completion));
            m.insert("tokens".into(), Value::Object(tokens));
            m.insert(
                "finish_reason".into(),
                rng.pick(&["stop", "stop", "length"]).into(),
            );
            if rng.below(10) < 2 {
                let fp = format!("sha256:{}", rng.hex(64));
                m.insert("response_fingerprint".into(), fp.into());
            }
            if check == "pipeline.inspection" {
                m.insert(
                    "rule".into(),
                    rng.pick(&["pii.email", "secret.aws_key", "scope.tools"])
                        .into(),
                );
                m.insert("match_count".into(), Value::from(1 + rng.below(5)));
            }
        }
        (_, 429) => {
            m.insert("check".into(), "rate_limit".into());
            m.insert("capacity".into(), Value::from(60u64));
            m.insert("refill_per_minute".into(), Value::from(60u64));
            m.insert("retry_after_ms".into(), Value::from(rng.below(60_000)));
        }
        (_, 413) => {
            m.insert(
                "bytes_seen".into(),
                Value::from(1_048_577 + rng.below(1 << 20)),
            );
            m.insert("limit_bytes".into(), Value::from(1_048_576u64));
        }
        _ => {
            m.insert(
                "check".into(),
                rng.pick(&["owner_resolution", "prompt_injection"]).into(),
            );
        }
    }
    d
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) if msg == USAGE => {
            println!("{msg}");
            return Ok(());
        }
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(64);
        }
    };
    let key = HmacKey::from_hex(&args.key_id, &args.key_hex)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&args.out)?);
    let mut rng = Rng(args.seed);
    let mut ts_ns: u64 = 1_795_294_946_570_563_090 + args.seed;
    let mut prev = String::new();
    let (mut seq, mut written) = (0u64, 0u64);
    let start = Instant::now();
    loop {
        let done = match (args.entries, args.bytes) {
            (Some(n), _) => seq >= n,
            (_, Some(b)) => written >= b,
            _ => true,
        };
        if done {
            break;
        }
        let mut d = draft(&mut rng);
        ts_ns += 1 + rng.below(2_000_000);
        d.ts_ns = ts_ns;
        let sealed = seal(&d, seq, &prev, &key)?;
        out.write_all(&sealed.line)?;
        written += sealed.line.len() as u64;
        prev = sealed.hmac.to_hex();
        seq += 1;
    }
    out.flush()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "entries={seq} bytes={written} avg_line={} seconds={secs:.2} MB/s={:.1}",
        written.checked_div(seq).unwrap_or(0),
        written as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}
