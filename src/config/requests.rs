//! The config file's `[requests]` section: how much one submission may carry (code length, and
//! how many labels, variables and runtime parameters), so that no request costs the server
//! more than these allow however it is written.

use serde::Deserialize;

use super::ConfigError;

/// Limits on what one submit or execute body may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest code, in bytes, before and after variable substitution.
    pub max_code_bytes: usize,
    /// Most entries in `labels`.
    pub max_labels: usize,
    /// Most entries in `params.variable`.
    pub max_variables: usize,
    /// Most entries in `params.configuration.runtime` (and in `startup`).
    pub max_runtime_params: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits { max_code_bytes: 1024 * 1024, max_labels: 100, max_variables: 100, max_runtime_params: 100 }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestSection {
    max_code_bytes: Option<usize>,
    max_labels: Option<usize>,
    max_variables: Option<usize>,
    max_runtime_params: Option<usize>,
}

impl RequestLimits {
    /// Applies the `[requests]` section; `file_error` names the file in errors.
    pub(super) fn apply(
        &mut self,
        section: RequestSection,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        for (key, value, slot) in [
            ("max_code_bytes", section.max_code_bytes, &mut self.max_code_bytes),
            ("max_labels", section.max_labels, &mut self.max_labels),
            ("max_variables", section.max_variables, &mut self.max_variables),
            ("max_runtime_params", section.max_runtime_params, &mut self.max_runtime_params),
        ] {
            match value {
                Some(0) => return Err(file_error(format!("requests.{key}: must be at least 1"))),
                Some(n) => *slot = n,
                None => {}
            }
        }
        Ok(())
    }
}
