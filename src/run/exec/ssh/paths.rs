//! Where a file of `--transferfile`, `--return` or `--basefile` goes, as GNU
//! parallel places it (it uses `rsync -R`): pure functions on byte paths.
//!
//! Owns: [`Placed`] (how one file name maps to a tar member and the local
//! directory it is read from or written to), the `--workdir` spellings, and the
//! directories a cleanup may remove.
//!
//! Invariants:
//! - A relative name `a/b` is `a/b` under the remote work directory; an absolute
//!   name `/x/y` is `/x/y` on the host too; in `dir/./a/b` (rsync's anchor) only
//!   `a/b` is kept, under the work directory, and `dir` is where it is here.
//!   A leading `./` is dropped.
//! - A member is never empty and never climbs out of its directory with `..`
//!   (tar refuses such members): that is an error naming the file and the fix.
//! - A member that starts with `-` gets `./` so tar never reads it as an option.

/// One file name, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    /// The local directory the member is relative to (`None`: the current
    /// directory; unused for an absolute member).
    pub base: Option<Vec<u8>>,
    /// The tar member: relative to the remote work directory, or absolute.
    pub member: Vec<u8>,
    /// The member is an absolute path (tar needs `-P` to keep it so).
    pub absolute: bool,
}

/// Places file name `name` given to flag `flag` (for the error message).
///
/// # Errors
/// An empty name, or a relative one that climbs out with `..`.
pub(crate) fn place(flag: &str, name: &[u8]) -> Result<Placed, String> {
    let shown = String::from_utf8_lossy(name);
    let mut rest = name;
    while let Some(r) = rest.strip_prefix(b"./") {
        rest = r;
    }
    let anchor = find_last(rest, b"/./");
    let (base, member, absolute) = match anchor {
        Some(at) => {
            let base = &rest[..at];
            let base = if base.is_empty() { b"/" as &[u8] } else { base };
            (
                Some(base.to_vec()),
                trim_dot_slashes(&rest[at + 3..]),
                false,
            )
        }
        None if rest.starts_with(b"/") => (None, rest.to_vec(), true),
        None => (None, rest.to_vec(), false),
    };
    if member.is_empty() || member.iter().all(|&b| b == b'/' || b == b'.') {
        return Err(format!("{flag} '{shown}': names no file"));
    }
    if !absolute && member.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(format!(
            "{flag} '{shown}': '..' would leave the work directory on the host; \
             mark what to keep with /./, e.g. /data/./{}",
            String::from_utf8_lossy(member.rsplit(|&b| b == b'/').next().unwrap_or(b""))
        ));
    }
    let member = match member.first() {
        Some(b'-') => [b"./".as_slice(), &member].concat(),
        _ => member,
    };
    Ok(Placed {
        base,
        member,
        absolute,
    })
}

