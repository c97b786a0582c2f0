//! Fuzzes a connection's bytes cut into reads: the transport's head scanner, framing and bodies
//! (`portico::fuzzing::http_head` says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico::fuzzing::http_head(data));
