//! Where a webhook may deliver: its URL's shape, and whether an address is
//! globally reachable, judged from the IANA special-purpose registries
//! (refused targets keep deliveries off the server's own network: SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::FieldError;

/// The longest webhook URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// A webhook's URL: absolute `http` or `https`, with a host, no credentials
/// and no fragment. Whether its host may be reached is checked apart
/// ([`forbidden_address`]), after resolving it.
pub fn parse_url(raw: &str) -> Result<url::Url, FieldError> {
    let bad = |why: &str| FieldError::new("url", why.to_owned());
    if raw.len() > MAX_URL_LEN {
        return Err(bad("must be at most 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is no absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(bad("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(url)
}

/// Whether the registries below count a range as globally reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Globally reachable: a delivery may go there.
    Global,
    /// Not globally reachable; what the range is, for the refusal.
    Not(&'static str),
}

use Reach::{Global, Not};

/// The IANA IPv4 Special-Purpose Address Registry
/// (<https://www.iana.org/assignments/iana-ipv4-special-registry/>), every
/// row with its "Globally Reachable" column, and multicast (the IPv4
/// Multicast Address Space registry: no host to deliver to). The longest
/// matching prefix decides, so the registry's globally reachable exceptions
/// (192.0.0.9/32, 192.0.0.10/32) stand inside their refused /24; rows
/// marked N/A there (the deprecated 6to4 relay anycast) are refused.
/// Addresses in no row are global unicast.
#[rustfmt::skip]
const IPV4_SPECIAL: &[(Ipv4Addr, u8, Reach)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, Not("this network")),
    (Ipv4Addr::new(0, 0, 0, 0), 32, Not("this host on this network")),
    (Ipv4Addr::new(10, 0, 0, 0), 8, Not("private-use")),
    (Ipv4Addr::new(100, 64, 0, 0), 10, Not("shared, carrier-grade NAT")),
    (Ipv4Addr::new(127, 0, 0, 0), 8, Not("loopback")),
    (Ipv4Addr::new(169, 254, 0, 0), 16, Not("link-local")),
    (Ipv4Addr::new(172, 16, 0, 0), 12, Not("private-use")),
    (Ipv4Addr::new(192, 0, 0, 0), 24, Not("IETF protocol assignment")),
    (Ipv4Addr::new(192, 0, 0, 0), 29, Not("IPv4 service continuity")),
    (Ipv4Addr::new(192, 0, 0, 8), 32, Not("IPv4 dummy")),
    (Ipv4Addr::new(192, 0, 0, 9), 32, Global),
    (Ipv4Addr::new(192, 0, 0, 10), 32, Global),
    (Ipv4Addr::new(192, 0, 0, 170), 32, Not("NAT64/DNS64 discovery")),
    (Ipv4Addr::new(192, 0, 0, 171), 32, Not("NAT64/DNS64 discovery")),
    (Ipv4Addr::new(192, 0, 2, 0), 24, Not("documentation, TEST-NET-1")),
    (Ipv4Addr::new(192, 31, 196, 0), 24, Global),
    (Ipv4Addr::new(192, 52, 193, 0), 24, Global),
    (Ipv4Addr::new(192, 88, 99, 0), 24, Not("deprecated 6to4 relay anycast")),
    (Ipv4Addr::new(192, 88, 99, 2), 32, Not("6a44 relay anycast")),
    (Ipv4Addr::new(192, 168, 0, 0), 16, Not("private-use")),
    (Ipv4Addr::new(192, 175, 48, 0), 24, Global),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Not("benchmarking")),
    (Ipv4Addr::new(198, 51, 100, 0), 24, Not("documentation, TEST-NET-2")),
    (Ipv4Addr::new(203, 0, 113, 0), 24, Not("documentation, TEST-NET-3")),
    (Ipv4Addr::new(224, 0, 0, 0), 4, Not("multicast")),
    (Ipv4Addr::new(240, 0, 0, 0), 4, Not("reserved")),
    (Ipv4Addr::new(255, 255, 255, 255), 32, Not("limited broadcast")),
];

/// The IANA IPv6 Special-Purpose Address Registry
/// (<https://www.iana.org/assignments/iana-ipv6-special-registry/>), every
/// row with its "Globally Reachable" column, as for IPv4; rows marked N/A
/// there (Teredo, the deprecated ORCHID) are refused. Besides the registry:
/// multicast, and all space outside `2000::/3`, the only block the IPv6
/// Address Space registry gives to global unicast (site-local `fec0::/10`
/// and the unassigned rest included). Addresses that carry an IPv4 address
/// (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`
/// (N/A in the registry), IPv4-compatible, SIIT) are judged by it before
/// this table is read ([`embedded_ipv4`]); the registry's rows for the
/// first two are here as it has them.
#[rustfmt::skip]
const IPV6_SPECIAL: &[(Ipv6Addr, u8, Reach)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 3, Not("not global unicast")),
    (Ipv6Addr::new(0x4000, 0, 0, 0, 0, 0, 0, 0), 2, Not("not global unicast")),
    (Ipv6Addr::new(0x8000, 0, 0, 0, 0, 0, 0, 0), 1, Not("not global unicast")),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, Not("loopback")),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128, Not("unspecified")),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, Not("IPv4-mapped")),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, Global),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, Not("local-use IPv4/IPv6 translation")),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Not("discard-only")),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, Not("dummy IPv6 prefix")),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, Not("IETF protocol assignment")),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Not("Teredo")),
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128, Global),
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2), 128, Global),
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3), 128, Global),
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, Not("benchmarking")),
    (Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32, Global),
    (Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0), 48, Global),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, Not("deprecated ORCHID")),
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28, Global),
    (Ipv6Addr::new(0x2001, 0x30, 0, 0, 0, 0, 0, 0), 28, Global),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, Not("documentation")),
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48, Global),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, Not("documentation")),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, Not("segment routing SID (SRv6)")),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Not("unique-local")),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, Not("link-local")),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Not("multicast")),
];

