//! Fuzzes a chunked request body, read through buffers of any size
//! (`portico::fuzzing::chunked_body` says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico::fuzzing::chunked_body(data));
