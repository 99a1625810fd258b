//! `--results FILE.csv`, `.tsv` or `.json`: one row (or JSON object) per finished
//! job in one file, GNU parallel's one-file forms of `--results`; `-.csv`,
//! `-.tsv` and `-.json` write it to standard output.
//!
//! Owns: the table file ([`ResultsTable`]) and the format of its rows.
//!
//! Format (GNU parallel 20221122's, checked side by side with it): rows in the
//! order jobs end, a header first for CSV/TSV. Columns: `Seq, Host, Starttime,
//! JobRuntime, Send, Receive, Exitval, Signal, Command`, then one per value of
//! the job (`V1`, `V2`… or the `--header :` names; a plain command line is its
//! own `V1`), then `Stdout, Stderr`. `Starttime` is Unix time and `JobRuntime`
//! seconds, both with 3 decimals; `Send`, `Receive`, Exitval and Signal as in
//! the joblog (`Send` the `--pipe` block's length, `Receive` the bytes of stdout). A CSV/TSV field is put in double quotes
//! (doubling those inside) when it holds a quote, white space, the separator or
//! NUL. A JSON object is one line: `{ "Seq": 1, …, "V": [ "a" ], "Stdout": "…",
//! "Stderr": "…" }` with `\`, `"` and bytes below 0x20 escaped (`\u000a`); other
//! bytes are written as they are, as GNU parallel does.
//!
//! Invariants:
//! - A job's output is copied from its capture files into the row in bounded
//!   pieces (a field is read once to decide its quoting, then copied): a job's
//!   output is never held in memory whole (GNU parallel holds it).
//! - Only a job's counted attempt gets a row (its last, or its success); a job
//!   cancelled before it started gets none. Rows are written whole, one at a
//!   time, under the table's lock.
//! - A row that cannot be written is reported once; the run then fails (as a
//!   joblog row that cannot be written).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use crate::run::exec::capture::Capture;
use crate::run::job::{JobEnd, JobError};
use crate::run::lock::lock;
use crate::run::report::joblog::Row;

/// Which one-file form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableFormat {
    /// CSV or TSV, with this separator.
    Separated(u8),
    /// One JSON object per line.
    Json,
}

impl TableFormat {
    /// The form a `--results` name asks for (by its ending, any case), if any.
    pub(crate) fn of(name: &Path) -> Option<TableFormat> {
        let lower = name.to_string_lossy().to_ascii_lowercase();
        match () {
            () if lower.ends_with(".csv") => Some(TableFormat::Separated(b',')),
            () if lower.ends_with(".tsv") => Some(TableFormat::Separated(b'\t')),
            () if lower.ends_with(".json") => Some(TableFormat::Json),
            () => None,
        }
    }
}

/// Whether `path` is GNU parallel's name for standard output (`-.csv`, `-.tsv`,
/// `-.json`).
pub(crate) fn is_stdout(path: &Path) -> bool {
    matches!(path.to_str(), Some("-.csv" | "-.tsv" | "-.json"))
}

/// The open table: see the module header.
pub(crate) struct ResultsTable {
    format: TableFormat,
    /// `--header :` names (the value columns' names in CSV's header).
    names: Vec<Vec<u8>>,
    out: Mutex<Out>,
    failed: AtomicBool,
}

struct Out {
    writer: Box<dyn Write + Send>,
    header_written: bool,
}

impl std::fmt::Debug for ResultsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsTable")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// One finished job, as the table sees it.
pub(crate) struct TableRow<'a> {
    /// The job number.
    pub seq: u64,
    /// When its counted attempt started.
    pub started: std::time::SystemTime,
    /// Its command line.
    pub command: &'a [u8],
    /// Its values (every row's, in order).
    pub values: &'a [&'a [u8]],
    /// How it ended.
    pub result: &'a Result<JobEnd, JobError>,
}

impl ResultsTable {
    /// Opens (truncating) the table `path` in `format`; `-.csv`, `-.tsv` and
    /// `-.json` mean standard output.
    ///
    /// # Errors
    /// Failure to create the file.
    pub(crate) fn open(
        path: &Path,
        format: TableFormat,
        names: Vec<Vec<u8>>,
    ) -> io::Result<ResultsTable> {
        let writer: Box<dyn Write + Send> = match is_stdout(path) {
            true => Box::new(io::stdout()),
            false => Box::new(File::create(path)?),
        };
        Ok(ResultsTable {
            format,
            names,
            out: Mutex::new(Out {
                writer,
                header_written: false,
            }),
            failed: AtomicBool::new(false),
        })
    }