/// The bits of the first `len` of `width` (32 or 128) bits of an address.
fn prefix_mask(width: u32, len: u8) -> u128 {
    let len = u32::from(len).min(width);
    if len == 0 {
        return 0;
    }
    (u128::MAX >> (128 - len)) << (width - len)
}

/// The row of `table` with the longest prefix that holds `ip`, if any; an
/// address of `width` bits, given as the low bits of a `u128`.
fn longest_match<A: Copy>(
    table: &[(A, u8, Reach)],
    width: u32,
    bits: impl Fn(A) -> u128,
    ip: u128,
) -> Option<usize> {
    table
        .iter()
        .enumerate()
        .filter(|(_, (net, len, _))| {
            let mask = prefix_mask(width, *len);
            ip & mask == bits(*net) & mask
        })
        .max_by_key(|(_, (_, len, _))| *len)
        .map(|(i, _)| i)
}

fn ipv4_row(ip: Ipv4Addr) -> Option<usize> {
    let bits = |a: Ipv4Addr| u128::from(u32::from(a));
    longest_match(IPV4_SPECIAL, 32, bits, bits(ip))
}

fn ipv6_row(ip: Ipv6Addr) -> Option<usize> {
    longest_match(IPV6_SPECIAL, 128, u128::from, u128::from(ip))
}

/// Why a delivery may not go to `ip`, if it may not: every address the IANA
/// special-purpose registries do not count as globally reachable (loopback,
/// private, link-local, documentation, benchmarking, …; see
/// [`IPV4_SPECIAL`] and [`IPV6_SPECIAL`]) is refused (SSRF), unless the
/// server allows private targets. An IPv6 address that carries an IPv4 one
/// is judged by that.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    let reach = match ip {
        IpAddr::V4(v4) => ipv4_row(v4).map(|i| IPV4_SPECIAL[i].2),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return forbidden_address(IpAddr::V4(v4));
            }
            ipv6_row(v6).map(|i| IPV6_SPECIAL[i].2)
        }
    };
    match reach {
        Some(Not(what)) => Some(what),
        Some(Global) | None => None,
    }
}

