//! A quote-aware pass over CSV bytes before polars parses them: it finds the separator, the
//! header, ragged rows (with their row numbers, which polars does not report) and turns
//! whitespace-separated files (C-MAPSS, airfoil .dat) into comma-separated ones.

use super::error::IngestError;
use crate::config::Limits;
use std::borrow::Cow;

/// What the pass learned about a CSV body.
#[derive(Debug)]
pub struct CsvShape<'a> {
    /// The bytes polars should parse (without BOM; re-separated if the file used whitespace).
    pub bytes: Cow<'a, [u8]>,
    pub separator: u8,
    pub has_header: bool,
    /// Column names: the header's (trimmed, blanks named by position) or `column_1..n`.
    pub names: Vec<String>,
    pub data_rows: usize,
}

/// How fields are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sep {
    Byte(u8),
    Whitespace,
}

fn detect_separator(first_line: &[u8]) -> Sep {
    // Outside quotes, the most telling separator wins: comma, semicolon, tab, then runs of spaces.
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for &b in first_line {
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => counts[0] += 1,
            b';' if !in_quotes => counts[1] += 1,
            b'\t' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    if counts[0] > 0 {
        Sep::Byte(b',')
    } else if counts[1] > 0 {
        Sep::Byte(b';')
    } else if counts[2] > 0 {
        Sep::Byte(b'\t')
    } else if first_line.trim_ascii().contains(&b' ') {
        Sep::Whitespace
    } else {
        Sep::Byte(b',')
    }
}

/// Splits one record into fields; quotes may hide separators and newlines.
/// Returns the fields and the offset just past the record.
fn next_record(bytes: &[u8], start: usize, sep: u8) -> (Vec<&[u8]>, usize) {
    let mut fields = Vec::new();
    let mut i = start;
    let mut field_start = start;
    let mut in_quotes = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            if b == sep {
                fields.push(&bytes[field_start..i]);
                field_start = i + 1;
            } else if b == b'\n' {
                let mut end = i;
                if end > field_start && bytes[end - 1] == b'\r' {
                    end -= 1;
                }
                fields.push(&bytes[field_start..end]);
                return (fields, i + 1);
            }
        }
        i += 1;
    }
    let mut end = bytes.len();
    if end > field_start && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    fields.push(&bytes[field_start..end]);
    (fields, bytes.len())
}

fn is_blank(fields: &[&[u8]]) -> bool {
    fields.len() == 1 && fields[0].trim_ascii().is_empty()
}

fn unquote(field: &[u8]) -> String {
    let t = String::from_utf8_lossy(field.trim_ascii()).to_string();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        t[1..t.len() - 1].replace("\"\"", "\"")
    } else {
        t
    }
}

fn looks_numeric(field: &[u8]) -> bool {
    let s = unquote(field);
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// Rewrites a whitespace-separated body as comma-separated lines.
fn whitespace_to_commas(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split(|&b| b == b'\n') {
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let mut first = true;
        for field in text.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty()) {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(field);
            first = false;
        }
        out.push(b'\n');
    }
    out
}

