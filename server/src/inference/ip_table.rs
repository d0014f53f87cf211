//! The user's own `cidr,company,domain,confidence` table: the first and most trusted
//! inference provider (a customer's knowledge of its prospects beats public data).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use naano_core::OrgKind;

use super::csv_source::{operator_file, operator_text, CsvError};
use super::{Answer, InMemoryProvider};

/// Confidence when the CSV leaves the column empty.
const DEFAULT_CONFIDENCE: f64 = 0.8;

#[derive(Debug, Clone)]
struct Entry {
    company: String,
    domain: Option<String>,
    confidence: f64,
}

/// Networks to companies; a lookup returns the most specific network containing the IP.
///
/// Networks are grouped by prefix length, so a lookup costs one hash probe per distinct
/// prefix length (a handful), whatever the table's size.
#[derive(Debug, Default)]
pub struct IpCompanyTable {
    /// (prefix length, network address) -> entry, with the prefix lengths probed longest first.
    v4: PrefixIndex,
    v6: PrefixIndex,
    len: usize,
}

#[derive(Debug, Default)]
struct PrefixIndex {
    prefixes: Vec<u8>,
    entries: HashMap<(u8, IpAddr), Entry>,
}

impl PrefixIndex {
    fn insert(&mut self, net: IpNet, entry: Entry) {
        let len = net.prefix_len();
        if !self.prefixes.contains(&len) {
            self.prefixes.push(len);
            self.prefixes.sort_unstable_by(|a, b| b.cmp(a));
        }
        // A later line for the same network replaces the earlier one.
        self.entries.insert((len, net.network()), entry);
    }

    fn lookup(&self, ip: IpAddr) -> Option<&Entry> {
        self.prefixes.iter().find_map(|&len| {
            let net = IpNet::new(ip, len).ok()?.trunc();
            self.entries.get(&(len, net.network()))
        })
    }
}

impl IpCompanyTable {
    /// Loads the CSV at `path`. A first line starting with `cidr` is a header.
    pub fn load(path: &Path) -> Result<Self, CsvError> {
        Self::from_reader(operator_file(path)?, &path.display().to_string())
    }

    /// Parses CSV text (for tests and embedding).
    pub fn parse(text: &str) -> Result<Self, CsvError> {
        Self::from_reader(operator_text(text), "<inline>")
    }

    fn from_reader<R: std::io::Read>(
        mut reader: csv::Reader<R>,
        path: &str,
    ) -> Result<Self, CsvError> {
        let mut table = Self::default();
        for (index, record) in reader.records().enumerate() {
            let line = |message: String| CsvError::line(path, index as u64 + 1, message);
            let record = record.map_err(|e| line(e.to_string()))?;
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            if index == 0 && field(0).eq_ignore_ascii_case("cidr") {
                continue;
            }
            if record.iter().all(str::is_empty) {
                continue;
            }
            let net = parse_network(field(0)).map_err(line)?;
            let company = field(1);
            if company.is_empty() {
                return Err(line("company is empty".into()));
            }
            let domain = Some(field(2))
                .filter(|d| !d.is_empty())
                .map(normalize_domain);
            let confidence = match field(3) {
                "" => DEFAULT_CONFIDENCE,
                raw => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|c| (0.0..=1.0).contains(c))
                    .ok_or_else(|| line(format!("confidence {raw:?} is not a number in [0, 1]")))?,
            };
            table.insert(
                net,
                Entry {
                    company: company.to_owned(),
                    domain,
                    confidence,
                },
            );
        }
        Ok(table)
    }

    /// Adds (or replaces) one network.
    pub fn insert_network(
        &mut self,
        net: IpNet,
        company: &str,
        domain: Option<&str>,
        confidence: f64,
    ) {
        let entry = Entry {
            company: company.to_owned(),
            domain: domain.map(normalize_domain),
            confidence,
        };
        self.insert(net, entry);
    }

    fn insert(&mut self, net: IpNet, entry: Entry) {
        let net = net.trunc();
        match net {
            IpNet::V4(_) => self.v4.insert(net, entry),
            IpNet::V6(_) => self.v6.insert(net, entry),
        }
        self.len += 1;
    }

    /// Number of lines loaded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A CIDR, or a bare address meaning a single host.
