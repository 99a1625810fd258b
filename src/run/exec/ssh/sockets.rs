//! The private directory of a run's ControlMaster sockets in `/tmp`, and the
//! removal of those that SIGKILLed runs left behind.
//!
//! Owns: the directory's name and mode, and the sweep of stale ones.
//!
//! A SIGKILLed atp-run cannot remove its directory (its masters and remote jobs
//! do go by themselves: see `master.rs` and `wrapper.sh`), so the next run does,
//! as `ssh-agent`-style tools and systemd-tmpfiles key leftovers to their owner.
//! The directory is named `atp-PID.START.NS-XXXXXX`: the owner's pid, its start
//! time (field 22 of `/proc/PID/stat`, clock ticks since boot), its pid
//! namespace (the inode of `/proc/self/ns/pid`; `0` for either where there is no
//! `/proc`), and a random suffix; mode 0700.
//!
//! Invariants (what the sweep removes, and only that):
//! - Only entries of the swept directory named exactly so, that are directories
//!   (not symlinks) owned by our effective uid, and that hold nothing but what a
//!   run puts there (`hN` + `mN` sockets and their `.err` files).
//! - Only those of runs in our pid namespace: a pid means nothing in another one
//!   (a container, or a test host made with `unshare --pid`, may share `/tmp`).
//! - Only when their owner is gone: no process has that pid, or it is a zombie,
//!   or its start time is not the one in the name (the pid was reused). A live
//!   owner's directory is never removed; a process we may not inspect counts as
//!   live.
//! - A run names its own pid before it makes its directory, so a run starting
//!   now is alive, and its directory is kept, at every moment the sweep can see
//!   it: the sweep is safe against concurrent runs and concurrent sweeps (a
//!   directory already removed by another sweep is not an error).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Pid, geteuid};

/// Where the directories are made: `/tmp`, for a short socket path (~104 bytes).
pub(crate) const PARENT: &str = "/tmp";

/// Makes this run's socket directory in `parent`, first removing the stale ones.
///
/// # Errors
/// The directory cannot be made.
pub(crate) fn make(parent: &Path) -> io::Result<tempfile::TempDir> {
    sweep(parent);
    let me = std::process::id();
    let start = start_time(me).map_or(0, |(_, start)| start);
    tempfile::Builder::new()
        .prefix(&format!("atp-{me}.{start}.{}-", namespace()))
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
}

/// Removes the stale socket directories in `parent`; returns how many.
pub(crate) fn sweep(parent: &Path) -> usize {
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    let uid = geteuid().as_raw();
    let ours_ns = namespace();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, start, ns)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        if ns != ours_ns {
            continue;
        }
        let path = entry.path();
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if ours && owner_gone(pid, start) && holds_only_sockets(&path) {
            match fs::remove_dir_all(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => log::debug!("cannot remove {}: {e}", path.display()),
            }
        }
    }
    removed
}

/// `atp-PID.START.NS-XXXXXX` → (PID, START, NS).
fn parse_name(name: &str) -> Option<(u32, u64, u64)> {
    let (head, suffix) = name.strip_prefix("atp-")?.rsplit_once('-')?;
    let (pid, rest) = head.split_once('.')?;
    let (start, ns) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let suffix_ok = suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
    if !(digits(pid) && digits(start) && digits(ns) && suffix_ok) {
        return None;
    }
    Some((pid.parse().ok()?, start.parse().ok()?, ns.parse().ok()?))
}

/// Our pid namespace: the inode in `/proc/self/ns/pid` (`pid:[N]`), or 0.
fn namespace() -> u64 {
    fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|link| {
            let link = link.to_str()?.strip_prefix("pid:[")?.strip_suffix(']')?;
            link.parse().ok()
        })
        .unwrap_or(0)
}

/// Whether every entry of `dir` is a run's: `hNmN` or `hNmN.err`.
fn holds_only_sockets(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries
        .into_iter()
        .all(|entry| entry.is_ok_and(|e| e.file_name().to_str().is_some_and(is_socket_name)))
}

fn is_socket_name(name: &str) -> bool {
    let name = name.strip_suffix(".err").unwrap_or(name);
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix('h')
        .and_then(|rest| rest.split_once('m'))
        .is_some_and(|(host, master)| number(host) && number(master))
}

/// Whether the run that was process `pid`, started at `start`, has ended.
fn owner_gone(pid: u32, start: u64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Err(Errno::ESRCH) => true,
        Err(_) => false,
        Ok(()) => match start_time(pid) {
            Some(('Z', _)) => true,
            Some((_, now)) => start != 0 && now != start,
            None => false,
        },
    }
}

