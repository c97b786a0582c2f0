//! The config file's `[retention]` and `[backup]` sections: how long ended jobs' files and
//! history rows are kept, how much room the files may take, and where backups of the history
//! go. Everything is off by default: removing users' results cannot be undone, so it happens
//! only when an operator has said how much to keep.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Config, ConfigError};

/// What retention keeps; `None` keeps everything of that kind.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionSettings {
    /// An ended job's files (log, result sets, working directory) are removed this long after
    /// it ended; its history row stays.
    pub max_age: Option<Duration>,
    /// The ended jobs' files together may take this many bytes; past it the files of the jobs
    /// that ended first are removed until they fit.
    pub max_bytes: Option<u64>,
    /// An ended job's history row is deleted (with its files) this long after it ended.
    pub history_max_age: Option<Duration>,
    /// Time between two sweeps (one runs at start-up).
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { max_age: None, max_bytes: None, history_max_age: None, interval: Duration::from_secs(600) }
    }
}

impl RetentionSettings {
    /// Whether anything is ever removed.
    pub fn enabled(&self) -> bool {
        self.max_age.is_some() || self.max_bytes.is_some() || self.history_max_age.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionSection {
    max_age: Option<String>,
    max_bytes: Option<u64>,
    history_max_age: Option<String>,
    interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackupSection {
    dir: Option<PathBuf>,
}

/// The shortest age or interval accepted: a typo such as `"30"` (seconds, not days) must not
/// go unnoticed, and a sweep more often than this would only burn CPU.
const MIN_AGE: Duration = Duration::from_secs(1);
const MIN_INTERVAL: Duration = Duration::from_millis(100);

impl Config {
    /// Applies the `[retention]` and `[backup]` sections read from `source`.
    pub(super) fn apply_retention(
        &mut self,
        retention: RetentionSection,
        backup: BackupSection,
        source: &str,
    ) -> Result<(), ConfigError> {
        let invalid = |setting: &'static str, reason: String| ConfigError::Invalid {
            setting,
            source: source.to_string(),
            reason,
        };
        let duration = |setting: &'static str, text: Option<String>, min: Duration| match text {
            None => Ok(None),
            Some(text) => match parse_duration(&text) {
                Some(d) if d >= min => Ok(Some(d)),
                Some(_) => Err(invalid(setting, format!("{text:?}: must be at least {min:?}"))),
                None => Err(invalid(
                    setting,
                    format!("{text:?}: expected a number and a unit, s, m, h or d (\"90d\", \"12h\", \"0.5s\")"),
                )),
            },
        };
        if let Some(age) = duration("retention.max_age", retention.max_age, MIN_AGE)? {
            self.retention.max_age = Some(age);
        }
        if let Some(age) = duration("retention.history_max_age", retention.history_max_age, MIN_AGE)? {
            self.retention.history_max_age = Some(age);
        }
        if let Some(interval) = duration("retention.interval", retention.interval, MIN_INTERVAL)? {
            self.retention.interval = interval;
        }
        match retention.max_bytes {
            Some(0) => {
                return Err(invalid(
                    "retention.max_bytes",
                    "0: must be at least 1 (leave it out to keep every file)".into(),
                ))
            }
            Some(bytes) => self.retention.max_bytes = Some(bytes),
            None => {}
        }
        if let Some(dir) = backup.dir {
            self.backup_dir = Some(dir);
        }
        Ok(())
    }
}

/// `"90d"`, `"12h"`, `"30m"`, `"45s"`, `"0.5s"`: a non-negative number and one unit.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit_at = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(unit_at);
    let seconds_per_unit = match unit.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    let number: f64 = number.trim().parse().ok()?;
    let seconds = number * seconds_per_unit;
    // At most a thousand years: ages are compared with epoch milliseconds.
    (seconds.is_finite() && (0.0..=3.2e10).contains(&seconds)).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("90d"), Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration(" 12h "), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30 m"), Some(Duration::from_secs(1800)));
        for bad in ["30", "d", "-1d", "1w", "1dd", "nand", "1e300d", ""] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_sections_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portico.toml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let mut config = Config::default();
            config.apply_file(&path).map(|()| config)
        };
        let config = read("").unwrap();
        assert!(!config.retention.enabled(), "off by default");
        assert_eq!(config.backup_dir, None);
        let config = read(
            "[retention]\nmax_age = \"30d\"\nmax_bytes = 1_000_000\nhistory_max_age = \"365d\"\ninterval = \"1m\"\n\
             [backup]\ndir = \"/srv/backups\"\n",
        )
        .unwrap();
        assert_eq!(config.retention.max_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(config.retention.max_bytes, Some(1_000_000));
        assert_eq!(config.retention.history_max_age, Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(config.retention.interval, Duration::from_secs(60));
        assert_eq!(config.backup_dir, Some(PathBuf::from("/srv/backups")));
        for (bad, setting) in [
            ("[retention]\nmax_age = \"30\"\n", "retention.max_age"),
            ("[retention]\nmax_age = \"0.5s\"\n", "retention.max_age"),
            ("[retention]\nmax_bytes = 0\n", "retention.max_bytes"),
            ("[retention]\ninterval = \"1ms\"\n", "retention.interval"),
        ] {
            match read(bad) {
                Err(ConfigError::Invalid { setting: named, .. }) => assert_eq!(named, setting, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(read("[retention]\nmax_days = 3\n"), Err(ConfigError::File { .. })), "unknown keys");
    }
}