fn parse_network(raw: &str) -> Result<IpNet, String> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!("{raw:?} is not a CIDR network such as 203.0.113.0/24 or 2001:db8::/32")
        })
}

/// Lowercase, without a trailing dot or a `www.` prefix: the form domains are compared in.
pub fn normalize_domain(domain: &str) -> String {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    d.strip_prefix("www.").map(str::to_owned).unwrap_or(d)
}

impl InMemoryProvider for IpCompanyTable {
    const NAME: &'static str = "ip_table";

    /// The most specific network's company for `ip`.
    fn find(&self, ip: IpAddr) -> Option<Answer> {
        let ip = naano_core::canonical_ip(ip);
        let entry = match ip {
            IpAddr::V4(_) => self.v4.lookup(ip),
            IpAddr::V6(_) => self.v6.lookup(ip),
        }?;
        Some(Answer {
            company: entry.company.clone(),
            domain: entry.domain.clone(),
            confidence: entry.confidence,
            source: Self::NAME.to_owned(),
            // The user lists the companies they want attributed.
            kind: OrgKind::Business,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(table: &IpCompanyTable, ip: &str) -> Option<String> {
        table.find(ip.parse().unwrap()).map(|c| c.company)
    }

    #[test]
    fn most_specific_network_wins_for_v4_and_v6() {
        let table = IpCompanyTable::parse(
            "cidr,company,domain,confidence\n\
             10.0.0.0/8,Big Corp,big.example,0.5\n\
             10.1.2.0/24,Small Team,WWW.Small.Example,0.9\n\
             2001:db8::/32,V6 Corp,,\n\
             2001:db8:1::/48,V6 Team,v6team.example,1\n\
             192.0.2.7,Single Host,,0.7\n",
        )
        .unwrap();
        assert_eq!(table.len(), 5);
        assert_eq!(company(&table, "10.9.9.9").as_deref(), Some("Big Corp"));
        assert_eq!(company(&table, "10.1.2.0").as_deref(), Some("Small Team"));
        assert_eq!(company(&table, "10.1.2.255").as_deref(), Some("Small Team"));
        assert_eq!(company(&table, "10.1.3.0").as_deref(), Some("Big Corp"));
        assert_eq!(company(&table, "11.0.0.0"), None);
        assert_eq!(
            company(&table, "2001:db8:ffff::1").as_deref(),
            Some("V6 Corp")
        );
        assert_eq!(
            company(&table, "2001:db8:1:ffff::1").as_deref(),
            Some("V6 Team")
        );
        assert_eq!(company(&table, "2001:db9::1"), None);
        assert_eq!(company(&table, "192.0.2.7").as_deref(), Some("Single Host"));
        assert_eq!(company(&table, "192.0.2.8"), None);
        // IPv4-mapped IPv6 peers are looked up as IPv4.
        assert_eq!(
            company(&table, "::ffff:10.1.2.3").as_deref(),
            Some("Small Team")
        );

        let small = table.find("10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(small.domain.as_deref(), Some("small.example"));
        assert_eq!(small.confidence, 0.9);
        assert_eq!(small.source, "ip_table");
        let v6 = table.find("2001:db8:ffff::1".parse().unwrap()).unwrap();
        assert_eq!((v6.domain, v6.confidence), (None, DEFAULT_CONFIDENCE));
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, needle) in [
            ("10.0.0.0/8,Acme,,2\n", "line 1: confidence"),
            ("cidr,company\nnot-an-ip,Acme\n", "line 2"),
            ("10.0.0.0/8,,acme.com\n", "company is empty"),
        ] {
            let err = IpCompanyTable::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} -> {err}");
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let table = IpCompanyTable::parse("# my prospects\n\n10.0.0.0/8,Acme\n").unwrap();
        assert_eq!(table.len(), 1);
    }
}
