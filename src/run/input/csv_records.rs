//! `--csv`: input lines read as CSV (RFC 4180), as GNU parallel's `--csv`.
//!
//! Owns: where a CSV record ends (a line whose quotes are still open goes on
//! with the next line, so a quoted field may hold newlines), and splitting a
//! record into its fields with the `csv` crate (quoted fields, `""` escapes,
//! commas inside quotes).
//!
//! Invariant: a record's quotes are balanced when it is split; a source that
//! ends inside quotes yields what it has (the csv reader then takes the rest
//! of the line as the last field), never an error out of nowhere. Lines are
//! joined with `\n`; blank lines inside a quoted field are skipped by the
//! line reader (as every blank input line is).

use crate::run::input::arg_sources::{Row, Values};

/// Joins the lines of `values` into whole CSV records.
pub fn records(values: Values) -> Values {
    let mut values = values;
    Box::new(std::iter::from_fn(move || {
        let mut record = match values.next()? {
            Ok(line) => line,
            Err(err) => return Some(Err(err)),
        };
        while quotes_open(&record) {
            match values.next() {
                Some(Ok(line)) => {
                    record.push(b'\n');
                    record.extend_from_slice(&line);
                }
                Some(Err(err)) => return Some(Err(err)),
                None => break,
            }
        }
        Some(Ok(record))
    }))
}

/// Whether a quoted field is still open at the end of `record`: an odd number
/// of quotes (an escaped `""` counts two).
fn quotes_open(record: &[u8]) -> bool {
    record.iter().filter(|&&b| b == b'"').count() % 2 == 1
}

/// The fields of one record.
pub fn fields(record: &[u8]) -> Row {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(record);
    let mut fields = csv::ByteRecord::new();
    match reader.read_byte_record(&mut fields) {
        Ok(true) => fields.iter().map(<[u8]>::to_vec).collect(),
        // An empty record, or bytes the reader refuses: one column, as it is.
        _ => vec![record.to_vec()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ls: &[&str]) -> Values {
        let owned: Vec<Vec<u8>> = ls.iter().map(|l| l.as_bytes().to_vec()).collect();
        Box::new(owned.into_iter().map(Ok))
    }

    fn strings(row: Row) -> Vec<String> {
        row.into_iter()
            .map(|f| String::from_utf8(f).unwrap())
            .collect()
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_newlines() {
        let records: Vec<Vec<u8>> = records(lines(&[
            r#"a,"b, c","say ""hi""""#,
            r#"x,"two"#,
            r#"lines",y"#,
            "plain",
        ]))
        .map(Result::unwrap)
        .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(strings(fields(&records[0])), ["a", "b, c", "say \"hi\""]);
        assert_eq!(strings(fields(&records[1])), ["x", "two\nlines", "y"]);
        assert_eq!(strings(fields(&records[2])), ["plain"]);
    }

    #[test]
    fn a_source_ending_inside_quotes_yields_what_it_has() {
        let records: Vec<Vec<u8>> = records(lines(&[r#"a,"open"#]))
            .map(Result::unwrap)
            .collect();
        assert_eq!(records, [br#"a,"open"#.to_vec()]);
        assert_eq!(fields(&records[0]).len(), 2);
    }
}
