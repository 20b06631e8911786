//! The Host check against DNS rebinding: a page on any domain can point its name at 127.0.0.1,
//! and a same-origin request from it carries no `Origin` header, so the CORS allowlist never
//! sees it. The name it used does reach the connector, in `Host` (HTTP/1.1) or `:authority`
//! (HTTP/2), and a listener answers only for the names it serves: `localhost`, `127.0.0.1`,
//! `[::1]`, the address it is bound to (when configured to listen beyond loopback) and the
//! configured `server.dns_names`, with the listener's own port.

use std::net::{IpAddr, SocketAddr};

use axum::extract::Request;
use axum::http::header;
use axum::http::uri::Authority;

/// The names and the port one listener answers for.
#[derive(Debug, Clone)]
pub(crate) struct HostCheck {
    names: Vec<String>,
    port: u16,
    default_port: u16,
}

impl HostCheck {
    /// A check for a listener bound to `address` (`tls`: HTTPS, whose default port is 443;
    /// else 80) serving the loopback names, its own address and `dns_names`.
    pub(crate) fn new(address: SocketAddr, tls: bool, dns_names: &[String]) -> Self {
        let mut names: Vec<String> =
            ["localhost", "127.0.0.1", "[::1]"].into_iter().map(str::to_owned).collect();
        match address.ip() {
            ip if ip.is_unspecified() => {}
            IpAddr::V4(ip) => names.push(ip.to_string()),
            IpAddr::V6(ip) => names.push(format!("[{ip}]")),
        }
        names.extend(dns_names.iter().map(|n| n.to_ascii_lowercase()));
        Self { names, port: address.port(), default_port: if tls { 443 } else { 80 } }
    }

    /// Whether `request` names this listener: its authority (HTTP/2, or an absolute URI) or
    /// else its `Host` header is one of the names, with this port. A request naming neither
    /// is refused too.
    pub(crate) fn allows(&self, request: &Request) -> bool {
        let parsed;
        let authority = match request.uri().authority() {
            Some(authority) => authority,
            None => {
                let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
                match host.and_then(|v| v.parse::<Authority>().ok()) {
                    Some(authority) => {
                        parsed = authority;
                        &parsed
                    }
                    None => return false,
                }
            }
        };
        // A Host has no user part (RFC 9110 §7.2); one is a trick, not a name.
        if authority.as_str().contains('@') {
            return false;
        }
        let port = authority.port_u16().unwrap_or(self.default_port);
        let host = authority.host();
        port == self.port && self.names.iter().any(|name| name.eq_ignore_ascii_case(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn request(host: &str) -> Request {
        Request::builder().uri("/info").header(header::HOST, host).body(Default::default()).unwrap()
    }

    #[test]
    fn the_loopback_names_and_configured_names_with_the_listener_port_pass() {
        let check = HostCheck::new(loopback(51983), true, &["T1C.example.org".to_owned()]);
        for host in ["localhost:51983", "127.0.0.1:51983", "[::1]:51983", "LOCALHOST:51983"] {
            assert!(check.allows(&request(host)), "{host}");
        }
        assert!(check.allows(&request("t1c.example.org:51983")));
    }

    #[test]
    fn rebound_names_other_ports_and_garbage_are_refused() {
        let check = HostCheck::new(loopback(51983), true, &[]);
        for host in [
            "evil.test:51983",
            "localhost",
            "localhost:443",
            "localhost:51984",
            "127.0.0.2:51983",
            "localhost.:51983",
            "localhost.evil.test:51983",
            "user@localhost:51983",
            "",
            "local host:51983",
        ] {
            assert!(!check.allows(&request(host)), "{host:?}");
        }
        let no_host = Request::builder().uri("/info").body(Default::default()).unwrap();
        assert!(!check.allows(&no_host));
    }

    #[test]
    fn an_absolute_uri_is_judged_by_its_authority() {
        let check = HostCheck::new(loopback(8080), false, &[]);
        let absolute = Request::builder()
            .uri("http://evil.test:8080/info")
            .header(header::HOST, "localhost:8080")
            .body(Default::default())
            .unwrap();
        assert!(!check.allows(&absolute));
        assert!(check.allows(&request("localhost:8080")));
        assert!(HostCheck::new(loopback(80), false, &[]).allows(&request("localhost")));
    }

    #[test]
    fn a_listener_bound_beyond_loopback_also_answers_for_its_address() {
        let lan = HostCheck::new("192.168.1.5:51983".parse().unwrap(), true, &[]);
        assert!(lan.allows(&request("192.168.1.5:51983")));
        assert!(lan.allows(&request("localhost:51983")));
        let any = HostCheck::new("0.0.0.0:51983".parse().unwrap(), true, &[]);
        assert!(!any.allows(&request("0.0.0.0:51983")));
    }
}