/// Scans a CSV body: separator, header, column names, field counts per row.
pub fn scan<'a>(
    raw: &'a [u8],
    separator: Option<u8>,
    header: Option<bool>,
    limits: &Limits,
) -> Result<CsvShape<'a>, IngestError> {
    let body = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    if body.trim_ascii().is_empty() {
        return Err(IngestError::invalid(
            "the body is empty: send a table with a header row and at least one data row",
        ));
    }
    if std::str::from_utf8(body).is_err() {
        let bad = body.utf8_chunks().next().map(|c| c.valid().len()).unwrap_or(0);
        let line = body[..bad].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(IngestError::invalid(format!(
            "the body is not UTF-8 text (first invalid byte on line {line}); save the file as UTF-8"
        )));
    }
    let first_line_end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let sep = match separator {
        Some(b' ') => Sep::Whitespace,
        Some(b) => Sep::Byte(b),
        None => detect_separator(&body[..first_line_end]),
    };
    let (bytes, sep_byte): (Cow<'a, [u8]>, u8) = match sep {
        Sep::Byte(b) => (Cow::Borrowed(body), b),
        Sep::Whitespace => (Cow::Owned(whitespace_to_commas(body)), b','),
    };

    // First non-blank record: header or first data row.
    let mut pos = 0;
    let mut first_start = 0;
    let mut first: Vec<&[u8]> = Vec::new();
    while pos < bytes.len() {
        let (fields, next) = next_record(&bytes, pos, sep_byte);
        if !is_blank(&fields) {
            first_start = pos;
            pos = next;
            first = fields;
            break;
        }
        pos = next;
    }
    let has_header = header.unwrap_or_else(|| !first.iter().all(|f| looks_numeric(f)));
    let width = first.len();
    if width > limits.max_columns {
        return Err(IngestError::too_large(format!(
            "the table has {width} columns; the limit is {} (GENFAB_MAX_COLUMNS)",
            limits.max_columns
        )));
    }
    let names: Vec<String> = if has_header {
        first
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let n = unquote(f);
                if n.is_empty() {
                    format!("column_{}", i + 1)
                } else {
                    n
                }
            })
            .collect()
    } else {
        (1..=width).map(|i| format!("column_{i}")).collect()
    };
    check_unique_names(&names)?;
    // one value (or name) longer than a plant ever writes is a wrong file, or an attack on memory
    if let Some(i) = first.iter().position(|f| f.len() > limits.max_string_bytes) {
        let what = if has_header { "its name" } else { "its value in row 1" };
        return Err(IngestError::at(
            (!has_header).then_some(1),
            &names[i],
            format!("{what} is longer than {} bytes, the limit (GENFAB_MAX_STRING_BYTES)", limits.max_string_bytes),
        ));
    }

    let mut data_rows = if has_header { 0 } else { 1 };
    // Spans of non-blank records; blank lines inside the body are dropped before polars sees it.
    let mut kept: Vec<(usize, usize)> = vec![(first_start, pos)];
    let mut blank_inside = first_start > 0;
    while pos < bytes.len() {
        let start = pos;
        let (fields, next) = next_record(&bytes, pos, sep_byte);
        pos = next;
        if is_blank(&fields) {
            blank_inside = true;
            continue;
        }
        kept.push((start, next));
        data_rows += 1;
        if fields.len() != width {
            return Err(IngestError::at_row(
                data_rows as u64,
                format!(
                    "has {} fields but the {} has {width}; every row needs one value per column (leave a field empty for a missing value)",
                    fields.len(),
                    if has_header { "header" } else { "first row" }
                ),
            ));
        }
        if let Some(i) = fields.iter().position(|f| f.len() > limits.max_string_bytes) {
            return Err(IngestError::at(
                Some(data_rows as u64),
                &names[i],
                format!(
                    "the value is longer than {} bytes, the limit (GENFAB_MAX_STRING_BYTES)",
                    limits.max_string_bytes
                ),
            ));
        }
        if data_rows > limits.max_rows {
            return Err(IngestError::too_large(format!(
                "the table has more than {} rows, the limit (GENFAB_MAX_ROWS); split the upload into appends",
                limits.max_rows
            )));
        }
    }
    if data_rows == 0 {
        return Err(IngestError::invalid("the file has a header but no data rows"));
    }
    let bytes = if blank_inside {
        let mut out = Vec::with_capacity(bytes.len());
        for (a, b) in kept {
            out.extend_from_slice(&bytes[a..b]);
            if out.last() != Some(&b'\n') {
                out.push(b'\n');
            }
        }
        Cow::Owned(out)
    } else {
        bytes
    };
    Ok(CsvShape { bytes, separator: sep_byte, has_header, names, data_rows })
}

