//! Combining several input sources into argument rows, as GNU parallel does.
//!
//! Owns: `--colsep` (a value becomes columns), `--header` (the first value of
//! each source names its columns, or N values are skipped), and the two ways of
//! combining sources: every combination (the default: the last source varies
//! fastest, GNU parallel's order), or paired up (`:::+`/`::::+` pair a source
//! with the one before it and stop at the shorter, `--link` pairs them all and
//! recycles the shorter ones up to the longest).
//!
//! Memory (what is held): the first source is streamed, one value at a time;
//! every other source is read whole into memory before the first row, since
//! each of its values is used once per value of the first. So a million
//! arguments in the first source (or on standard input) cost nothing, and
//! `-a big ::: a b` holds only `a b`. With `--link` the first source's values
//! are held too, but only until it is longer than every other source (they may
//! need recycling before that). GNU parallel reads sources lazily too, but keeps
//! the values it has read; we keep only what a later row will use.
//!
//! Invariants:
//! - Rows are produced lazily, in GNU parallel's order.
//! - A source with no value, combined with a source that has some, counts as
//!   one empty value (GNU parallel does the same); if every source is empty
//!   there is no row.
//! - A read error ends the rows after it is yielded.

use regex::bytes::Regex;

use crate::run::input::arg_sources::Values;
use crate::run::input::csv_records;
use crate::run::input::sources::InputError;

pub use crate::run::input::arg_sources::Row;

/// A lazy stream of rows.
pub type Rows = Box<dyn Iterator<Item = Result<Row, InputError>> + Send>;

/// `--header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// `--header :` (or a regex in GNU; any non-number here): the first value
    /// of each source names its columns.
    Names,
    /// `--header N`: the first N values of each source are skipped.
    Skip(usize),
}

/// How sources are combined and split.
#[derive(Debug, Clone, Default)]
pub struct Combine {
    /// `--colsep REGEX`.
    pub colsep: Option<Regex>,
    /// `--header`.
    pub header: Option<Header>,
    /// `--link`: pair every source, recycling the shorter ones.
    pub link: bool,
    /// `--csv`: records are CSV, their fields the columns.
    pub csv: bool,
}

/// How a value becomes columns: `--colsep`, `--csv`, or one column.
#[derive(Debug, Clone)]
enum Split {
    Whole,
    Regex(Regex),
    Csv,
}

impl Split {
    fn of(combine: &Combine) -> Split {
        match (&combine.colsep, combine.csv) {
            (_, true) => Split::Csv,
            (Some(re), false) => Split::Regex(re.clone()),
            (None, false) => Split::Whole,
        }
    }

    /// Splits a value into its columns.
    fn columns(&self, value: Vec<u8>) -> Row {
        match self {
            Split::Regex(re) => re.split(&value).map(<[u8]>::to_vec).collect(),
            Split::Csv => csv_records::fields(&value),
            Split::Whole => vec![value],
        }
    }
}

/// One source, split into columns, its header taken off.
struct Source {
    values: Values,
    linked: bool,
}

impl Combine {
    /// Combines `sources` (values, linked to the previous one?) into rows, and
    /// returns the `--header` column names (empty without `--header :`).
    ///
    /// # Errors
    /// A read error while reading a header or a source that is held.
    pub fn rows(&self, sources: Vec<(Values, bool)>) -> Result<(Rows, Vec<Vec<u8>>), InputError> {
        let mut names = Vec::new();
        let splitter = Split::of(self);
        let mut split = Vec::with_capacity(sources.len());
        for (values, linked) in sources {
            let mut values = match self.csv {
                true => csv_records::records(values),
                false => values,
            };
            match &self.header {
                Some(Header::Names) => {
                    if let Some(first) = values.next() {
                        names.extend(splitter.columns(first?));
                    }
                }
                Some(Header::Skip(n)) => {
                    for _ in 0..*n {
                        if let Some(value) = values.next() {
                            value?;
                        }
                    }
                }
                None => {}
            }
            split.push(Source { values, linked });
        }
        let mut split = split.into_iter();
        let Some(first) = split.next() else {
            return Ok((Box::new(std::iter::empty()), names));
        };
        let first_split = splitter.clone();
        let first_rows: Rows =
            Box::new(first.values.map(move |v| v.map(|v| first_split.columns(v))));
        let mut held = Vec::new();
        for source in split {
            let rows = source
                .values
                .map(|v| v.map(|v| splitter.columns(v)))
                .collect::<Result<Vec<Row>, _>>()?;
            held.push((rows, source.linked));
        }
        let any_held_value = held.iter().any(|(rows, _)| !rows.is_empty());
        let first_rows = if any_held_value {
            or_one_empty(first_rows)
        } else {
            first_rows
        };
        if held.is_empty() {
            return Ok((first_rows, names));
        }
        for (rows, _) in &mut held {
            if rows.is_empty() {
                rows.push(vec![Vec::new()]);
            }
        }
        if self.link {
            let held = held.into_iter().map(|(rows, _)| rows).collect();
            return Ok((Box::new(Linked::new(first_rows, held)), names));
        }
        // Groups: a source written with `+` joins the group before it.
        let mut first_group = Vec::new();
        let mut groups: Vec<Vec<Vec<Row>>> = Vec::new();
        for (rows, linked) in held {
            match (linked, groups.last_mut()) {
                (true, Some(group)) => group.push(rows),
                (true, None) => first_group.push(rows),
                (false, _) => groups.push(vec![rows]),
            }
        }
        let groups: Vec<Vec<Row>> = groups.into_iter().map(zip_held).collect();
        Ok((
            Box::new(Product::new(first_rows, first_group, groups)),
            names,
        ))
    }
}

