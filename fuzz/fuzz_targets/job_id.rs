//! Fuzzes a path and the ids in it: the route table, percent-decoding and the taskID rule
//! (`portico::fuzzing::job_id` says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico::fuzzing::job_id(data));
