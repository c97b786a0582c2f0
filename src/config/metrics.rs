//! The config file's `[metrics]` section: who may scrape `/metrics`. Loopback only by default,
//! since the figures (user names in the running-jobs metric, request counts) are the
//! operator's; addresses or networks can be added, and a bearer token lets a scraper in from
//! anywhere.

use std::net::IpAddr;

use serde::Deserialize;

use super::ConfigError;

/// An address or a network (`10.0.0.0/8`, `fd00::/8`) allowed to scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(text: &str) -> Option<Network> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let base = addr.parse::<IpAddr>().ok()?.to_canonical();
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Network { base, prefix })
    }

    /// Whether `ip` lies in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let shift = |bits: u32| bits - u32::from(self.prefix);
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(shift(32)).unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(shift(128)).unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Who may scrape `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Client addresses (as `trusted_proxies` resolves them) allowed without a token.
    pub allow: Vec<Network>,
    /// A bearer token (`Authorization: Bearer …`) that lets a scraper in from any address.
    pub token: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        let loopback = ["127.0.0.1", "::1"].iter().filter_map(|a| Network::parse(a)).collect();
        MetricsSettings { allow: loopback, token: None }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsSection {
    allow: Option<Vec<String>>,
    token: Option<String>,
}

impl MetricsSettings {
    /// Applies the `[metrics]` section; `file_error` names the file in errors.
    pub(super) fn apply(
        &mut self,
        section: MetricsSection,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if let Some(allow) = section.allow {
            self.allow = allow
                .iter()
                .map(|text| {
                    Network::parse(text).ok_or_else(|| {
                        file_error(format!("metrics.allow: {text:?} is not an IP address or ADDRESS/PREFIX network"))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(token) = section.token {
            if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(file_error("metrics.token: use at least 16 characters, without spaces".into()));
            }
            self.token = Some(token);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_addresses_within_their_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let loopback = Network::parse("127.0.0.1").unwrap();
        assert!(loopback.contains(ip("127.0.0.1")) && !loopback.contains(ip("127.0.0.2")));
        assert!(loopback.contains(ip("::ffff:127.0.0.1")), "IPv4-mapped is IPv4");
        let private = Network::parse("10.0.0.0/8").unwrap();
        assert!(private.contains(ip("10.20.30.40")) && !private.contains(ip("11.0.0.1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Network::parse("::1").unwrap().contains(ip("127.0.0.1")));
        for bad in ["10.0.0.0/33", "host", "1.2.3.4/x", ""] {
            assert!(Network::parse(bad).is_none(), "{bad}");
        }
    }
}
