//! `verify` over arbitrary bytes never panics, and gives the same report whether the
//! reader hands it the whole input at once or in chunks of 1 to 64 bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signet_audit::{HmacKey, KeyRing, verify::verify};

// The key of the signet 0.1 fixture logs, so seeds taken from them pass the MAC check.
const KEY: &str = include_str!("../../../../tests/fixtures/signet-0.1/hmac-secret.hex");

fuzz_target!(|data: &[u8]| {
    let mut ring = KeyRing::new();
    ring.add(HmacKey::from_hex("k1", KEY).expect("fixture key"))
        .expect("ring");
    let whole = verify(data, &ring).expect("reading a slice cannot fail");
    let cap = 1 + data.first().map_or(0, |b| usize::from(*b) % 64);
    let chunked = verify(std::io::BufReader::with_capacity(cap, data), &ring).expect("read");
    let sum = |r: &signet_audit::verify::Report| {
        (
            r.lines,
            r.entries,
            r.break_count,
            r.breaks.clone(),
            r.last_hmac.clone(),
        )
    };
    assert_eq!(
        sum(&whole),
        sum(&chunked),
        "report depends on read chunking"
    );
});
