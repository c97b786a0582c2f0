//! The config file's `[engines]` section: the shell and Python programs (and the interpreters a
//! python job may choose), and the SQL engine's databases, row cap and `jdbc` mapping.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Config, ConfigError};

/// Settings of the `sqlite` engine (and of `jdbc` jobs mapped to it).
#[derive(Clone, Debug)]
pub struct SqliteSettings {
    /// Rows a result set keeps; past it the result is cut and the log says so.
    pub row_cap: u64,
    /// Named databases jobs may choose, each with the users allowed to use it.
    pub databases: Vec<SqliteDatabase>,
    /// The named database `jdbc-*` jobs run against; without one, `jdbc` jobs are refused.
    pub jdbc_database: Option<String>,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings { row_cap: 5_000_000, databases: Vec::new(), jdbc_database: None }
    }
}

/// A `[[engines.sqlite.databases]]` entry: a database file some users may run SQL against.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteDatabase {
    pub name: String,
    pub path: PathBuf,
    /// Who may use it; `"*"` is everyone.
    pub users: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EngineSection {
    python: Option<String>,
    python_interpreters: Option<Vec<String>>,
    shell: Option<String>,
    sqlite: Option<SqliteSection>,
    jdbc: Option<JdbcSection>,
    spark: Option<super::spark::SparkSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteSection {
    row_cap: Option<u64>,
    #[serde(default)]
    databases: Vec<SqliteDatabase>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JdbcSection {
    /// The name of an `[[engines.sqlite.databases]]` entry.
    database: String,
}

impl Config {
    /// Applies the `[engines]` section; `file_error` names the file in errors.
    pub(super) fn apply_engines(
        &mut self,
        engines: EngineSection,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if let Some(python) = engines.python {
            self.python = python;
        }
        if let Some(interpreters) = engines.python_interpreters {
            if let Some(bad) = interpreters.iter().find(|p| p.trim().is_empty() || p.chars().any(char::is_control)) {
                return Err(file_error(format!("engines.python_interpreters: {bad:?} is not a program name or path")));
            }
            self.python_interpreters = interpreters;
        }
        if let Some(shell) = engines.shell {
            self.shell = shell;
        }
        if let Some(sqlite) = engines.sqlite {
            match sqlite.row_cap {
                Some(0) => return Err(file_error("engines.sqlite.row_cap: must be at least 1".into())),
                Some(cap) => self.sqlite.row_cap = cap,
                None => {}
            }
            for database in &sqlite.databases {
                if !crate::names::is_safe(&database.name) {
                    return Err(file_error(format!(
                        "engines.sqlite.databases: {:?} is not a usable name (letters, digits, _ . -)",
                        database.name
                    )));
                }
                if !database.path.is_absolute() {
                    return Err(file_error(format!(
                        "engines.sqlite.databases: the path of {:?} must be absolute (jobs run in their own directories)",
                        database.name
                    )));
                }
                if sqlite.databases.iter().filter(|d| d.name == database.name).count() > 1 {
                    return Err(file_error(format!(
                        "engines.sqlite.databases: the name {:?} is given twice",
                        database.name
                    )));
                }
            }
            self.sqlite.databases = sqlite.databases;
        }
        if let Some(jdbc) = engines.jdbc {
            if !self.sqlite.databases.iter().any(|d| d.name == jdbc.database) {
                return Err(file_error(format!(
                    "engines.jdbc.database names {:?}, which is not in [[engines.sqlite.databases]]",
                    jdbc.database
                )));
            }
            self.sqlite.jdbc_database = Some(jdbc.database);
        }
        if let Some(spark) = engines.spark {
            self.spark.apply(spark, file_error)?;
        }
        Ok(())
    }
}
