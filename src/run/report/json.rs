//! A small JSON encoder for `--json`: one object per finished job, on one line.
//!
//! Owns: JSON string escaping (RFC 8259 §7) and the shape of a job's object.
//!
//! Invariants:
//! - Everything written is valid JSON and valid UTF-8, whatever the input bytes:
//!   byte strings (commands, job output) are decoded as UTF-8 and every invalid or
//!   truncated sequence is replaced by U+FFFD, exactly as
//!   [`String::from_utf8_lossy`] does. Whether that happened is reported, so the
//!   caller can add a `…_lossy` flag next to the string.
//! - Escaping: `"` and `\` are backslash-escaped, U+0000..U+001F become `\n`, `\t`,
//!   `\r`, `\b`, `\f` or `\u00XX`; every other character is written as is (UTF-8).
//!   No newline is ever written inside a value, so one object is one line.
//! - Output read from a file is encoded while it is copied, in fixed-size chunks:
//!   memory use does not depend on the size of the output ([`write_string_from`]).
//! - Numbers are written with Rust's `Display`, which never uses exponent notation
//!   and never yields NaN or infinity here (durations and times are finite).

use std::io::{self, Read, Write};

/// Size of the chunks output files are encoded in.
const CHUNK: usize = 64 * 1024;

/// U+FFFD REPLACEMENT CHARACTER, in UTF-8.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// Writes `s` escaped, without the surrounding quotes.
fn write_escaped<W: Write + ?Sized>(w: &mut W, s: &str) -> io::Result<()> {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        w.write_all(&bytes[start..i])?;
        if escape.is_empty() {
            write!(w, "\\u{b:04x}")?;
        } else {
            w.write_all(escape)?;
        }
        start = i + 1;
    }
    w.write_all(&bytes[start..])
}

/// Encodes `bytes` (string contents, no quotes). Returns how many bytes were
/// consumed: all of them, except — when `last` is false — an incomplete UTF-8
/// sequence at the end (at most 3 bytes), which the caller must present again
/// followed by the next bytes. Sets `lossy` if anything was replaced.
fn encode_chunk<W: Write + ?Sized>(
    w: &mut W,
    bytes: &[u8],
    last: bool,
    lossy: &mut bool,
) -> io::Result<usize> {
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                write_escaped(w, s)?;
                return Ok(bytes.len());
            }
            Err(err) => {
                let valid = err.valid_up_to();
                // from_utf8 vouched for this prefix: this cannot fail.
                let s = std::str::from_utf8(&rest[..valid]).unwrap_or_default();
                write_escaped(w, s)?;
                match err.error_len() {
                    Some(bad) => {
                        w.write_all(REPLACEMENT)?;
                        *lossy = true;
                        rest = &rest[valid + bad..];
                    }
                    None if last => {
                        w.write_all(REPLACEMENT)?;
                        *lossy = true;
                        return Ok(bytes.len());
                    }
                    None => return Ok(bytes.len() - (rest.len() - valid)),
                }
            }
        }
    }
}

/// Writes `s` as a JSON string, with its quotes.
pub fn write_str<W: Write + ?Sized>(w: &mut W, s: &str) -> io::Result<()> {
    w.write_all(b"\"")?;
    write_escaped(w, s)?;
    w.write_all(b"\"")
}

/// Writes `bytes` as a JSON string, with its quotes; returns whether invalid UTF-8
/// had to be replaced.
pub fn write_bytes<W: Write + ?Sized>(w: &mut W, bytes: &[u8]) -> io::Result<bool> {
    let mut lossy = false;
    w.write_all(b"\"")?;
    encode_chunk(w, bytes, true, &mut lossy)?;
    w.write_all(b"\"")?;
    Ok(lossy)
}

