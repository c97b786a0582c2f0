//! What `/proc/<pid>/stat` says about a process, parsed in one place for the job control code
//! (a job's processes, their CPU and memory) and the server's own `process_*` metrics. It must
//! not know what a job or a metric is.

/// One process as `/proc/{pid}/stat` describes it.
#[derive(Clone, Copy, Debug)]
pub struct ProcStat {
    pub pid: i32,
    pub state: u8,
    pub pgrp: i32,
    /// The session: every job is a session of its own (its leader called `setsid`), which its
    /// processes keep even when they leave its process group.
    pub session: i32,
    /// utime + stime + cutime + cstime, in clock ticks: with its reaped children.
    pub cpu_ticks: u64,
    /// utime + stime: the process's own.
    pub own_cpu_ticks: u64,
    pub threads: u64,
    pub virtual_bytes: u64,
    /// Start time after boot, in clock ticks: with the pid, identifies a process for good.
    pub start_ticks: u64,
    pub rss_pages: u64,
}

/// Parses the text of `/proc/{pid}/stat`.
pub fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    // The command name is in parentheses and may itself contain spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        state: *fields.first()?.as_bytes().first()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        cpu_ticks: num(11)? + num(12)? + num(13)? + num(14)?,
        own_cpu_ticks: num(11)? + num(12)?,
        threads: num(17)?,
        start_ticks: num(19)?,
        virtual_bytes: num(20)?,
        rss_pages: num(21)?,
    })
}

/// Reads one process's stat; `None` if it is gone.
pub fn read_stat(pid: i32) -> Option<ProcStat> {
    use std::io::Read;
    // Into a buffer on the stack, usually in one read: `read_to_string` asked for the size
    // (which `/proc` gives as 0), then read 32 bytes, 32, 64, 128...: seven calls for one line.
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buffer = [0u8; 2048];
    let mut filled = 0;
    while filled < buffer.len() && buffer[..filled].last() != Some(&b'\n') {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    // A command name need not be UTF-8; the fields after it are.
    parse_stat(pid, &String::from_utf8_lossy(&buffer[..filled]))
}

/// Bytes in a memory page, the unit of resident sizes in `/proc`.
pub fn page_size() -> u64 {
    sysconf(libc::_SC_PAGESIZE).unwrap_or(4096)
}

/// Clock ticks per second, the unit of CPU times in `/proc`.
pub fn ticks_per_second() -> f64 {
    sysconf(libc::_SC_CLK_TCK).map_or(100.0, |ticks| ticks as f64)
}

/// A positive configuration value of the system.
fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value).ok().filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let text = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 5555 1000000 250 18446744073709551615";
        let stat = parse_stat(4242, text).unwrap();
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.pgrp, 4242);
        assert_eq!(stat.cpu_ticks, 13);
        assert_eq!(stat.own_cpu_ticks, 10);
        assert_eq!(stat.threads, 1);
        assert_eq!(stat.virtual_bytes, 1_000_000);
        assert_eq!(stat.start_ticks, 5555);
        assert_eq!(stat.rss_pages, 250);
        assert!(parse_stat(1, "garbage").is_none());
    }

    #[test]
    fn our_own_process_is_visible() {
        let me = std::process::id() as i32;
        let stat = read_stat(me).unwrap();
        assert_eq!(stat.pid, me);
        assert!(stat.rss_pages > 0);
    }

    #[test]
    fn a_process_whose_name_is_not_utf8_is_still_read() {
        // A thread of our own renamed: its stat is at /proc/<tid>/stat like a process's.
        let stat = std::thread::spawn(|| {
            // SAFETY: PR_SET_NAME reads a NUL-terminated name of at most 16 bytes.
            unsafe { libc::prctl(libc::PR_SET_NAME, c"bad\xff\xfename".as_ptr()) };
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            let comm = std::fs::read(format!("/proc/{tid}/comm")).unwrap();
            assert_eq!(comm, b"bad\xff\xfename\n", "the name is not UTF-8");
            (tid, read_stat(tid))
        })
        .join()
        .unwrap();
        let (tid, stat) = (stat.0, stat.1.expect("the thread's stat"));
        assert_eq!(stat.pid, tid);
        assert_eq!(stat.pgrp, read_stat(std::process::id() as i32).unwrap().pgrp);
    }
}
