//! Reading CSV files — the operator's (IP table, ASN overrides) and the public ASN data —
//! with one error type that names the file and the line.

use std::fs::File;
use std::path::Path;

/// Why a CSV file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: csv::Error },
    /// A line is malformed.
    #[error("{path}, line {line}: {message}")]
    Line {
        path: String,
        line: u64,
        message: String,
    },
}

impl CsvError {
    /// A malformed line (1-based) of `path`.
    pub fn line(path: &str, line: u64, message: impl Into<String>) -> Self {
        Self::Line {
            path: path.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// The reader settings of hand-written files: no header handling (callers skip their
/// own), `#` comments, fields trimmed, rows of any length.
fn operator_builder() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'));
    builder
}

/// Opens a hand-written file (see [`operator_builder`]).
pub fn operator_file(path: &Path) -> Result<csv::Reader<File>, CsvError> {
    operator_builder()
        .from_path(path)
        .map_err(|source| CsvError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// Hand-written CSV text (tests and embedding).
pub fn operator_text(text: &str) -> csv::Reader<&[u8]> {
    operator_builder().from_reader(text.as_bytes())
}

/// Opens a generated data file: no header, no comments, rows of any length.
pub fn data_file(path: &Path) -> Result<csv::Reader<File>, CsvError> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|source| CsvError::Read {
            path: path.display().to_string(),
            source,
        })
}
