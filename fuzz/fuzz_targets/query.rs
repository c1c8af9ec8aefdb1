//! Fuzzes the search language parser: it either reports an error at a position inside the
//! input or yields a query that renders back to text which parses to the same query.
#![no_main]

use i2i::search::query::{parse, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    match parse(input) {
        Ok(Some(node)) => {
            let text = render(&node);
            // Rendering may add spaces, so a query near the length limit can render past it;
            // such text is refused for its length, which says nothing about the round trip.
            if text.chars().count() > 2000 {
                return;
            }
            assert_eq!(parse(&text), Ok(Some(node)), "{input:?} rendered as {text:?}");
        }
        Ok(None) => assert!(input.trim().is_empty()),
        Err(err) => assert!(err.position <= input.chars().count(), "{err} for {input:?}"),
    }
});
