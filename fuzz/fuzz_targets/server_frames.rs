#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wsx::fuzz::server_frames(data));
