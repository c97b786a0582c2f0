//! Random bytes from the kernel, for every secret and id the server makes (session tickets,
//! tokens, passwords, the history's id). One place, so nothing ever uses a weaker source.

/// Fills `buf` from the kernel's CSPRNG.
pub fn fill(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // getrandom(2) cannot fail on Linux ≥ 3.17 with these arguments; refuse to go on
            // with predictable secrets if it somehow does.
            log::error!("the kernel's random number generator failed; stopping");
            std::process::abort();
        }
    }
}

/// `len` random bytes as lower-case hex.
pub fn hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