/// The IPv4 address an IPv6 one stands for where a translator or tunnel
/// may carry it to IPv4: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), SIIT (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002:AABB:CCDD::/48`). Such an address is as reachable as the IPv4 one.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let last = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match v6.segments() {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(last(hi, lo)),
        // `::` and `::1` are no IPv4-compatible forms; the caller names them.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(last(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0x2002, hi, lo, ..] => Some(last(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses in each row of the special-purpose tables, and what a
    /// delivery to each must meet: `Some(what)` refused as that, `None`
    /// allowed. Every row has one at least (checked below).
    const IPV4_CASES: &[(&str, Option<&str>)] = &[
        ("0.0.0.0", Some("this host on this network")),
        ("0.1.2.3", Some("this network")),
        ("10.1.2.3", Some("private-use")),
        ("100.64.0.1", Some("shared, carrier-grade NAT")),
        ("100.127.255.254", Some("shared, carrier-grade NAT")),
        ("127.0.0.1", Some("loopback")),
        ("127.255.0.9", Some("loopback")),
        ("169.254.169.254", Some("link-local")),
        ("172.16.0.1", Some("private-use")),
        ("172.31.255.255", Some("private-use")),
        ("192.0.0.1", Some("IPv4 service continuity")),
        ("192.0.0.8", Some("IPv4 dummy")),
        ("192.0.0.9", None),
        ("192.0.0.10", None),
        ("192.0.0.11", Some("IETF protocol assignment")),
        ("192.0.0.170", Some("NAT64/DNS64 discovery")),
        ("192.0.0.171", Some("NAT64/DNS64 discovery")),
        ("192.0.0.255", Some("IETF protocol assignment")),
        ("192.0.2.1", Some("documentation, TEST-NET-1")),
        ("192.31.196.1", None),
        ("192.52.193.1", None),
        ("192.88.99.1", Some("deprecated 6to4 relay anycast")),
        ("192.88.99.2", Some("6a44 relay anycast")),
        ("192.168.1.1", Some("private-use")),
        ("192.175.48.1", None),
        ("198.18.0.1", Some("benchmarking")),
        ("198.19.255.255", Some("benchmarking")),
        ("198.51.100.7", Some("documentation, TEST-NET-2")),
        ("203.0.113.9", Some("documentation, TEST-NET-3")),
        ("224.0.0.1", Some("multicast")),
        ("239.255.255.250", Some("multicast")),
        ("240.0.0.1", Some("reserved")),
        ("255.255.255.254", Some("reserved")),
        ("255.255.255.255", Some("limited broadcast")),
        // Global unicast, next to the ranges.
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("9.255.255.255", None),
        ("11.0.0.0", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.32.0.0", None),
        ("192.0.1.0", None),
        ("192.0.3.0", None),
        ("198.17.255.255", None),
        ("198.20.0.0", None),
        ("223.255.255.255", None),
    ];

    const IPV6_CASES: &[(&str, Option<&str>)] = &[
        ("::", Some("unspecified")),
        ("::1", Some("loopback")),
        ("::2", Some("not global unicast")),
        ("1::", Some("not global unicast")),
        ("1fff:ffff::", Some("not global unicast")),
        ("4000::1", Some("not global unicast")),
        ("8000::1", Some("not global unicast")),
        ("fec0::1", Some("not global unicast")),
        ("64:ff9b:1::1", Some("local-use IPv4/IPv6 translation")),
        (
            "64:ff9b:1:ffff::8.8.8.8",
            Some("local-use IPv4/IPv6 translation"),
        ),
        ("100::1", Some("discard-only")),
        ("100::ffff:ffff:ffff:ffff", Some("discard-only")),
        ("100:0:0:1::1", Some("dummy IPv6 prefix")),
        ("2001::1", Some("Teredo")),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some("Teredo")),
        ("2001:1::1", None),
        ("2001:1::2", None),
        ("2001:1::3", None),
        ("2001:1::4", Some("IETF protocol assignment")),
        ("2001:2::1", Some("benchmarking")),
        ("2001:3::1", None),
        ("2001:4:112::1", None),
        ("2001:4:113::1", Some("IETF protocol assignment")),
        ("2001:10::1", Some("deprecated ORCHID")),
        ("2001:20::1", None),
        ("2001:2f:ffff::1", None),
        ("2001:30::1", None),
        ("2001:40::1", Some("IETF protocol assignment")),
        ("2001:1ff:ffff::1", Some("IETF protocol assignment")),
        ("2001:db8::1", Some("documentation")),
        ("2001:db8:ffff::1", Some("documentation")),
        ("2620:4f:8000::1", None),
        ("3fff::1", Some("documentation")),
        ("3fff:fff::1", Some("documentation")),
        ("5f00::1", Some("segment routing SID (SRv6)")),
        ("fc00::1", Some("unique-local")),
        ("fd00::1", Some("unique-local")),
        ("fe80::1", Some("link-local")),
        ("febf::1", Some("link-local")),
        ("ff02::1", Some("multicast")),
        ("ff0e::1", Some("multicast")),
        // Global unicast, next to the ranges.
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("2001:200::1", None),
        ("2001:db7:ffff::1", None),
        ("2001:db9::1", None),
        ("2620:4f:8001::1", None),
        ("3ffe:ffff::1", None),
        ("2000::1", None),
        // Carrying an IPv4 address: judged by it (the IPv4-mapped,
        // IPv4-compatible, SIIT, NAT64 and 6to4 forms).
        ("::ffff:127.0.0.1", Some("loopback")),
        ("::ffff:10.0.0.1", Some("private-use")),
        ("::ffff:192.0.2.1", Some("documentation, TEST-NET-1")),
        ("::ffff:8.8.8.8", None),
        ("::127.0.0.1", Some("loopback")),
        ("::198.51.100.1", Some("documentation, TEST-NET-2")),
        ("::8.8.8.8", None),
        ("::ffff:0:7f00:1", Some("loopback")),
        ("64:ff9b::7f00:1", Some("loopback")),
        ("64:ff9b::a9fe:a9fe", Some("link-local")),
        ("64:ff9b::c612:1", Some("benchmarking")),
        ("64:ff9b::c000:9", None),
        ("64:ff9b::808:808", None),
        ("2002:7f00:1::", Some("loopback")),
        ("2002:a00:1::1", Some("private-use")),
        ("2002:cb00:7101::1", Some("documentation, TEST-NET-3")),
        ("2002:5db8:d822::1", None),
    ];

    fn judged(ip: &str) -> Option<&'static str> {
        forbidden_address(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
    }

    #[test]
    fn ipv4_addresses_are_judged_by_the_iana_registry() {
        for (ip, want) in IPV4_CASES {
            assert_eq!(judged(ip), *want, "{ip}");
        }
    }

    #[test]
    fn ipv6_addresses_are_judged_by_the_iana_registry() {
        for (ip, want) in IPV6_CASES {
            assert_eq!(judged(ip), *want, "{ip}");
        }
    }

    /// The list of ranges that were accepted: each one refused.
    #[test]
    fn the_special_ranges_once_accepted_are_refused() {
        for ip in [
            "192.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "192.88.99.1",
            "2001:db8::1",
            "2001::1",
            "2001:1ff::1",
            "100::1",
            "64:ff9b:1::1",
        ] {
            assert!(judged(ip).is_some(), "{ip}");
        }
    }

    /// Each row of both tables decides at least one of the cases above, so
    /// no range goes untested.
    #[test]
    fn every_row_of_the_tables_has_a_case() {
        for (i, row) in IPV4_SPECIAL.iter().enumerate() {
            let decided = IPV4_CASES
                .iter()
                .any(|(ip, _)| ipv4_row(ip.parse().unwrap()) == Some(i));
            assert!(decided, "no case for {}/{}", row.0, row.1);
        }
        // The IPv6 rows whose addresses carry an IPv4 one never decide.
        let carriers = ["::ffff:0:0", "64:ff9b::"];
        for (i, row) in IPV6_SPECIAL.iter().enumerate() {
            if carriers.contains(&row.0.to_string().as_str()) {
                continue;
            }
            let decided = IPV6_CASES
                .iter()
                .any(|(ip, _)| ipv6_row(ip.parse().unwrap()) == Some(i));
            assert!(decided, "no case for {}/{}", row.0, row.1);
        }
    }

    #[test]
    fn prefix_masks_cover_the_edges() {
        assert_eq!(prefix_mask(32, 0), 0);
        assert_eq!(prefix_mask(32, 32), u128::from(u32::MAX));
        assert_eq!(prefix_mask(32, 8), 0xff00_0000);
        assert_eq!(prefix_mask(128, 128), u128::MAX);
        assert_eq!(prefix_mask(128, 1), 1 << 127);
    }

    #[test]
    fn urls_are_http_with_a_host_and_nothing_hidden() {
        assert!(parse_url("https://hooks.example.com/orgd?x=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "/relative",
            "gopher://example.com",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
