//! Command templates with GNU parallel style placeholders.
//!
//! This module owns turning the words after `--` into a [`Template`] and
//! rendering that template once per input record into the shell command text
//! that is run with `/bin/sh -c`.
//!
//! Invariants:
//! - Template words are shell code: they are joined with single spaces and
//!   never quoted, exactly like GNU parallel.
//! - Every value derived from a record (`{}`, `{.}`, `{/}`, `{//}`, `{/.}`) is
//!   shell-quoted with [`shell_quote`] when substituted, so a record is always
//!   a single shell word and never code. `{#}` and `{%}` are plain numbers.
//! - Brace text that is not one of the placeholders above (`{foo}`, `{ }`,
//!   `${HOME}`, `awk '{print}'`) is copied through untouched.
//! - If no placeholder occurs at all, the quoted record is appended after a
//!   space. `{#}` and `{%}` count as placeholders, as in GNU parallel
//!   (`parallel echo {#} ::: a` prints `1`): a template that names the job
//!   number or slot has said where its values go.
//! - The template is parsed once; [`Template::render`] is a single pass of
//!   concatenation into a pre-sized buffer, with no regex and no per-part
//!   allocation.

#[cfg(test)]
use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

/// Error from [`Template::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateError {
    /// No words after `--`, or only whitespace.
    Empty,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("the command template after -- is empty"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Shell code copied verbatim.
    Literal(Box<[u8]>),
    /// `{}`: the record.
    Record,
    /// `{.}`: the record without its extension.
    NoExtension,
    /// `{/}`: the record's basename.
    Basename,
    /// `{//}`: the record's dirname.
    Dirname,
    /// `{/.}`: the record's basename without its extension.
    BasenameNoExtension,
    /// `{#}`: the job number.
    JobNumber,
    /// `{%}`: the worker slot.
    Slot,
}

/// The placeholders, longest first among those sharing a prefix.
const PLACEHOLDERS: [(&[u8], Part); 7] = [
    (b"{}", Part::Record),
    (b"{.}", Part::NoExtension),
    (b"{//}", Part::Dirname),
    (b"{/.}", Part::BasenameNoExtension),
    (b"{/}", Part::Basename),
    (b"{#}", Part::JobNumber),
    (b"{%}", Part::Slot),
];

/// A parsed command template, rendered once per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// Total length of all literal parts.
    literal_len: usize,
    /// Number of record-derived parts (including an appended record).
    record_parts: usize,
    /// Number of `{#}`/`{%}` parts.
    number_parts: usize,
    /// Whether the record was appended because no record placeholder occurs.
    appended: bool,
}

impl Template {
    /// Parses the words after `--` into a template.
    ///
    /// The words are joined with single spaces into one piece of shell code
    /// (they are not quoted), then split into literal text and placeholders.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Empty`] if the joined text is empty or only whitespace.
    pub fn parse(words: &[OsString]) -> Result<Template, TemplateError> {
        let mut text = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(word.as_bytes());
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(TemplateError::Empty);
        }

        let mut parts = Vec::new();
        let mut literal_start = 0;
        let mut i = 0;
        while i < text.len() {
            let found = if text[i] == b'{' {
                PLACEHOLDERS
                    .iter()
                    .find(|(pattern, _)| text[i..].starts_with(pattern))
            } else {
                None
            };
            match found {
                Some((pattern, part)) => {
                    if literal_start < i {
                        parts.push(Part::Literal(text[literal_start..i].into()));
                    }
                    parts.push(part.clone());
                    i += pattern.len();
                    literal_start = i;
                }
                None => i += 1,
            }
        }
        if literal_start < text.len() {
            parts.push(Part::Literal(text[literal_start..].into()));
        }

        // Any placeholder, {#} and {%} included, means "no append" (GNU parallel).
        let uses_record = parts.iter().any(|part| !matches!(part, Part::Literal(_)));
        if !uses_record {
            parts.push(Part::Literal(Box::new(*b" ")));
            parts.push(Part::Record);
        }

