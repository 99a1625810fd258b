//! `atp-run -S` against real OpenSSH servers: the three loopback hosts of
//! `.ci/sshd-hosts.sh` (host1..3 with 2/1/1 cores, each its own process table).
//!
//! Each test first checks that the hosts answer. When they do not: with `CI=true`
//! the test fails; otherwise it prints why it is skipped and passes, so a plain
//! `cargo test` works on a machine without them. The tests share the hosts (one
//! kills host2 and starts it again), so they run one at a time.
#![cfg(feature = "cli")]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod remote;

use remote::{
    BIN, Revive, hosts_script, json_fields, local_left, remote_left, run_locally_as_json,
    spawn_fed, text,
};
const PATIENCE: Duration = Duration::from_secs(30);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The hosts' ssh_config if all three answer; `None` (skip) otherwise, or a panic
/// under CI.
fn hosts() -> Option<PathBuf> {
    remote::test_hosts()
}

/// Polls `cond` every 50 ms for up to [`PATIENCE`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A unique word for this test's processes (a `sleep` argument, an ssh option).
fn marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("1000.{}{nanos:09}", std::process::id())
}

/// `atp-run` with `--ssh` set for the test hosts (carrying `mark`, so the local
/// ssh processes of the run can be found), the given arguments and stdin.
fn atp(config: &Path, mark: &str, args: &[&str], stdin: &str) -> Child {
    let ssh = format!("ssh -F {} -o SetEnv=ATP_MARK={mark}", config.display());
    let mut cmd = Command::new(BIN);
    cmd.arg("--ssh").arg(ssh).args(args);
    spawn_fed(&mut cmd, stdin)
}

fn finish(child: Child) -> Output {
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("atp-run: {e}"))
}

/// The joblog's rows as (seq, host, exitval, signal), sorted by seq.
fn joblog(path: &Path) -> Vec<(u64, String, i32, i32)> {
    let log = fs::read_to_string(path).unwrap_or_else(|e| panic!("joblog: {e}"));
    let mut rows: Vec<_> = log
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f[i].trim().parse::<i64>().unwrap_or(-999);
            (n(0) as u64, f[1].to_owned(), n(6) as i32, n(7) as i32)
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn twelve_jobs_spread_over_three_pinned_hosts_never_past_their_pins() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    let log = dir.path().join("joblog");
    // Each job counts the jobs running on its host (/tmp is shared by the hosts).
    let job = format!(
        "h=$(hostname); mkdir -p {d}/$h; touch {d}/$h/$$; ls {d}/$h | wc -l >> {d}/seen-$h; \
         sleep 0.3; rm {d}/$h/$$; echo {{}} $h"
    );
    let input: String = (1..=12).map(|i| format!("{i}\n")).collect();
    let args = [
        "-S",
        "2/host1,1/host2,1/host3",
        "--joblog",
        log.to_str().unwrap_or(""),
        "--",
        &job,
    ];
    let out = finish(atp(&config, &marker(), &args, &input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = joblog(&log);
    assert_eq!(rows.len(), 12, "{rows:?}");
    let stdout = text(&out.stdout);
    for (seq, host, exitval, signal) in &rows {
        assert_eq!((*exitval, *signal), (0, 0));
        assert!(
            stdout.lines().any(|l| l == format!("{seq} {host}")),
            "{seq} {host}: {stdout}"
        );
    }
    for (host, slots) in [("host1", 2), ("host2", 1), ("host3", 1)] {
        let share = rows.iter().filter(|r| r.1 == host).count();
        assert!(share >= 1, "{host} ran no job: {rows:?}");
        let seen = fs::read_to_string(dir.path().join(format!("seen-{host}"))).unwrap_or_default();
        let most = seen
            .lines()
            .filter_map(|l| l.trim().parse::<usize>().ok())
            .max();
        assert!(
            most.is_some_and(|m| m <= slots),
            "{host}: {seen:?} at once, pinned to {slots}"
        );
    }
    // The status lines name the host.
    let stderr = text(&out.stderr);
    assert!(stderr.contains(" on host1: "), "{stderr}");
}

#[test]
fn exit_codes_signals_and_output_are_the_same_as_locally() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let jobs = "exit 3\nexit 255\nkill -9 $$\nprintf 'o\\n'; printf 'e' >&2\nprintf 'x@atp:y exit 0\\n' >&2\n";
    let fields = json_fields;
    let local = run_locally_as_json(jobs);
    let remote = finish(atp(
        &config,
        &marker(),
        &["--json", "-S", "host2,host3"],
        jobs,
    ));
    assert_eq!(remote.status.code(), local.status.code());
    assert_eq!(fields(&remote), fields(&local), "{}", text(&remote.stderr));
    assert_eq!(fields(&remote).len(), 5);
    for l in text(&remote.stdout).lines() {
        let j: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        assert!(j["host"] == "host2" || j["host"] == "host3", "{l}");
    }
}

#[test]
fn shell_and_nice_apply_on_the_hosts_and_the_joblog_shows_the_command_as_given() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let job = "echo {} $(cat <(echo sub)) $(cut -d' ' -f19 /proc/$$/stat)";
    let args = ["-S", "host1,host2", "-k", "--shell", "bash", "--nice", "9"];
    let mut args: Vec<&str> = args.to_vec();
    args.extend([
        "--joblog",
        log.to_str().unwrap(),
        "--",
        job,
        ":::",
        "a",
        "b",
    ]);
    let out = finish(atp(&config, &marker(), &args, ""));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a sub 9\nb sub 9\n");
    let log = fs::read_to_string(&log).unwrap();
    let given = "\techo a $(cat <(echo sub)) $(cut -d' ' -f19 /proc/$$/stat)";
    assert!(log.lines().any(|row| row.ends_with(given)), "{log}");
}

