//! Any value the parser accepts is written canonically, parses back to the same value,
//! and writing it again gives the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signet_audit::json;

fuzz_target!(|data: &[u8]| {
    let Ok((value, _)) = json::parse(data) else {
        return;
    };
    let (mut once, mut twice) = (Vec::new(), Vec::new());
    json::write_canonical(&value, &mut once);
    let (again, _) = json::parse(&once).expect("canonical output must parse");
    assert_eq!(again, value, "value changed across write + parse");
    json::write_canonical(&again, &mut twice);
    assert_eq!(once, twice, "canonical writing is not idempotent");
});
