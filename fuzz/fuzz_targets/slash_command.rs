#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsx::fuzz::slash_command(data));
