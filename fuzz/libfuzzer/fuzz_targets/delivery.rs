//! cargo-fuzz target `delivery`: [`owlpost_fuzz_targets::delivery`].
#![no_main]

use owlpost_fuzz_targets::{libfuzzer_init, run_for_libfuzzer, delivery};

libfuzzer_sys::fuzz_target!(init: libfuzzer_init(), |data: &[u8]| run_for_libfuzzer(delivery, data));