    /// Whether a row could not be written.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Writes `row`, with the output in `capture` (none: empty output). Returns
    /// the error of the first row that could not be written, once.
    pub(crate) fn write(
        &self,
        row: &TableRow<'_>,
        capture: Option<&mut Capture>,
    ) -> Option<String> {
        let log = Row::of(row.seq, row.started, row.command, row.result)?;
        let mut out = lock(&self.out);
        let header = !out.header_written;
        out.header_written = true;
        let mut w = BufWriter::with_capacity(64 * 1024, &mut out.writer);
        let written = match self.format {
            TableFormat::Separated(sep) => {
                let names = self.value_names(row.values.len());
                write_separated(
                    &mut w,
                    sep,
                    header.then_some(&names[..]),
                    &log,
                    row,
                    capture,
                )
            }
            TableFormat::Json => write_json(&mut w, &log, row, capture),
        }
        .and_then(|()| w.flush());
        match written {
            Ok(()) => None,
            Err(err) if !self.failed.swap(true, Ordering::Relaxed) => {
                Some(format!("--results: cannot write a row: {err}"))
            }
            Err(_) => None,
        }
    }

    /// The value columns' names: the `--header :` names, or `V1`, `V2`….
    fn value_names(&self, count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| match self.names.get(i) {
                Some(name) => name.clone(),
                None => format!("V{}", i + 1).into_bytes(),
            })
            .collect()
    }
}

/// The times of a row, GNU parallel's way: `(start, runtime)`.
fn times(log: &Row<'_>) -> (String, String) {
    let start = log
        .start
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    (
        format!("{start:.3}"),
        format!("{:.3}", log.runtime.as_secs_f64()),
    )
}

fn write_separated(
    w: &mut dyn Write,
    sep: u8,
    header: Option<&[Vec<u8>]>,
    log: &Row<'_>,
    row: &TableRow<'_>,
    capture: Option<&mut Capture>,
) -> io::Result<()> {
    if let Some(names) = header {
        let fixed = [
            "Seq",
            "Host",
            "Starttime",
            "JobRuntime",
            "Send",
            "Receive",
            "Exitval",
            "Signal",
            "Command",
        ];
        let mut fields: Vec<&[u8]> = fixed.iter().map(|f| f.as_bytes()).collect();
        fields.extend(names.iter().map(Vec::as_slice));
        fields.extend([&b"Stdout"[..], b"Stderr"]);
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                w.write_all(&[sep])?;
            }
            csv_field(w, sep, field)?;
        }
        w.write_all(b"\n")?;
    }
    let (start, runtime) = times(log);
    write!(
        w,
        "{seq}{s}{host}{s}{start}{s}{runtime}{s}{send}{s}{receive}{s}{exitval}{s}{signal}{s}",
        seq = log.seq,
        host = log.host,
        send = log.send,
        receive = log.receive,
        exitval = log.exitval,
        signal = log.signal,
        s = sep as char,
    )?;
    csv_field(w, sep, row.command)?;
    for value in row.values {
        w.write_all(&[sep])?;
        csv_field(w, sep, value)?;
    }
    match capture {
        Some(capture) => {
            w.write_all(&[sep])?;
            csv_stream(w, sep, &mut capture.stdout_block()?)?;
            w.write_all(&[sep])?;
            csv_stream(w, sep, &mut capture.stderr_block()?)?;
        }
        None => w.write_all(&[sep, sep])?,
    }
    w.write_all(b"\n")
}

/// Whether GNU parallel quotes a field holding `b`.
fn needs_quotes(sep: u8, b: u8) -> bool {
    matches!(b, b'"' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0) || b == sep
}

/// Writes `field` as a CSV/TSV field (see the module header).
fn csv_field(w: &mut dyn Write, sep: u8, field: &[u8]) -> io::Result<()> {
    if !field.iter().any(|&b| needs_quotes(sep, b)) {
        return w.write_all(field);
    }
    w.write_all(b"\"")?;
    write_doubling_quotes(w, field)?;
    w.write_all(b"\"")
}

