//! The request a handler sees: our own type, built by the transport from a parsed head, the
//! peer's address and (once authentication allowed it) the body.
//!
//! The client's address is the socket peer's unless the peer is a trusted proxy, in which case
//! it is the address the proxy names in `X-Forwarded-For` or `Forwarded`. Everything an
//! address decides (the login throttle, token `hosts`, log lines) uses [`Request::client`].

use std::net::{IpAddr, SocketAddr};

use super::wire::Head;

/// One request, its head parsed and its body (if any was read) in memory.
pub struct Request {
    head: Head,
    client: IpAddr,
    body: Vec<u8>,
}

impl Request {
    /// A request from `peer`; `trusted_proxies` decides whether its forwarding headers count.
    pub fn new(head: Head, peer: SocketAddr, trusted_proxies: &[IpAddr]) -> Request {
        let client = client_address(&head, peer.ip(), trusted_proxies);
        Request { head, client, body: Vec::new() }
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }

    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// The path, still percent-encoded.
    pub fn path(&self) -> &str {
        self.head.path()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The address the request comes from: the socket peer, or the client a trusted proxy names.
    pub fn client(&self) -> IpAddr {
        self.client
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A query parameter, percent-decoded (`+` as a space); the first if repeated.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.head.target.split_once('?').map(|(_, q)| q)?;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query(key) == name).then(|| decode_query(value))
        })
    }

    /// A cookie's value, from any `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.head.headers_named("Cookie").flat_map(|line| line.split(';')).find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"'))
        })
    }
}

fn decode_query(text: &str) -> String {
    percent_decode(&text.replace('+', " "))
}

/// Decodes `%XX` escapes; invalid escapes and invalid UTF-8 are kept as they are (lossily), which
/// simply makes a value that matches nothing.
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The client behind `peer`: itself, unless `peer` is a trusted proxy. Then the forwarding
/// chain is read from its right end (the hop nearest to us) and the first address that is not
/// itself a trusted proxy is the client; a chain that cannot be read leaves the peer.
fn client_address(head: &Head, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut chain: Vec<&str> = head.headers_named("X-Forwarded-For").flat_map(|v| v.split(',')).collect();
    if chain.is_empty() {
        chain = head
            .headers_named("Forwarded")
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then_some(value.trim())
                })
            })
            .collect();
    }
    for hop in chain.iter().rev() {
        match parse_hop(hop) {
            Some(address) if trusted.contains(&address) => continue,
            Some(address) => return address,
            // `unknown`, `_hidden`, garbage: the client is someone behind the proxy, not the
            // proxy itself (which would give a remote client the proxy's loopback rights).
            // The unspecified address matches no `hosts` entry or `[metrics] allow` network
            // but the catch-alls.
            None => return IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        }
    }
    peer
}

/// One hop of a forwarding header: `1.2.3.4`, `1.2.3.4:5`, `"[::1]:5"`, `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    hop.strip_prefix('[').and_then(|rest| rest.split(']').next()).and_then(|ip| ip.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::wire::parse_head;

    fn request(text: &str, peer: &str, trusted: &[&str]) -> Request {
        let (head, _) = parse_head(text.as_bytes(), 4096).unwrap().unwrap();
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        Request::new(head, peer.parse().unwrap(), &trusted)
    }

    #[test]
    fn parameters_and_cookies_are_decoded() {
        let r = request(
            "GET /x?a=1&name=b%20c+d&a=2&flag HTTP/1.1\r\nCookie: s=1; t=\"two\"\r\nCookie: u=3\r\n\r\n",
            "127.0.0.1:5",
            &[],
        );
        assert_eq!(r.param("a").as_deref(), Some("1"));
        assert_eq!(r.param("name").as_deref(), Some("b c d"));
        assert_eq!(r.param("flag").as_deref(), Some(""));
        assert_eq!(r.param("missing"), None);
        assert_eq!(
            (r.cookie("s"), r.cookie("t"), r.cookie("u"), r.cookie("v")),
            (Some("1"), Some("two"), Some("3"), None)
        );
        assert_eq!(percent_decode("a%3Ab%2"), "a:b%2");
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let xff = "GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6, 10.1.1.1, 10.0.0.2\r\n\r\n";
        assert_eq!(request(xff, "10.0.0.9:1", &[]).client().to_string(), "10.0.0.9", "untrusted peer");
        assert_eq!(request(xff, "10.0.0.9:1", &["10.0.0.9"]).client().to_string(), "10.0.0.2");
        assert_eq!(request(xff, "10.0.0.9:1", &["10.0.0.9", "10.0.0.2"]).client().to_string(), "10.1.1.1");
        let forwarded = "GET / HTTP/1.1\r\nForwarded: for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\"\r\n\r\n";
        assert_eq!(request(forwarded, "127.0.0.1:1", &["127.0.0.1"]).client().to_string(), "2001:db8::1");
        let garbage = "GET / HTTP/1.1\r\nX-Forwarded-For: not-an-ip\r\n\r\n";
        assert_eq!(request(garbage, "127.0.0.1:1", &["127.0.0.1"]).client().to_string(), "0.0.0.0", "not the proxy");
        let hidden = "GET / HTTP/1.1\r\nForwarded: for=_hidden\r\n\r\n";
        assert_eq!(request(hidden, "127.0.0.1:1", &["127.0.0.1"]).client().to_string(), "0.0.0.0");
        let none = "GET / HTTP/1.1\r\n\r\n";
        assert_eq!(request(none, "[::ffff:127.0.0.1]:1", &["127.0.0.1"]).client().to_string(), "127.0.0.1");
    }
}