/// Process `pid`'s state letter and start time, from `/proc/PID/stat`.
fn start_time(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after it.
    let (_, rest) = stat.rsplit_once(") ")?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 is the 20th after the command name.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn me() -> (u32, u64, u64) {
        let pid = std::process::id();
        (pid, start_time(pid).map_or(0, |(_, s)| s), namespace())
    }

    /// A socket directory named for (pid, start) of our namespace in `parent`, with
    /// a master's files.
    fn run_dir(parent: &Path, pid: u32, start: u64) -> io::Result<std::path::PathBuf> {
        let dir = parent.join(format!("atp-{pid}.{start}.{}-aB3dE9", namespace()));
        fs::create_dir(&dir)?;
        fs::write(dir.join("h0m0"), "")?;
        fs::write(dir.join("h12m3.err"), "")?;
        Ok(dir)
    }

    #[test]
    fn names_parse_back_and_others_do_not() {
        assert_eq!(
            parse_name("atp-123.456.4026531836-aB3dE9"),
            Some((123, 456, 4_026_531_836))
        );
        assert_eq!(parse_name("atp-123.0.0-zzzzzz"), Some((123, 0, 0)));
        for other in [
            "atp-0cHFW2",
            "atp-run-after",
            "atp-123-aB3dE9",
            "atp-123.456-aB3dE9",
            "atp-123.456.7-aB3dE",
            "atp-12x.456.7-aB3dE9",
            "atp-.456.7-aB3dE9",
            "atp-123.456.-aB3dE9",
            "atp-123.456.7.8-aB3dE9",
            "atp-123.456.7-aB3d.9",
            "xatp-123.456.7-aB3dE9",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn the_own_directory_is_named_for_this_process_and_private() -> io::Result<()> {
        let parent = tempfile::tempdir()?;
        let dir = make(parent.path())?;
        let name = dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        assert_eq!(parse_name(name), Some(me()), "{name}");
        let mode = fs::metadata(dir.path())?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Its owner is alive: a sweep keeps it.
        fs::write(dir.path().join("h0m0"), "")?;
        assert_eq!(sweep(parent.path()), 0);
        assert!(dir.path().exists());
        Ok(())
    }

    #[test]
    fn a_dead_or_replaced_owner_s_directory_goes_and_nothing_else() -> io::Result<()> {
        let parent = tempfile::tempdir()?;
        let p = parent.path();
        // A run that has ended (its start time read while it ran: a reuse of its
        // pid meanwhile has another start time).
        let mut child = Command::new("sleep").arg("30").spawn()?;
        let gone = child.id();
        let dead_start = start_time(gone).map_or(0, |(_, s)| s);
        let dead = run_dir(p, gone, dead_start)?;
        child.kill()?;
        child.wait()?;
        // Our pid with another start time: the pid was reused.
        let (pid, start, _) = me();
        let reused = run_dir(p, pid, start + 1)?;
        // Kept: a live owner; and, though their owner is gone too, foreign
        // content, a symlink, a file, the names of other tools.
        let live = run_dir(p, pid, start)?;
        let ns = namespace();
        let foreign = p.join(format!("atp-{gone}.{dead_start}.{ns}-Xy1234"));
        fs::create_dir(&foreign)?;
        fs::write(foreign.join("h0m0"), "")?;
        fs::write(foreign.join("notes.txt"), "mine")?;
        let link = p.join(format!("atp-{gone}.{dead_start}.{ns}-Lnk123"));
        std::os::unix::fs::symlink(&dead, &link)?;
        let file = p.join(format!("atp-{gone}.{dead_start}.{ns}-File12"));
        fs::write(&file, "")?;
        let old = p.join("atp-0cHFW2");
        fs::create_dir(&old)?;
        // A run in another pid namespace sharing the directory: its pid is not ours
        // to check.
        let elsewhere = p.join(format!("atp-{gone}.{dead_start}.{}-Other1", ns + 1));
        fs::create_dir(&elsewhere)?;
        fs::write(elsewhere.join("h0m0"), "")?;

        assert_eq!(sweep(p), 2);
        assert!(!dead.exists(), "the dead run's directory is left");
        assert!(!reused.exists(), "the reused pid's directory is left");
        for kept in [&live, &foreign, &link, &file, &old, &elsewhere] {
            assert!(
                fs::symlink_metadata(kept).is_ok(),
                "{} removed",
                kept.display()
            );
        }
        assert!(foreign.join("notes.txt").exists());
        // A second sweep (or a concurrent one) finds nothing more.
        assert_eq!(sweep(p), 0);
        Ok(())
    }

    #[test]
    fn a_killed_owner_not_yet_reaped_is_gone() -> io::Result<()> {
        let parent = tempfile::tempdir()?;
        let mut child = Command::new("sleep").arg("30").spawn()?;
        let start = start_time(child.id()).map_or(0, |(_, s)| s);
        let dir = run_dir(parent.path(), child.id(), start)?;
        assert_eq!(sweep(parent.path()), 0, "a live owner's directory went");
        child.kill()?;
        let zombie = || start_time(child.id()).is_some_and(|(state, _)| state == 'Z');
        while !zombie() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(sweep(parent.path()), 1);
        assert!(!dir.exists());
        child.wait()?;
        Ok(())
    }

    #[test]
    fn only_a_run_s_files_count_as_sockets() {
        for name in ["h0m0", "h12m3", "h0m0.err", "h7m10.err"] {
            assert!(is_socket_name(name), "{name}");
        }
        for name in [
            "h0",
            "m0",
            "hm0",
            "h0m",
            "h0m0.errx",
            "h0m0.err.err",
            "x",
            "",
        ] {
            assert!(!is_socket_name(name), "{name}");
        }
    }
}