/// Writes a captured block as a CSV/TSV field: one pass to decide the quoting,
/// one to copy (see the module invariants).
fn csv_stream(w: &mut dyn Write, sep: u8, block: &mut io::Take<&File>) -> io::Result<()> {
    use std::io::Seek;
    let len = block.limit();
    let mut buf = vec![0u8; 64 * 1024];
    let mut quoted = false;
    loop {
        let n = block.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| needs_quotes(sep, b)) {
            quoted = true;
            break;
        }
    }
    let mut file = *block.get_ref();
    file.seek(io::SeekFrom::Start(0))?;
    let mut block = file.take(len);
    if quoted {
        w.write_all(b"\"")?;
    }
    loop {
        let n = block.read(&mut buf)?;
        if n == 0 {
            break;
        }
        match quoted {
            true => write_doubling_quotes(w, &buf[..n])?,
            false => w.write_all(&buf[..n])?,
        }
    }
    if quoted {
        w.write_all(b"\"")?;
    }
    Ok(())
}

fn write_doubling_quotes(w: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    for piece in bytes.split_inclusive(|&b| b == b'"') {
        w.write_all(piece)?;
        if piece.ends_with(b"\"") {
            w.write_all(b"\"")?;
        }
    }
    Ok(())
}

fn write_json(
    w: &mut dyn Write,
    log: &Row<'_>,
    row: &TableRow<'_>,
    capture: Option<&mut Capture>,
) -> io::Result<()> {
    let (start, runtime) = times(log);
    write!(w, "{{ \"Seq\": {}, \"Host\": \"", log.seq)?;
    json_bytes(w, log.host.as_bytes())?;
    write!(
        w,
        "\", \"Starttime\": {start}, \"JobRuntime\": {runtime}, \"Send\": {}, \
         \"Receive\": {}, \"Exitval\": {}, \"Signal\": {}, \"Command\": \"",
        log.send, log.receive, log.exitval, log.signal
    )?;
    json_bytes(w, row.command)?;
    w.write_all(b"\", \"V\": [ ")?;
    for (i, value) in row.values.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        w.write_all(b"\"")?;
        json_bytes(w, value)?;
        w.write_all(b"\"")?;
    }
    w.write_all(b" ], \"Stdout\": \"")?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut copy = |w: &mut dyn Write, block: &mut dyn Read| -> io::Result<()> {
        loop {
            let n = block.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            json_bytes(w, &buf[..n])?;
        }
    };
    if let Some(capture) = capture {
        copy(w, &mut capture.stdout_block()?)?;
        w.write_all(b"\", \"Stderr\": \"")?;
        copy(w, &mut capture.stderr_block()?)?;
    } else {
        w.write_all(b"\", \"Stderr\": \"")?;
    }
    w.write_all(b"\" }\n")
}

