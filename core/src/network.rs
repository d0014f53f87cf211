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

/// The /24 or /48 containing `ip`, in CIDR notation (`203.0.113.0/24`, `2001:db8:1::/48`).
/// An IPv4-mapped IPv6 address counts as the IPv4 address it carries.
pub fn client_network(ip: IpAddr) -> String {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4) & (u32::MAX << (32 - IPV4_NETWORK_BITS));
            format!("{}/{IPV4_NETWORK_BITS}", Ipv4Addr::from(bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << (128 - IPV6_NETWORK_BITS));
            format!("{}/{IPV6_NETWORK_BITS}", Ipv6Addr::from(bits))
        }
    }
}

/// `ip`, with an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket
/// reports for IPv4 clients) turned back into IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
