//! Public IP-to-ASN data as an inference provider: the organisation announcing an IP's
//! network, classified into [`OrgKind`]s, with an operator's override file on top.
//!
//! Data: the `@ip-location-db/asn` package (CC BY 4.0; RouteViews and DB-IP), imported
//! once with `naano-server import-asn` into a binary index the server loads at start.

pub mod import;
pub mod index;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use naano_core::OrgKind;

use super::csv_source::{operator_file, CsvError};
use super::ip_table::normalize_domain;
use super::{Answer, InMemoryProvider};
pub use index::{AsnIndex, AsnIndexError};

/// How sure an ASN holder's name is the visitor's employer: a company with its own AS
/// is usually that company's office network, but not always (a subsidiary, a shared
/// building, a hosted service), so lower than a user's table or a learned network.
pub const ASN_CONFIDENCE: f64 = 0.5;

/// An operator's correction for one AS.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The kind to use instead of the rule set's.
    pub kind: OrgKind,
    /// A better company name (e.g. "Microsoft" for AS8075 when its staff are the visitors).
    pub company: Option<String>,
    /// The company's domain.
    pub domain: Option<String>,
}

/// Overrides by AS number, from a CSV `asn,kind[,company[,domain]]` (`#` comments, an
/// optional `asn,…` header).
pub fn load_overrides(path: &Path) -> Result<HashMap<u32, Override>, CsvError> {
    let shown = path.display().to_string();
    let mut reader = operator_file(path)?;
    let mut out = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = |message: String| CsvError::line(&shown, i as u64 + 1, message);
        let record = record.map_err(|e| line(e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        if i == 0 && field(0).eq_ignore_ascii_case("asn") || record.iter().all(str::is_empty) {
            continue;
        }
        let asn = field(0)
            .trim_start_matches("AS")
            .parse::<u32>()
            .map_err(|_| line(format!("{:?} is not an AS number", field(0))))?;
        let kind = field(1)
            .parse::<OrgKind>()
            .map_err(|e| line(e.to_string()))?;
        let text = |i: usize| Some(field(i)).filter(|s| !s.is_empty());
        out.insert(
            asn,
            Override {
                kind,
                company: text(2).map(str::to_owned),
                domain: text(3).map(normalize_domain),
            },
        );
    }
    Ok(out)
}

/// The ASN provider.
#[derive(Debug, Clone)]
pub struct AsnProvider {
    index: Arc<AsnIndex>,
    overrides: Arc<HashMap<u32, Override>>,
}

impl AsnProvider {
    /// A provider over `index` with `overrides` applied.
    pub fn new(index: Arc<AsnIndex>, overrides: HashMap<u32, Override>) -> Self {
        Self {
            index,
            overrides: Arc::new(overrides),
        }
    }
}

impl InMemoryProvider for AsnProvider {
    const NAME: &'static str = "asn";

    fn find(&self, ip: IpAddr) -> Option<Answer> {
        let org = self.index.lookup(ip)?;
        let over = self.overrides.get(&org.asn);
        Some(Answer {
            company: over
                .and_then(|o| o.company.clone())
                // Not `to_string`: on a `Box<str>` that goes through the formatting
                // machinery, a fifth of this lookup's time in the live server.
                .unwrap_or_else(|| String::from(&*org.name)),
            domain: over.and_then(|o| o.domain.clone()),
            confidence: ASN_CONFIDENCE,
            source: Self::NAME.into(),
            kind: over.map_or(org.kind, |o| o.kind),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_kind_and_name() {
        let index = import::import_text(
            "4.144.0.0,4.144.0.255,8075,Microsoft Corporation\n\
             5.0.0.0,5.0.0.255,64500,Acme Corp\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.csv");
        std::fs::write(
            &path,
            "asn,kind,company,domain\n# our biggest prospect\nAS8075,business,Microsoft,www.Microsoft.com\n64500,isp\n",
        )
        .unwrap();
        let provider = AsnProvider::new(Arc::new(index.clone()), load_overrides(&path).unwrap());
        let ms = provider.find("4.144.0.9".parse().unwrap()).unwrap();
        assert_eq!(
            (ms.company.as_str(), ms.domain.as_deref(), ms.kind),
            ("Microsoft", Some("microsoft.com"), OrgKind::Business)
        );
        let acme = provider.find("5.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            (acme.company.as_str(), acme.kind),
            ("Acme Corp", OrgKind::Isp)
        );

        let plain = AsnProvider::new(Arc::new(index), HashMap::new());
        let ms = plain.find("4.144.0.9".parse().unwrap()).unwrap();
        assert_eq!((ms.kind, ms.source.as_str()), (OrgKind::Hosting, "asn"));
    }

    #[test]
    fn bad_override_lines_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.csv");
        std::fs::write(&path, "8075,business\n8076,bank\n").unwrap();
        let err = load_overrides(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("bank"), "{err}");
    }
}