        let mut template = Template {
            literal_len: 0,
            record_parts: 0,
            number_parts: 0,
            appended: !uses_record,
            parts,
        };
        for part in &template.parts {
            match part {
                Part::Literal(bytes) => template.literal_len += bytes.len(),
                Part::JobNumber | Part::Slot => template.number_parts += 1,
                _ => template.record_parts += 1,
            }
        }
        Ok(template)
    }

    #[cfg(test)]
    /// Whether the record is appended to the command because the template
    /// contains no placeholder at all.
    pub fn appends_record(&self) -> bool {
        self.appended
    }

    /// Renders the shell command for one record.
    ///
    /// Record-derived values are shell-quoted; `job_number` (`{#}`, 1-based)
    /// and `slot` (`{%}`) are written as plain decimal numbers.
    pub fn render(&self, record: &[u8], job_number: u64, slot: usize) -> Vec<u8> {
        // Quoting adds at least two bytes; numbers have at most 20 digits.
        let capacity =
            self.literal_len + self.record_parts * (record.len() + 2) + self.number_parts * 20;
        let mut out = Vec::with_capacity(capacity);
        for part in &self.parts {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::Record => push_quoted(&mut out, record),
                Part::NoExtension => push_quoted(&mut out, strip_extension(record)),
                Part::Basename => push_quoted(&mut out, basename(record)),
                Part::Dirname => push_quoted(&mut out, dirname(record)),
                Part::BasenameNoExtension => {
                    push_quoted(&mut out, strip_extension(basename(record)));
                }
                Part::JobNumber => push_decimal(&mut out, job_number),
                // usize is at most 64 bits on every supported target.
                Part::Slot => push_decimal(&mut out, slot as u64),
            }
        }
        out
    }
}

/// Whether `byte` never needs quoting for the shell.
fn is_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
        )
}

#[cfg(test)]
/// Quotes `value` so that `/bin/sh` reads it back as exactly one word with
/// exactly these bytes.
///
/// Non-empty values made only of `[A-Za-z0-9_@%+=:,./-]` are returned as-is;
/// anything else is wrapped in single quotes with each `'` written as `'\''`;
/// the empty value becomes `''`. Non-UTF-8 bytes and newlines are kept as they
/// are inside the quotes. (A NUL byte cannot be passed to a shell at all.)
pub fn shell_quote(value: &[u8]) -> Cow<'_, [u8]> {
    if !value.is_empty() && value.iter().copied().all(is_safe) {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len() + 2);
    push_quoted(&mut out, value);
    Cow::Owned(out)
}

/// Appends the quoted form of `value` (see [`shell_quote`]) to `out`.
fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
    if !value.is_empty() && value.iter().copied().all(is_safe) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'\'');
    for chunk in value.split_inclusive(|&b| b == b'\'') {
        match chunk.split_last() {
            Some((b'\'', rest)) => {
                out.extend_from_slice(rest);
                out.extend_from_slice(b"'\\''");
            }
            _ => out.extend_from_slice(chunk),
        }
    }
    out.push(b'\'');
}

/// Appends `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// `{.}`: removes the last `.` and what follows it, provided no `/` follows
/// it (GNU parallel's `s:\.[^/.]*$::`).
fn strip_extension(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'.') {
        Some(dot) if !path[dot + 1..].contains(&b'/') => &path[..dot],
        _ => path,
    }
}

/// `{/}`: everything after the last `/` (GNU parallel's `s:^.*/::`).
fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// Perl's `File::Basename::fileparse` on Unix, without suffixes: the
/// directory part (including its trailing `/`, or `./` if there is none) and
/// the rest.
fn fileparse(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => (&path[..=slash], &path[slash + 1..]),
        None => (b"./", path),
    }
}

/// Removes trailing `/`s but keeps the first byte (Perl's
/// `s{(.)/*\z}{$1}s`).
fn strip_trailing_slashes(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 1 && path[end - 1] == b'/' {
        end -= 1;
    }
    &path[..end]
}

