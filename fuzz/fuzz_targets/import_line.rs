//! Fuzzes the import line parser: any line is either rejected or yields values that pass the
//! rules again unchanged, and writing the line out (as export does) imports as the same post
//! under the same import key.
#![no_main]

use i2i::domain::rules;
use i2i::transfer::parse_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(line) = parse_line(text) else { return };
    assert_eq!(rules::parse_username(&line.username).ok().as_ref(), Some(&line.username));
    assert_eq!(rules::parse_body(&line.body).ok().as_ref(), Some(&line.body));
    if let Some(key) = &line.incident {
        assert_eq!(rules::parse_incident_key(key).ok().as_ref(), Some(key));
    }
    let exported = serde_json::to_string(&line.to_exchange()).expect("serialisable");
    let again = parse_line(&exported).expect("an exported line imports");
    assert_eq!(again, line, "{exported}");
    assert_eq!(again.import_key(), line.import_key());
});
