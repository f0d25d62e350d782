//! The `X-Signet-Receipt` parser never panics, and whatever it accepts formats back to a
//! value that parses to the same receipt.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signet_audit::receipt::Receipt;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = Receipt::parse(text)
    {
        let again = Receipt::parse(&r.to_header_value()).expect("formatted receipt parses");
        assert_eq!(again.to_header_value(), r.to_header_value());
    }
});