fn trim_dot_slashes(mut path: &[u8]) -> Vec<u8> {
    while let Some(r) = path.strip_prefix(b"./") {
        path = r;
    }
    path.to_vec()
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// A `--workdir` as GNU parallel normalises it: `/./` becomes `/`, a trailing
/// `/` and a leading `./` go. Empty or `.` afterwards: the home.
pub(crate) fn normalize_workdir(dir: &[u8]) -> Option<Vec<u8>> {
    let mut out = dir.to_vec();
    while let Some(at) = find_last(&out, b"/./") {
        out.drain(at..at + 2);
    }
    while out.len() > 1 && out.ends_with(b"/") {
        out.pop();
    }
    while let Some(r) = out.strip_prefix(b"./") {
        out = r.to_vec();
    }
    (!out.is_empty() && out != b".").then_some(out)
}

/// `--workdir .`: the current directory `cwd` relative to `home` if it is under
/// it (`None` if it is the home), else `cwd` itself (absolute).
pub(crate) fn relative_to_home(cwd: &std::path::Path, home: &std::path::Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    match cwd.strip_prefix(home) {
        Ok(rel) if rel.as_os_str().is_empty() => None,
        Ok(rel) => Some(rel.as_os_str().as_bytes().to_vec()),
        Err(_) => Some(cwd.as_os_str().as_bytes().to_vec()),
    }
}

/// The directories of `path` a cleanup may remove when empty, deepest first
/// (`a/b/c` → `a/b`, `a`; `/x/y/z` → `/x/y`, `/x`). Never `/` or `.`.
pub(crate) fn parent_dirs(path: &[u8]) -> Vec<Vec<u8>> {
    let mut dirs = Vec::new();
    let mut p = path;
    while let Some(at) = p.iter().rposition(|&b| b == b'/') {
        p = &p[..at];
        if p.is_empty() || p == b"." {
            break;
        }
        dirs.push(p.to_vec());
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(base: Option<&str>, member: &str, absolute: bool) -> Placed {
        Placed {
            base: base.map(|b| b.as_bytes().to_vec()),
            member: member.as_bytes().to_vec(),
            absolute,
        }
    }

    #[test]
    fn names_map_like_rsync_relative() {
        let table: [(&str, Placed); 9] = [
            ("a.txt", placed(None, "a.txt", false)),
            ("dir/a b.txt", placed(None, "dir/a b.txt", false)),
            ("./dir/a", placed(None, "dir/a", false)),
            ("././a", placed(None, "a", false)),
            ("/tmp/x/a", placed(None, "/tmp/x/a", true)),
            ("/data/./sub/a", placed(Some("/data"), "sub/a", false)),
            ("rel/./sub/a", placed(Some("rel"), "sub/a", false)),
            ("/a/./b/./c", placed(Some("/a/./b"), "c", false)),
            ("-x", placed(None, "./-x", false)),
        ];
        for (name, want) in table {
            assert_eq!(place("--return", name.as_bytes()), Ok(want), "{name}");
        }
        assert_eq!(
            place("--tf", b"/./top"),
            Ok(placed(Some("/"), "top", false))
        );
    }

    #[test]
    fn names_that_leave_the_workdir_or_name_nothing_are_errors() {
        let err = place("--transferfile", b"../up.txt").unwrap_err();
        assert!(err.contains("'..'") && err.contains("/./up.txt"), "{err}");
        assert!(place("--transferfile", b"a/../../b").is_err());
        assert!(
            place("--return", b"./")
                .unwrap_err()
                .contains("names no file")
        );
        assert!(place("--return", b"").is_err());
        assert!(place("--return", b"/x/./").is_err());
        // Absolute paths may say `..`: they are the same path on the host.
        assert!(place("--return", b"/x/../y").is_ok());
    }

    #[test]
    fn workdirs_are_normalised_as_gnu_parallel_does() {
        let n = |s: &str| normalize_workdir(s.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(n("out/"), Some("out".into()));
        assert_eq!(n("./out/./sub//"), Some("out/sub".into()));
        assert_eq!(n("/abs/./x"), Some("/abs/x".into()));
        assert_eq!(n("/"), Some("/".into()));
        assert_eq!(n("."), None);
        assert_eq!(n("./"), None);
        assert_eq!(n(""), None);
    }

    #[test]
    fn dot_is_relative_to_the_home_when_under_it() {
        use std::path::Path;
        let r = |cwd: &str| relative_to_home(Path::new(cwd), Path::new("/home/u"));
        assert_eq!(r("/home/u/src/p"), Some(b"src/p".to_vec()));
        assert_eq!(r("/home/u"), None);
        assert_eq!(r("/home/user2/x"), Some(b"/home/user2/x".to_vec()));
        assert_eq!(r("/tmp/w"), Some(b"/tmp/w".to_vec()));
    }

    #[test]
    fn parent_dirs_are_deepest_first_and_never_root() {
        let d = |s: &str| {
            parent_dirs(s.as_bytes())
                .into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(d("a/b/c"), ["a/b", "a"]);
        assert_eq!(d("c"), Vec::<String>::new());
        assert_eq!(d("/x/y/z"), ["/x/y", "/x"]);
        assert_eq!(d("/z"), Vec::<String>::new());
        assert_eq!(d("./-x"), Vec::<String>::new());
    }
}