/// Pairs held sources up, stopping at the shortest.
fn zip_held(sources: Vec<Vec<Row>>) -> Vec<Row> {
    let len = sources.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|i| sources.iter().flat_map(|s| s[i].iter().cloned()).collect())
        .collect()
}

/// A stream that yields one empty value if it has no value at all.
fn or_one_empty(rows: Rows) -> Rows {
    let mut rows = rows.peekable();
    let empty = rows.peek().is_none();
    match empty {
        true => Box::new(std::iter::once(Ok(vec![Vec::new()]))),
        false => Box::new(rows),
    }
}

/// Every combination: each row of the first source (paired with its linked
/// held sources) with every combination of the held groups, last fastest.
struct Product {
    first: Rows,
    /// Held sources linked to the first one, indexed by the first's position.
    first_linked: Vec<Vec<Row>>,
    position: usize,
    groups: Vec<Vec<Row>>,
    /// The current row of the first source, and the odometer over the groups.
    current: Option<Row>,
    odometer: Vec<usize>,
    failed: bool,
}

impl Product {
    fn new(first: Rows, first_linked: Vec<Vec<Row>>, groups: Vec<Vec<Row>>) -> Product {
        let odometer = vec![0; groups.len()];
        Product {
            first,
            first_linked,
            position: 0,
            groups,
            current: None,
            odometer,
            failed: false,
        }
    }
}

impl Iterator for Product {
    type Item = Result<Row, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.groups.iter().any(Vec::is_empty) {
            return None;
        }
        if self.current.is_none() {
            let mut row = match self.first.next()? {
                Ok(row) => row,
                Err(err) => {
                    // A record too long to keep fails alone; the input goes on.
                    self.failed = !err.is_one_record();
                    return Some(Err(err));
                }
            };
            for linked in &self.first_linked {
                row.extend(linked.get(self.position)?.iter().cloned());
            }
            self.position += 1;
            self.current = Some(row);
            self.odometer.iter_mut().for_each(|i| *i = 0);
        }
        let mut row = self.current.clone()?;
        for (group, &i) in self.groups.iter().zip(&self.odometer) {
            row.extend(group[i].iter().cloned());
        }
        // Advance the odometer, last group fastest.
        let mut carry = true;
        for (k, i) in self.odometer.iter_mut().enumerate().rev() {
            *i += 1;
            if *i < self.groups[k].len() {
                carry = false;
                break;
            }
            *i = 0;
        }
        if carry {
            self.current = None;
        }
        Some(Ok(row))
    }
}

/// `--link`: row i takes value i (modulo its length) of every source, for as
/// many rows as the longest source has values.
struct Linked {
    first: Rows,
    /// The first source's values, kept while a held source is longer.
    first_kept: Vec<Row>,
    first_len: Option<usize>,
    held: Vec<Vec<Row>>,
    longest_held: usize,
    index: usize,
}

impl Linked {
    fn new(first: Rows, held: Vec<Vec<Row>>) -> Linked {
        let longest_held = held.iter().map(Vec::len).max().unwrap_or(0);
        Linked {
            first,
            first_kept: Vec::new(),
            first_len: None,
            held,
            longest_held,
            index: 0,
        }
    }
}