/// `{//}`: Perl's `File::Basename::dirname` on Unix, which GNU parallel uses:
/// `a/b/c` → `a/b`, `c` → `.`, `/c` → `/`, `a/b/` → `a`.
fn dirname(path: &[u8]) -> &[u8] {
    let (dir, base) = fileparse(path);
    let dir = strip_trailing_slashes(dir);
    if !base.is_empty() {
        return dir;
    }
    let (dir, _) = fileparse(dir);
    strip_trailing_slashes(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn words(ws: &[&str]) -> Vec<OsString> {
        ws.iter().map(OsString::from).collect()
    }

    fn render(template: &str, record: &[u8]) -> Vec<u8> {
        Template::parse(&words(&[template]))
            .expect("valid template")
            .render(record, 7, 3)
    }

    /// Shows bytes readably in assertion failures.
    fn s(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn empty_template_is_rejected() {
        for ws in [&[][..], &[""][..], &["  ", "\t"][..], &["\n"][..]] {
            let err = Template::parse(&words(ws)).unwrap_err();
            assert_eq!(err, TemplateError::Empty);
            assert_eq!(err.to_string(), "the command template after -- is empty");
        }
    }

    #[test]
    fn words_are_joined_with_single_spaces_unquoted() {
        let t = Template::parse(&words(&["echo {}", "|", "wc", "-c"])).unwrap();
        assert_eq!(s(&t.render(b"a b", 1, 1)), "echo 'a b' | wc -c");
    }

    #[test]
    fn non_utf8_words_are_kept() {
        use std::os::unix::ffi::OsStringExt;
        let t = Template::parse(&[OsString::from_vec(b"echo \xff".to_vec())]).unwrap();
        assert_eq!(t.render(b"x", 1, 1), b"echo \xff x");
    }

    #[test]
    fn placeholders_table() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("{}", b"dir/sub/file.tar.gz", "dir/sub/file.tar.gz"),
            // {.}: strip from the last dot if no slash follows it.
            ("{.}", b"dir/sub/file.tar.gz", "dir/sub/file.tar"),
            ("{.}", b"file", "file"),
            ("{.}", b"a.b/c", "a.b/c"),
            ("{.}", b"a.b/c.d", "a.b/c"),
            ("{.}", b"file.", "file"),
            ("{.}", b".bashrc", "''"),
            ("{.}", b"dir/.bashrc", "dir/"),
            // {/}: everything after the last slash.
            ("{/}", b"dir/sub/file.txt", "file.txt"),
            ("{/}", b"file.txt", "file.txt"),
            ("{/}", b"/file", "file"),
            ("{/}", b"dir/", "''"),
            // {//}: Perl File::Basename::dirname.
            ("{//}", b"a/b/c", "a/b"),
            ("{//}", b"c", "."),
            ("{//}", b"/c", "/"),
            ("{//}", b"a/b/", "a"),
            ("{//}", b"a/", "."),
            ("{//}", b"/", "/"),
            ("{//}", b"//", "/"),
            ("{//}", b"", "."),
            ("{//}", b"a//b", "a"),
            ("{//}", b"a/b//", "a"),
            ("{//}", b"/a", "/"),
            // {/.}: basename without extension.
            ("{/.}", b"dir/sub/file.tar.gz", "file.tar"),
            ("{/.}", b"a.b/c", "c"),
            ("{/.}", b"noext", "noext"),
            // Numbers are plain.
            ("{#}", b"x", "7"),
            ("{%}", b"x", "3"),
            ("{#}-{%}:{}", b"x", "7-3:x"),
        ];
        for &(template, record, expected) in cases {
            assert_eq!(
                s(&render(template, record)),
                expected,
                "template {template:?} record {:?}",
                s(record)
            );
        }
    }

    #[test]
    fn derived_values_are_quoted() {
        assert_eq!(s(&render("{.}", b"my file.txt")), "'my file'");
        assert_eq!(s(&render("{/}", b"d/it's")), "'it'\\''s'");
        assert_eq!(s(&render("{//}", b"my dir/f")), "'my dir'");
        assert_eq!(s(&render("{/.}", b"d/$x.y")), "'$x'");
    }

    #[test]
    fn placeholders_can_repeat_and_mix() {
        assert_eq!(
            s(&render("mv {} {//}/{/.}.bak # {#}", b"a b/c.txt")),
            "mv 'a b/c.txt' 'a b'/c.bak # 7"
        );
        assert_eq!(s(&render("{{}}", b"x")), "{x}");
        assert_eq!(s(&render("{}{}", b"x y")), "'x y''x y'");
    }

    #[test]
    fn unknown_braces_are_left_literally() {
        let cases = [
            "echo ${HOME}",
            "awk '{print}'",
            "echo {foo}",
            "echo { }",
            "echo {",
            "echo }",
            "echo {/",
            "echo {//",
            "echo {..}",
            "f() { :; }",
        ];
        for template in cases {
            let t = Template::parse(&words(&[template])).unwrap();
            assert!(t.appends_record(), "{template}");
            assert_eq!(
                s(&t.render(b"r", 1, 1)),
                format!("{template} r"),
                "{template}"
            );
        }
    }

    #[test]
    fn record_is_appended_only_without_record_placeholders() {
        let t = Template::parse(&words(&["gzip", "-9"])).unwrap();
        assert!(t.appends_record());
        assert_eq!(s(&t.render(b"a b.log", 1, 1)), "gzip -9 'a b.log'");

        // {#} and {%} alone are placeholders too: nothing is appended, as in GNU
        // parallel (`parallel echo {#} ::: a` prints `1`).
        let t = Template::parse(&words(&["echo", "{#}", "{%}"])).unwrap();
        assert!(!t.appends_record());
        assert_eq!(s(&t.render(b"r", 12, 2)), "echo 12 2");

        for placeholder in ["{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}"] {
            let t = Template::parse(&words(&["echo", placeholder])).unwrap();
            assert!(!t.appends_record(), "{placeholder}");
            assert!(!s(&t.render(b"r", 1, 1)).ends_with(" r r"), "{placeholder}");
        }
    }

    #[test]
    fn numbers_render_fully() {
        let t = Template::parse(&words(&["{#}", "{%}"])).unwrap();
        assert_eq!(s(&t.render(b"r", u64::MAX, 0)), format!("{} 0", u64::MAX));
        assert_eq!(s(&t.render(b"r", 0, 10)), "0 10");
    }

    #[test]
    fn shell_quote_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"plain", b"plain"),
            (b"A-Za-z0-9_@%+=:,./-", b"A-Za-z0-9_@%+=:,./-"),
            (b"-n", b"-n"),
            (b"", b"''"),
            (b"with space", b"'with space'"),
            (b"it's", b"'it'\\''s'"),
            (b"''", b"''\\'''\\'''"),
            (b"$(x)", b"'$(x)'"),
            (b"a\nb", b"'a\nb'"),
            (b"\xff", b"'\xff'"),
            (b"*", b"'*'"),
            (b"~", b"'~'"),
        ];
        for &(value, expected) in cases {
            assert_eq!(&*shell_quote(value), expected, "value {:?}", s(value));
        }
        assert!(matches!(shell_quote(b"safe"), Cow::Borrowed(_)));
        assert!(matches!(shell_quote(b"not safe"), Cow::Owned(_)));
    }

    #[test]
    fn render_presizes_output() {
        let t = Template::parse(&words(&["cp {} {//}/{/.}.bak #{#}"])).unwrap();
        let out = t.render(b"some/dir/file.txt", 123, 4);
        assert!(out.capacity() >= out.len());
        // No reallocation happened: the capacity is exactly the estimate.
        let estimate = t.literal_len + t.record_parts * (17 + 2) + t.number_parts * 20;
        assert_eq!(out.capacity(), estimate);
    }

    /// A unique temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "atp-template-test-{}-{tag}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run_sh(dir: &TempDir, command: &[u8]) -> Vec<u8> {
        let output = Command::new("/bin/sh")
            .arg("-c")
            .arg(OsStr::from_bytes(command))
            .current_dir(&dir.0)
            .output()
            .expect("run /bin/sh");
        assert!(
            output.status.success(),
            "sh failed for {:?}: {}",
            s(command),
            s(&output.stderr)
        );
        output.stdout
    }

    const HOSTILE: &[&[u8]] = &[
        b"$(touch PWNED)",
        b"`touch PWNED`",
        b"a;touch PWNED",
        b"a && touch PWNED",
        b"a | touch PWNED",
        b"a\ntouch PWNED",
        b"'; touch PWNED; '",
        b"it's \"quoted\"",
        b"with space",
        b"-n",
        b"line1\nline2",
        b"\xff\xfe.txt",
        b"*",
        b"~",
        b"$HOME",
        b"'",
        b"\\",
        b"",
    ];

    #[test]
    fn hostile_records_are_arguments_not_code() {
        let dir = TempDir::new("hostile");
        // A file for `*` to expand to if it were unquoted.
        std::fs::write(dir.0.join("zzz"), b"").expect("write");
        let explicit = Template::parse(&words(&["printf", "'%s\\n'", "{}"])).unwrap();
        let appended = Template::parse(&words(&["printf '%s\\n'"])).unwrap();
        for &record in HOSTILE {
            for template in [&explicit, &appended] {
                let command = template.render(record, 1, 1);
                let out = run_sh(&dir, &command);
                let mut expected = record.to_vec();
                expected.push(b'\n');
                assert_eq!(s(&out), s(&expected), "command {:?}", s(&command));
                assert_eq!(out, expected, "command {:?}", s(&command));
                assert!(
                    !dir.0.join("PWNED").exists(),
                    "record {:?} ran code",
                    s(record)
                );
            }
        }
    }

    #[test]
    fn hostile_records_through_derived_placeholders_stay_arguments() {
        let dir = TempDir::new("derived");
        let t = Template::parse(&words(&["printf '%s|%s|%s|%s\\n' {.} {/} {//} {/.}"])).unwrap();
        let record: &[u8] = b"$(touch PWNED)/`touch PWNED`;x.$(touch PWNED)";
        let out = run_sh(&dir, &t.render(record, 1, 1));
        let expected = [
            strip_extension(record),
            basename(record),
            dirname(record),
            strip_extension(basename(record)),
        ]
        .join(&b'|');
        assert_eq!(s(&out), format!("{}\n", s(&expected)));
        assert!(!dir.0.join("PWNED").exists());
    }
}
