//! Fuzzes a submit or execute body: the JSON depth scan, serde_json and the job request parser
//! (`portico::fuzzing::submit_body` says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico::fuzzing::submit_body(data));
