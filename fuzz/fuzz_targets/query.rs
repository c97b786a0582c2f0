//! Fuzzes query parameters, cookies and forwarding headers as a request reads them
//! (`portico::fuzzing::query` says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico::fuzzing::query(data));