#[test]
fn remote_jobs_get_their_number_slot_and_atp_runs_pid_as_gnu_parallel_exports_them() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    // Read by a child of the job's shell (exported), under --shell bash too (the
    // job line then runs bash -c under the wrapper's sh).
    let job = "echo {#} {%} $(sh -c 'echo $PARALLEL_SEQ $PARALLEL_JOBSLOT $PARALLEL_PID') {host}";
    for shell in [&[][..], &["--shell", "bash"]] {
        let mut args = vec!["-S", "1/host1,1/host2", "-k"];
        args.extend(shell);
        args.extend(["--", job, ":::", "a", "b", "c", "d"]);
        let child = atp(&config, &marker(), &args, "");
        let pid = child.id().to_string();
        let out = finish(child);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split(' ').collect()).collect();
        assert_eq!(lines.len(), 4, "{stdout}");
        for (seq, words) in (1..).zip(&lines) {
            let seq = seq.to_string();
            // {#} {%} SEQ JOBSLOT PID host
            assert_eq!(words.len(), 6, "{stdout}");
            assert_eq!([words[0], words[2]], [seq.as_str(); 2], "{stdout}");
            assert_eq!(
                words[3], words[1],
                "PARALLEL_JOBSLOT is not {{%}}: {stdout}"
            );
            assert_eq!(words[4], pid, "PARALLEL_PID is not atp-run's: {stdout}");
            assert!(["host1", "host2"].contains(&words[5]), "{stdout}");
        }
    }
}

#[test]
fn joblog_receive_is_the_jobs_stdout_over_ssh_in_every_output_mode() {
    // 12 bytes of stdout (the last line unfinished) and some stderr, which the
    // wrapper's record at the end of stderr must not change. GNU parallel
    // 20221122 on these hosts writes Receive 12 grouped and 0 with -u; its
    // --line-buffer also counts stderr and the unfinished line twice (26).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let log = log.to_str().unwrap();
    for (mode, receive) in [("-k", "12"), ("--line-buffer", "12"), ("--ungroup", "0")] {
        let args = ["-S", "host1", mode, "--joblog", log, "--"];
        let job = "printf 'a\\nno newline'; echo err >&2";
        let mut args = args.to_vec();
        args.push(job);
        let out = finish(atp(&config, &marker(), &args, "x\n"));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let row = fs::read_to_string(log).unwrap();
        let f: Vec<&str> = row.lines().nth(1).unwrap().split('\t').collect();
        assert_eq!((f[1], f[4], f[5]), ("host1", "0", receive), "{mode}");
    }
}

