//! cargo-fuzz target `schema`: [`owlpost_fuzz_targets::schema`].
#![no_main]

use owlpost_fuzz_targets::{libfuzzer_init, run_for_libfuzzer, schema};

libfuzzer_sys::fuzz_target!(init: libfuzzer_init(), |data: &[u8]| run_for_libfuzzer(schema, data));
