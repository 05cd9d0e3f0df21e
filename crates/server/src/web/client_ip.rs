//! The client's address: the socket peer, or, when the peer is a trusted
//! proxy, the nearest untrusted address in `X-Forwarded-For`.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address, put in the request's extensions by the envelope.
/// Formatted only where text is kept: the guard (for the audit trail) and
/// the traffic writer (for the access log).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// `X-Forwarded-For` is read from the right, since each proxy appends what
/// it saw; it is believed only when the peer is a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_str(xff).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let outsider: IpAddr = "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let trusted = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| IpNet::from(proxy))];
        let h = headers("198.51.100.1, 10.0.0.7");
        assert_eq!(client_ip(outsider, &h, &trusted), outsider);
        assert_eq!(client_ip(proxy, &h, &trusted).to_string(), "198.51.100.1");
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        assert_eq!(client_ip(proxy, &headers("garbage"), &trusted), proxy);
    }
}