impl Iterator for Linked {
    type Item = Result<Row, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = match self.first_len {
            None => match self.first.next() {
                Some(Ok(row)) => {
                    if self.index < self.longest_held {
                        self.first_kept.push(row.clone());
                    }
                    row
                }
                Some(Err(err)) => {
                    if !err.is_one_record() {
                        self.first_len = Some(0);
                        self.longest_held = 0;
                    }
                    return Some(Err(err));
                }
                None => {
                    self.first_len = Some(self.index);
                    return self.next();
                }
            },
            Some(len) => {
                if self.index >= self.longest_held || len == 0 {
                    return None;
                }
                self.first_kept[self.index % len].clone()
            }
        };
        for source in &self.held {
            row.extend(source[self.index % source.len()].iter().cloned());
        }
        self.index += 1;
        Some(Ok(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(values: &[&str]) -> Values {
        let values: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        Box::new(values.into_iter().map(Ok))
    }

    fn run(combine: &Combine, sources: Vec<(Values, bool)>) -> Vec<String> {
        let (rows, _) = combine.rows(sources).unwrap();
        rows.map(|r| {
            r.unwrap()
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
    }

    #[test]
    fn every_combination_last_source_fastest() {
        let rows = run(
            &Combine::default(),
            vec![
                (source(&["a", "b"]), false),
                (source(&["1", "2", "3"]), false),
            ],
        );
        assert_eq!(rows, ["a 1", "a 2", "a 3", "b 1", "b 2", "b 3"]);
    }

    #[test]
    fn three_sources_and_a_plus_link_pairs_and_stops_at_the_shorter() {
        let rows = run(
            &Combine::default(),
            vec![
                (source(&["a", "b", "c"]), false),
                (source(&["1", "2"]), true),
                (source(&["x", "y"]), false),
            ],
        );
        assert_eq!(rows, ["a 1 x", "a 1 y", "b 2 x", "b 2 y"]);
        let rows = run(
            &Combine::default(),
            vec![
                (source(&["x"]), false),
                (source(&["a", "b", "c"]), false),
                (source(&["1", "2"]), true),
            ],
        );
        assert_eq!(rows, ["x a 1", "x b 2"]);
    }

    #[test]
    fn link_recycles_the_shorter_sources() {
        let link = Combine {
            link: true,
            ..Combine::default()
        };
        // GNU parallel --link echo ::: a b c ::: 1 2 ::: x y z w
        let rows = run(
            &link,
            vec![
                (source(&["a", "b", "c"]), false),
                (source(&["1", "2"]), false),
                (source(&["x", "y", "z", "w"]), false),
            ],
        );
        assert_eq!(rows, ["a 1 x", "b 2 y", "c 1 z", "a 2 w"]);
        let rows = run(
            &link,
            vec![
                (source(&["a", "b", "c", "d"]), false),
                (source(&["1"]), false),
            ],
        );
        assert_eq!(rows, ["a 1", "b 1", "c 1", "d 1"]);
    }

    #[test]
    fn an_empty_source_is_one_empty_value_unless_all_are_empty() {
        let rows = run(
            &Combine::default(),
            vec![(source(&[]), false), (source(&["a"]), false)],
        );
        assert_eq!(rows, [" a"]);
        let rows = run(
            &Combine::default(),
            vec![(source(&["a"]), false), (source(&[]), false)],
        );
        assert_eq!(rows, ["a "]);
        let rows = run(
            &Combine::default(),
            vec![(source(&[]), false), (source(&[]), false)],
        );
        assert!(rows.is_empty());
        assert!(run(&Combine::default(), vec![(source(&[]), false)]).is_empty());
    }

    #[test]
    fn colsep_and_header_name_the_columns() {
        let combine = Combine {
            colsep: Some(Regex::new("\t").unwrap()),
            header: Some(Header::Names),
            link: false,
            csv: false,
        };
        let (rows, names) = combine
            .rows(vec![(source(&["h1\th2", "A\tB", "C\tD"]), false)])
            .unwrap();
        assert_eq!(names, [b"h1".to_vec(), b"h2".to_vec()]);
        let rows: Vec<Row> = rows.map(Result::unwrap).collect();
        assert_eq!(
            rows,
            [
                vec![b"A".to_vec(), b"B".to_vec()],
                vec![b"C".to_vec(), b"D".to_vec()]
            ]
        );
        let skip = Combine {
            header: Some(Header::Skip(2)),
            ..Combine::default()
        };
        assert_eq!(run(&skip, vec![(source(&["h", "i", "x"]), false)]), ["x"]);
    }

    #[test]
    fn the_first_source_is_streamed() {
        // An endless first source still yields rows at once.
        let endless: Values = Box::new(std::iter::repeat_with(|| Ok(b"v".to_vec())));
        let (rows, _) = Combine::default()
            .rows(vec![(endless, false), (source(&["1", "2"]), false)])
            .unwrap();
        assert_eq!(rows.take(5).count(), 5);
    }
}
