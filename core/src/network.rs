//! The network a client IP is reduced to: the unit the server learns companies for, and
//! all that is kept of an IP once enrichment has finished.
//!
//! A /24 (IPv4) or /48 (IPv6) is what one office or one site is usually given: wide
//! enough to recognise a colleague's click, narrow enough not to name a neighbour.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Prefix length kept of an IPv4 address.
pub const IPV4_NETWORK_BITS: u8 = 24;
/// Prefix length kept of an IPv6 address.
pub const IPV6_NETWORK_BITS: u8 = 48;

/// The /24 or /48 containing `ip`: its first address and prefix length. An IPv4-mapped
/// IPv6 address counts as the IPv4 address it carries.
pub fn client_network_prefix(ip: IpAddr) -> (IpAddr, u8) {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4) & (u32::MAX << (32 - IPV4_NETWORK_BITS));
            (IpAddr::V4(Ipv4Addr::from(bits)), IPV4_NETWORK_BITS)
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << (128 - IPV6_NETWORK_BITS));
            (IpAddr::V6(Ipv6Addr::from(bits)), IPV6_NETWORK_BITS)
        }
    }
}

/// The /24 or /48 containing `ip`, in CIDR notation (`203.0.113.0/24`, `2001:db8:1::/48`):
/// how it is stored.
pub fn client_network(ip: IpAddr) -> String {
    match client_network_prefix(ip) {
        // Written digit by digit: the SQLite writer stores this for every click, and the
        // formatting machinery was a twentieth of its work per click.
        (IpAddr::V4(address), bits) => {
            let mut network = String::with_capacity("255.255.255.255/32".len());
            for (i, octet) in address.octets().into_iter().enumerate() {
                if i > 0 {
                    network.push('.');
                }
                push_decimal(&mut network, octet);
            }
            network.push('/');
            push_decimal(&mut network, bits);
            network
        }
        (address, bits) => format!("{address}/{bits}"),
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// `ip`, with an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket
/// reports for IPv4 clients) turned back into IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether `ip` is an address of the public Internet rather than one that a proxy, a
/// NAT or this machine hands out: loopback, private (RFC 1918, IPv6 unique-local),
/// shared carrier-grade NAT space, link-local, unspecified, multicast and broadcast are
/// not. Only a public address says something about the organisation behind it; a
/// private one is usually the proxy in front of the server, the same for every visitor.
///
/// The documentation and benchmarking ranges (TEST-NET, 198.18.0.0/15, 2001:db8::/32)
/// count as public: real clients never come from them, and test suites use them to
/// stand for public addresses.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let shared_nat = v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64;
            let this_network = v4.octets()[0] == 0;
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || shared_nat
                || this_network)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = (first & 0xfe00) == 0xfc00;
            let link_local = (first & 0xffc0) == 0xfe80;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_non_public_addresses() {
        let cases = [
            ("8.8.8.8", true),
            ("203.0.113.10", true),
            ("198.18.7.1", true),
            ("2001:db8:acde::1", true),
            ("2a00:1450:4001::1", true),
            ("::ffff:8.8.4.4", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.1", true),
            ("169.254.1.1", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("224.0.0.1", false),
            ("::1", false),
            ("::", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("ff02::1", false),
            ("::ffff:10.0.0.1", false),
        ];
        for (ip, public) in cases {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert_eq!(is_public_ip(ip), public, "{ip}");
        }
    }

    #[test]
    fn networks() {
        let cases = [
            ("203.0.113.77", "203.0.113.0/24"),
            ("203.0.113.0", "203.0.113.0/24"),
            ("203.0.113.255", "203.0.113.0/24"),
            ("10.1.2.3", "10.1.2.0/24"),
            ("::ffff:198.51.100.9", "198.51.100.0/24"),
            ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
            (
                "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff",
                "2001:db8:abcd::/48",
            ),
            ("::1", "::/48"),
        ];
        for (ip, expected) in cases {
            let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert_eq!(client_network(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv4_networks_are_written_as_the_standard_library_writes_them() {
        for octet in 0..=255u8 {
            for address in [[octet, 0, 9, 1], [1, octet, 10, 2], [99, 100, octet, 3]] {
                let [a, b, c, _] = address;
                let expected = format!("{}/24", Ipv4Addr::new(a, b, c, 0));
                assert_eq!(client_network(IpAddr::from(address)), expected);
            }
        }
    }
}
