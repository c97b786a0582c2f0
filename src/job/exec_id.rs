//! The Linkis execID codec.
//!
//! An execID is `exec_id` + the 3-digit length of the application name + the 3-digit length of
//! the instance + the application name + the instance + the short scheduler id
//! (`{creator}_{user}_{engine}_{n}`). Java clients and linkis-cli parse it to route requests, so
//! it must be exactly this shape even though Portico has a single instance.

/// The service name Linkis clients expect inside an execID.
pub const APPLICATION: &str = "linkis-cg-entrance";

/// Builds the external execID for a short id on an instance (`host:port`).
pub fn encode(instance: &str, short_id: &str) -> String {
    format!("exec_id{:03}{:03}{APPLICATION}{instance}{short_id}", APPLICATION.len(), instance.len())
}

/// The parts of a parsed execID (the tests' check that [`encode`] writes what Linkis reads).
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub struct ExecIdParts<'a> {
    pub application: &'a str,
    pub instance: &'a str,
    pub short_id: &'a str,
}

/// Splits an execID into its parts; `None` when it is not a well-formed 1.x execID.
#[cfg(test)]
pub fn decode(exec_id: &str) -> Option<ExecIdParts<'_>> {
    let rest = exec_id.strip_prefix("exec_id")?;
    let app_len: usize = digits(rest.get(0..3)?)?;
    let instance_len: usize = digits(rest.get(3..6)?)?;
    let body = rest.get(6..)?;
    let application = body.get(..app_len)?;
    let instance = body.get(app_len..app_len + instance_len)?;
    let short_id = body.get(app_len + instance_len..)?;
    if short_id.is_empty() {
        return None;
    }
    Some(ExecIdParts { application, instance, short_id })
}

#[cfg(test)]
fn digits(s: &str) -> Option<usize> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_example() {
        assert_eq!(
            encode("127.0.0.1:9104", "IDE_hadoop_shell_0"),
            "exec_id018014linkis-cg-entrance127.0.0.1:9104IDE_hadoop_shell_0"
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let id = encode("10.0.0.1:9001", "IDE_alice_python_42");
        let parts = decode(&id).unwrap();
        assert_eq!(parts.application, APPLICATION);
        assert_eq!(parts.instance, "10.0.0.1:9001");
        assert_eq!(parts.short_id, "IDE_alice_python_42");
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for bad in [
            "",
            "exec_id",
            "exec_idxyz",
            "exec_id999999abc",
            "exec_id018014short",
            "12",
            "exec_id018014linkis-cg-entrance127.0.0.1:9104",
            "exec_id0€8014",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