/// Starts 4 `sleep MARK` jobs on the three hosts; returns once all run.
fn four_sleepers(config: &Path, mark: &str, dir: &Path) -> Child {
    let d = dir.display();
    let job = format!("touch {d}/started.{{}}; sleep {mark}");
    let child = atp(
        config,
        mark,
        &["-S", "host1,host2,host3", "--", &job],
        "1\n2\n3\n4\n",
    );
    eventually("4 jobs running", || {
        fs::read_dir(dir).map_or(0, |r| r.count()) >= 4
    });
    child
}

#[test]
fn sigint_leaves_no_job_on_any_host() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mark = marker();
    let child = four_sleepers(&config, &mark, dir.path());
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let out = finish(child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    for host in ["host1", "host2", "host3"] {
        assert!(
            remote_left(&config, host, &mark).is_empty(),
            "{host}: {:?}",
            remote_left(&config, host, &mark)
        );
    }
    eventually("no local ssh of the run", || local_left(&mark).is_empty());
}

#[test]
fn sigkill_to_atp_run_leaves_nothing_on_any_host() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mark = marker();
    let mut child = four_sleepers(&config, &mark, dir.path());
    let _ = child.kill();
    let _ = child.wait();
    for host in ["host1", "host2", "host3"] {
        eventually(&format!("nothing left on {host}"), || {
            remote_left(&config, host, &mark).is_empty()
        });
    }
    eventually("no local ssh of the run", || local_left(&mark).is_empty());
}

#[test]
fn a_host_killed_mid_run_loses_no_job() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    let log = dir.path().join("joblog");
    let job = format!("touch {d}/started.{{}}; sleep 1; echo {{}} $(hostname)");
    let input: String = (1..=12).map(|i| format!("{i}\n")).collect();
    let args = [
        "-S",
        "host1,host2,host3",
        "--joblog",
        log.to_str().unwrap_or(""),
        "--",
        &job,
    ];
    let child = atp(&config, &marker(), &args, &input);
    eventually("the first jobs running", || {
        fs::read_dir(dir.path()).map_or(0, |r| r.count()) >= 4
    });
    let _revive = Revive;
    assert!(hosts_script(&["kill", "host2"]));
    let out = finish(child);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("host host2 is down").count(), 1, "{stderr}");
    let rows = joblog(&log);
    let seqs: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<u64>>(), "{rows:?}");
    assert!(rows.iter().all(|r| r.2 == 0 && r.3 == 0), "{rows:?}");
    let stdout = text(&out.stdout);
    for (seq, host, ..) in &rows {
        assert_eq!(
            stdout
                .lines()
                .filter(|l| l.starts_with(&format!("{seq} ")))
                .count(),
            1,
            "job {seq} printed once: {stdout}"
        );
        assert!(
            stdout.lines().any(|l| l == format!("{seq} {host}")),
            "{stdout}"
        );
    }
}

