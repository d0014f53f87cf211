//! `naano-server import-asn`: reads the `@ip-location-db/asn` CSVs
//! (`start_ip,end_ip,asn,org`, one file per address family) into an [`AsnIndex`],
//! classifying each organisation once with [`naano_core::classify_org`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::index::{AsnIndex, Org, Ranges};
use crate::inference::csv_source::{data_file, CsvError};

/// The file names of the `@ip-location-db/asn` package.
pub const CSV_FILES: [&str; 2] = ["asn-ipv4.csv", "asn-ipv6.csv"];

/// Why the data could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A directory holds none of the expected files.
    #[error("{0}: no asn-ipv4.csv or asn-ipv6.csv in this directory")]
    NoFiles(String),
    /// A file is unreadable or malformed.
    #[error(transparent)]
    Csv(#[from] CsvError),
}

/// Organisations de-duplicated by (ASN, name), and the ranges pointing at them.
#[derive(Debug, Default)]
struct Builder {
    orgs: Vec<Org>,
    org_ids: HashMap<(u32, Box<str>), u32>,
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
}

impl Builder {
    fn org(&mut self, asn: u32, name: &str) -> u32 {
        let key = (asn, Box::<str>::from(name));
        if let Some(&id) = self.org_ids.get(&key) {
            return id;
        }
        let id = self.orgs.len() as u32;
        self.orgs.push(Org {
            asn,
            name: name.into(),
            kind: naano_core::classify_org(asn, name),
        });
        self.org_ids.insert(key, id);
        id
    }

    fn add_file(&mut self, path: &Path) -> Result<(), CsvError> {
        let shown = path.display().to_string();
        let mut reader = data_file(path)?;
        let mut record = csv::StringRecord::new();
        let mut line = 0u64;
        loop {
            line += 1;
            let more = reader
                .read_record(&mut record)
                .map_err(|e| CsvError::line(&shown, line, e.to_string()))?;
            if !more {
                return Ok(());
            }
            self.add_record(&record)
                .map_err(|message| CsvError::line(&shown, line, message))?;
        }
    }

    fn add_record(&mut self, record: &csv::StringRecord) -> Result<(), String> {
        let field = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let ip = |i: usize| {
            field(i)
                .parse::<IpAddr>()
                .map_err(|_| format!("{:?} is not an IP address", field(i)))
        };
        let (start, end) = (ip(0)?, ip(1)?);
        let asn = field(2)
            .trim_start_matches("AS")
            .parse::<u32>()
            .map_err(|_| format!("{:?} is not an AS number", field(2)))?;
        let org = self.org(asn, field(3));
        match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => self.v4.push((s.into(), e.into(), org)),
            (IpAddr::V6(s), IpAddr::V6(e)) => self.v6.push((s.into(), e.into(), org)),
            _ => return Err("start and end are of different address families".into()),
        }
        Ok(())
    }

    fn finish(self) -> AsnIndex {
        AsnIndex::new(
            self.orgs,
            Ranges::build(self.v4, |x: u32| x.checked_sub(1)),
            Ranges::build(self.v6, |x: u128| x.checked_sub(1)),
        )
    }
}

/// The CSV files `source` names: the package's files in a directory, or one file.
pub fn csv_files(source: &Path) -> Result<Vec<PathBuf>, ImportError> {
    if !source.is_dir() {
        return Ok(vec![source.to_owned()]);
    }
    // `npm pack` + `tar x` leaves the files under `package/`.
    let dirs = [source.to_owned(), source.join("package")];
    let files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| CSV_FILES.iter().map(move |f| d.join(f)))
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        return Err(ImportError::NoFiles(source.display().to_string()));
    }
    Ok(files)
}

/// Builds the index from the CSV files in (or at) `source`.
pub fn import(source: &Path) -> Result<AsnIndex, ImportError> {
    let mut builder = Builder::default();
    for file in csv_files(source)? {
        builder.add_file(&file)?;
    }
    Ok(builder.finish())
}

/// Builds an index from CSV text (tests and benchmarks).
pub fn import_text(text: &str) -> Result<AsnIndex, ImportError> {
    let mut builder = Builder::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let record = record.map_err(|e| CsvError::line("<inline>", line, e.to_string()))?;
        builder
            .add_record(&record)
            .map_err(|message| CsvError::line("<inline>", line, message))?;
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use naano_core::OrgKind;

    #[test]
    fn parses_quoted_names_and_both_families() {
        let index = import_text(
            "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
             1.0.64.0,1.0.127.255,18144,\"Enecom,Inc.\"\n\
             2001:200::,2001:200:1b9:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n",
        )
        .unwrap();
        assert_eq!(index.counts(), (2, 1, 3));
        let cf = index.lookup("1.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            (cf.asn, &*cf.name, cf.kind),
            (13335, "Cloudflare, Inc.", OrgKind::Hosting)
        );
        let enecom = index.lookup("1.0.100.1".parse().unwrap()).unwrap();
        assert_eq!(
            (&*enecom.name, enecom.kind),
            ("Enecom,Inc.", OrgKind::Business)
        );
        assert_eq!(
            index.lookup("2001:200::1".parse().unwrap()).unwrap().asn,
            2500
        );
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, needle) in [
            ("1.0.0.0,1.0.0.255,13335,X\nnope,1.0.0.1,1,X\n", "line 2"),
            ("1.0.0.0,1.0.0.255,ASx,X\n", "AS number"),
            ("1.0.0.0,2001::,1,X\n", "different address families"),
        ] {
            let err = import_text(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} -> {err}");
        }
    }

    #[test]
    fn a_directory_without_the_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(import(dir.path()), Err(ImportError::NoFiles(_))));
    }
}