/// Refuses duplicate column names, naming both positions.
pub fn check_unique_names(names: &[String]) -> Result<(), IngestError> {
    let mut seen = std::collections::HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = seen.insert(n.as_str(), i) {
            return Err(IngestError {
                column: Some(n.clone()),
                ..IngestError::invalid(format!(
                    "column name '{n}' appears twice (columns {} and {}); column names must be unique",
                    j + 1,
                    i + 1
                ))
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_str(s: &str) -> Result<CsvShape<'_>, IngestError> {
        scan(s.as_bytes(), None, None, &Limits::default())
    }

    #[test]
    fn finds_header_separator_and_rows() {
        let s = scan_str("\u{feff}a;b\n1;2\n3;4\n").unwrap();
        assert_eq!(s.separator, b';');
        assert!(s.has_header);
        assert_eq!(s.names, ["a", "b"]);
        assert_eq!(s.data_rows, 2);
    }

    #[test]
    fn numeric_first_row_means_no_header() {
        let s = scan_str("6,0,1.5\n7,1,2.5\n").unwrap();
        assert!(!s.has_header);
        assert_eq!(s.names, ["column_1", "column_2", "column_3"]);
        assert_eq!(s.data_rows, 2);
    }

    #[test]
    fn whitespace_files_become_comma_separated() {
        let s = scan_str("1 1 -0.0007  100.0 \n1 2 0.0019  100.0 \n").unwrap();
        assert_eq!(&*s.bytes, b"1,1,-0.0007,100.0\n1,2,0.0019,100.0\n");
        assert_eq!(s.names.len(), 4);
    }

    #[test]
    fn ragged_row_is_named() {
        let e = scan_str("a,b,c\n1,2,3\n4,5\n").unwrap_err();
        assert_eq!(e.row, Some(2));
        assert!(e.message.contains("has 2 fields but the header has 3"), "{}", e.message);
    }

    #[test]
    fn blank_lines_are_dropped() {
        let s = scan_str("a,b\n1,2\n\n3,4\n\n").unwrap();
        assert_eq!(s.data_rows, 2);
        assert_eq!(&*s.bytes, b"a,b\n1,2\n3,4\n");
    }

    #[test]
    fn quoted_separators_and_newlines_do_not_split() {
        let s = scan_str("name,note\n\"a,b\",\"line1\nline2\"\nc,d\n").unwrap();
        assert_eq!(s.data_rows, 2);
    }

    #[test]
    fn nasty_bodies_are_refused() {
        assert!(scan_str("").unwrap_err().message.contains("empty"));
        assert!(scan_str(" \n\n").unwrap_err().message.contains("empty"));
        assert!(scan_str("a,b\n").unwrap_err().message.contains("no data rows"));
        let e = scan_str("a,b,a\n1,2,3\n").unwrap_err();
        assert!(e.message.contains("appears twice (columns 1 and 3)"), "{}", e.message);
        let e = scan(b"a,b\n1,\xff\n", None, None, &Limits::default()).unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_rows: 2, max_columns: 2, ..Limits::default() };
        let e = scan(b"a,b,c\n1,2,3\n", None, None, &limits).unwrap_err();
        assert_eq!(e.kind, super::super::IngestErrorKind::TooLarge);
        let e = scan(b"a,b\n1,2\n1,2\n1,2\n", None, None, &limits).unwrap_err();
        assert_eq!(e.kind, super::super::IngestErrorKind::TooLarge);
        let limits = Limits { max_string_bytes: 4, ..Limits::default() };
        assert!(scan(b"a,b\n1,abcd\n", None, None, &limits).is_ok());
        let e = scan(b"a,b\n1,abcd\n2,abcde\n", None, None, &limits).unwrap_err();
        assert_eq!((e.row, e.column.as_deref()), (Some(2), Some("b")));
        assert!(e.message.contains("4 bytes") && !e.message.contains("abcde"), "{}", e.message);
        let e = scan(b"a,bcdefg\n1,2\n", None, None, &limits).unwrap_err();
        assert!(e.message.contains("name"), "{}", e.message);
    }
}