#[test]
fn twenty_sessions_on_one_host_share_masters_of_at_most_nine() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    // Every job waits (at most 30 s) until all 20 run, then names its connection.
    let job = format!(
        "touch {d}/{{}}; i=0; while [ $(ls {d} | wc -l) -lt 20 ] && [ $i -lt 300 ]; do \
         sleep 0.1; i=$((i+1)); done; echo $(ls {d} | wc -l) ${{SSH_CONNECTION%% 127*}}"
    );
    let input: String = (1..=20).map(|i| format!("{i}\n")).collect();
    let out = finish(atp(
        &config,
        &marker(),
        &["-S", "20/host1", "--", &job],
        &input,
    ));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("refused"), "{stderr}");
    let mut per_connection = std::collections::HashMap::new();
    for line in text(&out.stdout).lines() {
        let (together, conn) = line.split_once(' ').unwrap_or(("", ""));
        assert_eq!(together, "20", "not all 20 ran at once: {line}");
        *per_connection.entry(conn.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(per_connection.values().sum::<usize>(), 20);
    assert!(
        per_connection.values().all(|&n| n <= 9),
        "{per_connection:?}"
    );
}

#[test]
fn every_host_dead_fails_the_jobs_naming_them() {
    // Needs only the ssh client: nothing listens on port 1.
    if Command::new("ssh").arg("-V").output().is_err() {
        eprintln!("skipped: no ssh client");
        return;
    }
    let out = Command::new(BIN)
        .args([
            "--ssh",
            "ssh -o BatchMode=yes -o ConnectTimeout=5 -p 1",
            "-S",
            "127.0.0.1",
            "--",
            "echo {}",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().map(|mut i| i.write_all(b"a\nb\n"));
            c.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr.matches("host 127.0.0.1 is down").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("no host is up (down: 127.0.0.1)").count(),
        2,
        "{stderr}"
    );
}

/// Thaws a frozen host when dropped (also when the test fails).
struct Thaw(&'static str);

impl Drop for Thaw {
    fn drop(&mut self) {
        hosts_script(&["thaw", self.0]);
    }
}

#[test]
fn a_hung_host_is_left_and_its_job_leaves_nothing_after_it_wakes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    let mark = marker();
    let log = dir.path().join("joblog");
    // Jobs on host3 sleep long (with the marker); the others are short.
    let job = format!(
        "touch {d}/started.{{}}; if [ $(hostname) = host3 ]; then sleep {mark}; else sleep 0.5; fi; echo {{}}"
    );
    let input: String = (1..=8).map(|i| format!("{i}\n")).collect();
    let args = [
        "-S",
        "host1,host2,host3",
        "--joblog",
        log.to_str().unwrap_or(""),
        "--",
        &job,
    ];
    let child = atp(&config, &mark, &args, &input);
    eventually("a job sleeping on host3", || {
        !remote_left(&config, "host3", &mark).is_empty()
    });
    let thaw = Thaw("host3");
    assert!(hosts_script(&["freeze", "host3"]));
    let out = finish(child);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("host host3 is down").count(), 1, "{stderr}");
    let rows = joblog(&log);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<u64>>()
    );
    assert!(rows.iter().all(|r| r.1 != "host3" && r.2 == 0), "{rows:?}");
    drop(thaw);
    eventually("nothing left on host3 after it wakes", || {
        remote_left(&config, "host3", &mark).is_empty()
    });
    eventually("no local ssh of the run", || local_left(&mark).is_empty());
}

#[test]
fn a_timeout_reaches_the_remote_job_as_locally() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mark = marker();
    // The job's TERM trap runs remotely (its output comes back), then it ends.
    let job = format!("trap 'echo got TERM; exit 7' TERM; sleep {mark} & wait; : {{}}");
    // A limit that runs out before the remote shell has set its trap (a busy
    // machine) ends the job by the signal itself: that run says nothing about
    // the timeout, so it is repeated with twice the limit.
    let (out, rows) = ["1s", "2s", "4s", "8s"]
        .iter()
        .enumerate()
        .map(|(i, limit)| {
            let log = dir.path().join(format!("joblog{i}"));
            let args = [
                "-S",
                "host2",
                "--timeout",
                limit,
                "--joblog",
                log.to_str().unwrap_or(""),
                "--",
                &job,
            ];
            let out = finish(atp(&config, &mark, &args, "x\n"));
            (out, joblog(&log))
        })
        .find(|(_, rows)| rows != &[(1, "host2".to_owned(), -1, 15)])
        .unwrap_or_else(|| panic!("the job never set its trap within 8 s"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got TERM\n");
    assert_eq!(rows, [(1, "host2".to_owned(), 7, 0)]);
    assert!(
        text(&out.stderr).contains("[1] timed out after"),
        "{}",
        text(&out.stderr)
    );
    eventually("nothing left on host2", || {
        remote_left(&config, "host2", &mark).is_empty()
    });
}