/// GNU parallel's JSON quoting: `\`, `"` and bytes below 0x20 escaped.
fn json_bytes(w: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: Option<[u8; 6]> = match b {
            b'\\' | b'"' => {
                w.write_all(&bytes[start..i])?;
                w.write_all(&[b'\\', b])?;
                start = i + 1;
                None
            }
            0..=31 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                Some([
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ])
            }
            _ => None,
        };
        if let Some(escaped) = escaped {
            w.write_all(&bytes[start..i])?;
            w.write_all(&escaped)?;
            start = i + 1;
        }
    }
    w.write_all(&bytes[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::job::ExitStatusKind;
    use std::time::{Duration, SystemTime};

    fn field(sep: u8, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        csv_field(&mut out, sep, bytes).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_are_quoted_as_gnu_parallel_quotes_them() {
        assert_eq!(field(b',', b"a"), "a");
        assert_eq!(field(b',', b""), "");
        assert_eq!(field(b',', b"a,b"), "\"a,b\"");
        assert_eq!(field(b',', b"q\"x"), "\"q\"\"x\"");
        assert_eq!(field(b',', b"x y"), "\"x y\"");
        assert_eq!(field(b',', b"l1\n"), "\"l1\n\"");
        assert_eq!(field(b'\t', b"a,b"), "a,b");
        assert_eq!(field(b'\t', b"a\tb"), "\"a\tb\"");
    }

    #[test]
    fn json_escapes_backslash_quote_and_control_bytes_only() {
        let mut out = Vec::new();
        json_bytes(&mut out, "a\"b\\c\n\u{1}é".as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\\"b\\\\c\\u000a\\u0001é"
        );
    }

    fn capture_with(stdout: &[u8], stderr: &[u8]) -> Capture {
        let mut cap = Capture::new(std::env::temp_dir()).unwrap();
        let (mut o, mut e) = cap.files_for_job().unwrap();
        o.write_all(stdout).unwrap();
        e.write_all(stderr).unwrap();
        cap.job_finished(false).unwrap();
        cap
    }

    /// A job of the test table: values, stdout, stderr, exit code.
    type Job<'a> = (&'a [&'a [u8]], &'a [u8], &'a [u8], i32);

    fn table(format: TableFormat, rows: &[Job<'_>]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let table = ResultsTable::open(&path, format, Vec::new()).unwrap();
        for (i, (values, stdout, stderr, code)) in rows.iter().enumerate() {
            let mut end = JobEnd::fixture(
                ExitStatusKind::Exited(*code),
                Duration::from_millis(20),
                false,
            );
            end.stdout_len = stdout.len() as u64;
            // As if each job had been given a `--pipe` block of 1000 bytes per Seq.
            end.stdin_len = (i as u64 + 1) * 1000;
            let result = Ok(end);
            let row = TableRow {
                seq: i as u64 + 1,
                started: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
                command: b"echo x",
                values,
                result: &result,
            };
            let mut cap = capture_with(stdout, stderr);
            assert_eq!(table.write(&row, Some(&mut cap)), None);
        }
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn csv_rows_have_gnu_parallels_columns_and_output_last() {
        let big = "x\"".repeat(100_000);
        let text = table(
            TableFormat::Separated(b','),
            &[
                (&[b"a,b", b"c"], b"out a\n", b"", 0),
                (&[b"d", b"e"], big.as_bytes(), b"err", 3),
            ],
        );
        let mut lines = text.splitn(3, '\n');
        assert_eq!(
            lines.next().unwrap(),
            "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,V2,Stdout,Stderr"
        );
        assert_eq!(
            lines.next().unwrap(),
            "1,:,1.500,0.020,1000,6,0,0,\"echo x\",\"a,b\",c,\"out a"
        );
        let rest = lines.next().unwrap();
        assert!(
            rest.starts_with("\",\n2,:,1.500,0.020,2000,200000,3,0,\"echo x\",d,e,\"x\"\"x\"\""),
            "{}",
            &rest[..80]
        );
        assert!(rest.ends_with("x\"\"\",err\n"));
        assert_eq!(
            rest.len(),
            "\",\n2,:,1.500,0.020,2000,200000,3,0,\"echo x\",d,e,\"".len()
                + 300_000
                + "\",err\n".len()
        );
    }

    #[test]
    fn json_objects_are_gnu_parallels_one_line_objects() {
        let text = table(TableFormat::Json, &[(&[b"a\"", b"b"], b"out\n", b"", 2)]);
        assert_eq!(
            text,
            "{ \"Seq\": 1, \"Host\": \":\", \"Starttime\": 1.500, \"JobRuntime\": 0.020, \
             \"Send\": 1000, \"Receive\": 4, \"Exitval\": 2, \"Signal\": 0, \"Command\": \"echo x\", \
             \"V\": [ \"a\\\"\",\"b\" ], \"Stdout\": \"out\\u000a\", \"Stderr\": \"\" }\n"
        );
    }

    #[test]
    fn the_form_follows_the_name() {
        assert_eq!(
            TableFormat::of(Path::new("r.CSV")),
            Some(TableFormat::Separated(b','))
        );
        assert_eq!(
            TableFormat::of(Path::new("-.tsv")),
            Some(TableFormat::Separated(b'\t'))
        );
        assert_eq!(
            TableFormat::of(Path::new("r.json")),
            Some(TableFormat::Json)
        );
        assert_eq!(TableFormat::of(Path::new("out")), None);
    }
}