/// Writes everything `r` yields as one JSON string, with its quotes, encoding while
/// copying (memory stays at one chunk); returns whether invalid UTF-8 had to be
/// replaced. A UTF-8 sequence cut by a chunk boundary is carried over, not replaced.
pub fn write_string_from<R: Read + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    w: &mut W,
) -> io::Result<bool> {
    let mut lossy = false;
    let mut buf = vec![0u8; CHUNK];
    let mut carried = 0;
    w.write_all(b"\"")?;
    loop {
        let n = match r.read(&mut buf[carried..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = carried + n;
        let used = encode_chunk(w, &buf[..end], false, &mut lossy)?;
        buf.copy_within(used..end, 0);
        carried = end - used;
    }
    encode_chunk(w, &buf[..carried], true, &mut lossy)?;
    w.write_all(b"\"")?;
    Ok(lossy)
}

/// The fields of a job's object that come before its output, as
/// [`job_head`] writes them.
pub struct JobFields<'a> {
    /// Job number (`seq`), 1-based in input order.
    pub seq: u64,
    /// Run of a `--repeat` watchdog, if any.
    pub run: Option<u64>,
    /// The command as it ran.
    pub command: &'a [u8],
    /// Start, in seconds since the Unix epoch (None if it never started).
    pub start: Option<f64>,
    /// Duration in seconds (None if it never started).
    pub duration: Option<f64>,
    /// Exit code (None if killed or never started).
    pub exit_code: Option<i32>,
    /// Name of the signal that killed it.
    pub signal: Option<&'a str>,
    /// Its `--timeout` ran out (it was sent the `--termseq` sequence).
    pub timed_out: bool,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// Worker slot (1-based).
    pub slot: usize,
    /// The sshlogin it ran on, as written; `:` for this machine.
    pub host: &'a str,
    /// Why the job could not run, if it could not.
    pub error: Option<&'a str>,
}

/// Writes `{"seq":…,…,"error":…,` — the object's opening and every field but the
/// output, which [`job_output`] then writes and closes.
pub fn job_head<W: Write + ?Sized>(w: &mut W, f: &JobFields<'_>) -> io::Result<()> {
    write!(w, "{{\"seq\":{},\"run\":", f.seq)?;
    write_opt(w, f.run)?;
    w.write_all(b",\"command\":")?;
    let lossy = write_bytes(w, f.command)?;
    write!(w, ",\"command_lossy\":{lossy},\"start\":")?;
    write_opt(w, f.start)?;
    w.write_all(b",\"duration\":")?;
    write_opt(w, f.duration)?;
    w.write_all(b",\"exit_code\":")?;
    write_opt(w, f.exit_code)?;
    w.write_all(b",\"signal\":")?;
    match f.signal {
        Some(name) => write_str(w, name)?,
        None => w.write_all(b"null")?,
    }
    write!(
        w,
        ",\"timed_out\":{},\"attempt\":{},\"slot\":{},\"host\":",
        f.timed_out, f.attempt, f.slot
    )?;
    write_str(w, f.host)?;
    w.write_all(b",\"error\":")?;
    match f.error {
        Some(error) => write_str(w, error)?,
        None => w.write_all(b"null")?,
    }
    w.write_all(b",")
}

/// Writes `"stdout":…,"stdout_lossy":…,"stderr":…,"stderr_lossy":…}` and the
/// newline that ends the object's line, streaming both outputs.
pub fn job_output<W: Write + ?Sized>(
    w: &mut W,
    stdout: &mut dyn Read,
    stderr: &mut dyn Read,
) -> io::Result<()> {
    w.write_all(b"\"stdout\":")?;
    let lossy = write_string_from(stdout, w)?;
    write!(w, ",\"stdout_lossy\":{lossy},\"stderr\":")?;
    let lossy = write_string_from(stderr, w)?;
    writeln!(w, ",\"stderr_lossy\":{lossy}}}")
}

fn write_opt<W: Write + ?Sized, T: std::fmt::Display>(w: &mut W, v: Option<T>) -> io::Result<()> {
    match v {
        Some(v) => write!(w, "{v}"),
        None => w.write_all(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(b: &[u8]) -> (String, bool) {
        let mut out = Vec::new();
        let lossy = write_bytes(&mut out, b).unwrap();
        (String::from_utf8(out).unwrap(), lossy)
    }

    /// A reader yielding its bytes `n` at a time, to cut sequences anywhere.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn escapes_quotes_backslashes_and_control_characters() {
        assert_eq!(
            bytes(b"a\"b\\c\nd\te\rf\x08g\x0ch\x00i\x1fj\x7fk/"),
            (
                "\"a\\\"b\\\\c\\nd\\te\\rf\\bg\\fh\\u0000i\\u001fj\x7fk/\"".to_owned(),
                false
            )
        );
        assert_eq!(bytes(b""), ("\"\"".to_owned(), false));
        assert_eq!(
            bytes("héllo ☃ 😀".as_bytes()),
            ("\"héllo ☃ 😀\"".to_owned(), false)
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_like_from_utf8_lossy() {
        for input in [
            &b"\xff"[..],
            b"a\xffb",
            b"\xe2\x98",
            b"\xe2\x98x",
            b"\xf0\x9f\x98",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"ok\xf0\x9f\x98\x80\xfe\xfe\"",
        ] {
            let (json, lossy) = bytes(input);
            assert!(lossy, "{input:?}");
            let parsed: String = serde_json::from_str(&json).unwrap();
            assert_eq!(parsed, String::from_utf8_lossy(input), "{input:?}");
        }
    }

    #[test]
    fn streaming_carries_sequences_across_chunk_boundaries() {
        let mut input = Vec::new();
        for i in 0..3000u32 {
            input.extend_from_slice(format!("{i}: é☃😀 \"q\" \\ \n\t").as_bytes());
            if i % 700 == 0 {
                input.extend_from_slice(b"\xff\xe2\x98");
            }
        }
        input.extend_from_slice(b"\xf0\x9f"); // truncated at the very end
        let expected = String::from_utf8_lossy(&input).into_owned();
        for step in [1, 2, 3, 5, 7, 4096, CHUNK - 1, CHUNK + 3, usize::MAX] {
            let mut out = Vec::new();
            let lossy = write_string_from(&mut Dribble(&input, step), &mut out).unwrap();
            assert!(lossy);
            let text = String::from_utf8(out).expect("valid UTF-8");
            assert!(!text.contains('\n'));
            let parsed: String = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, expected, "step {step}");
        }
        let mut out = Vec::new();
        let clean = "x☃".repeat(50_000);
        let lossy = write_string_from(&mut Dribble(clean.as_bytes(), 1000), &mut out).unwrap();
        assert!(!lossy);
        assert_eq!(out, format!("\"{clean}\"").into_bytes());
    }

    #[test]
    fn a_job_object_is_one_line_with_every_field() {
        let mut out = Vec::new();
        let fields = JobFields {
            seq: 7,
            run: None,
            command: b"printf '\"\\n' \xff",
            start: Some(1_700_000_000.25),
            duration: Some(0.5),
            exit_code: None,
            signal: Some("SIGKILL"),
            timed_out: true,
            attempt: 1,
            slot: 2,
            host: "host2",
            error: None,
        };
        job_head(&mut out, &fields).unwrap();
        job_output(&mut out, &mut &b"o\"ut\n"[..], &mut &b"\xff"[..]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with("}\n"));
        assert_eq!(
            text,
            "{\"seq\":7,\"run\":null,\"command\":\"printf '\\\"\\\\n' \u{fffd}\",\
             \"command_lossy\":true,\"start\":1700000000.25,\"duration\":0.5,\
             \"exit_code\":null,\"signal\":\"SIGKILL\",\"timed_out\":true,\"attempt\":1,\"slot\":2,\
             \"host\":\"host2\",\"error\":null,\"stdout\":\"o\\\"ut\\n\",\"stdout_lossy\":false,\
             \"stderr\":\"\u{fffd}\",\"stderr_lossy\":true}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["stdout"], "o\"ut\n");
    }

    #[test]
    fn tiny_durations_are_plain_decimals() {
        let mut out = Vec::new();
        write_opt(&mut out, Some(1e-7_f64)).unwrap();
        assert_eq!(out, b"0.0000001");
    }
}
