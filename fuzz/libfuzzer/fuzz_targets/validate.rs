//! cargo-fuzz target `validate`: [`owlpost_fuzz_targets::validate`].
#![no_main]

use owlpost_fuzz_targets::{libfuzzer_init, run_for_libfuzzer, validate};

libfuzzer_sys::fuzz_target!(init: libfuzzer_init(), |data: &[u8]| run_for_libfuzzer(validate, data));
