//! cargo-fuzz target `compat`: [`owlpost_fuzz_targets::compat`].
#![no_main]

use owlpost_fuzz_targets::{libfuzzer_init, run_for_libfuzzer, compat};

libfuzzer_sys::fuzz_target!(init: libfuzzer_init(), |data: &[u8]| run_for_libfuzzer(compat, data));
