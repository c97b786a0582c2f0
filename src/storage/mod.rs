//! What outlives a request: the job history (`history.db`, SQLite) and job logs and result
//! sets as files in the data directory.
//!
//! Nothing here knows about jobs or HTTP; it reads and writes files in the formats Linkis
//! clients expect, without ever loading a whole file to serve a page of it.

pub mod history;
mod job_row;
pub mod log_file;
pub mod log_follow;
pub mod result_set;
