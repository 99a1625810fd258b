//! CLI tests of what a run must never do, whatever happens around it: lose output
//! (a full TMPDIR), lose a job for `--resume` (a job that handled our SIGTERM, a
//! joblog row cut short), hang (a background writer under `--line-buffer`, a stdout
//! nobody reads), give a false verdict (atp-run stopped and continued under
//! `--timeout`, an interrupt while leftovers are cleaned up), or orphan a process
//! (SIGQUIT and the other terminating signals, a job's `setsid` daemon).
#![cfg(feature = "cli")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use common::RUN_LIMIT;
use common::background::Running;
use common::eventually;
use common::outcome::Run;
use common::procs::{assert_nothing_left, sleepers};
use common::sandbox::Sandbox;

/// Waits until atp-run has taken delivery of a process-directed `signal`, so that a
/// next one is not merged with it by the kernel.
fn wait_delivered(running: &Running, signal: Signal) {
    let bit = 1u64 << (signal as i32 - 1);
    let path = format!("/proc/{}/status", running.pid());
    eventually("atp-run to take delivery of the signal", || {
        let status = std::fs::read_to_string(&path).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("ShdPnd:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .is_some_and(|pending| pending & bit == 0)
    });
}

/// A small tmpfs mounted in the sandbox, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// Mounts a 1 MiB tmpfs at `dir`, or says why it cannot (not root, no mount).
    fn mount(dir: std::path::PathBuf) -> Result<SmallDisk, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root".into());
        }
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&dir)
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        match status.success() {
            true => Ok(SmallDisk(dir)),
            false => Err(format!("mount -t tmpfs failed: {status}")),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_tmpdir_fails_the_job_instead_of_printing_its_output_cut_short() {
    let sb = Sandbox::new();
    let disk = match SmallDisk::mount(sb.join("small")) {
        Ok(disk) => disk,
        Err(why) => {
            println!("skipped: a full-disk test needs a small tmpfs: {why}");
            return;
        }
    };
    sb.write("jobs", "head -c 3000000 /dev/zero; true\n");
    let run = Run::of(sb.command(["jobs"]).env("TMPDIR", &disk.0));
    run.assert_code(1);
    assert!(
        run.stderr.contains("no space left in") && run.stderr.contains("may be incomplete"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.len() < 3_000_000);
}

#[test]
fn a_joblog_row_that_cannot_be_written_fails_the_run() {
    let sb = Sandbox::new();
    let disk = match SmallDisk::mount(sb.join("small")) {
        Ok(disk) => disk,
        Err(why) => {
            println!("skipped: a full-disk test needs a small tmpfs: {why}");
            return;
        }
    };
    // A joblog of exactly one page: the next row needs a block of its own.
    let mut log =
        String::from("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n");
    let row = "1\t:\t0.000\t     0.000\t0\t0\t0\t0\t";
    let pad = 4096 - log.len() - row.len() - 1;
    log.push_str(&format!("{row}{}\n", "x".repeat(pad)));
    assert_eq!(log.len(), 4096);
    std::fs::write(disk.0.join("log"), &log).unwrap();
    sb.write(
        "jobs",
        "head -c 2000000 /dev/zero > small/fill; true\ntrue\n",
    );
    let run = sb.run(["-j", "1", "--joblog", "+small/log", "jobs"], "");
    run.assert_code(2);
    let errors = run.stderr.matches("cannot write to the joblog").count();
    assert_eq!(errors, 1, "{}", run.stderr);
}

/// A job that handles SIGTERM (`trap 'exit 7' TERM`) and a joblog: the first run is
/// interrupted while the job runs; `--resume` must run it again.
#[test]
fn resume_reruns_a_job_that_handled_the_interrupt_and_exited() {
    let (sb, m) = Sandbox::with_marker();
    sb.write(
        "jobs",
        format!(
            "if [ -e go ]; then echo job1 >> fin; else trap 'exit 7' TERM; sleep {m} & wait; fi\n"
        ),
    );
    let mut running = sb.spawn(["--joblog", "log", "jobs"]);
    eventually("the job to run", || sleepers(&m).len() == 1);
    running.signal(Signal::SIGINT);
    running.wait_for_exit(RUN_LIMIT).run.assert_code(130);
    assert_eq!(sb.read_string("log").lines().count(), 1, "only the header");
    sb.write("go", "");
    sb.run(["--joblog", "log", "--resume", "jobs"], "")
        .assert_code(0);
    assert_eq!(sb.read_string("fin"), "job1\n");
    assert_nothing_left(&m, &[]);
}

#[test]
fn resume_after_a_cut_last_row_runs_its_job_and_leaves_a_readable_joblog() {
    let sb = Sandbox::new();
    sb.write("jobs", "echo a >> ran\necho b >> ran\necho c >> ran\n");
    // One at a time, so the last row is job 3's.
    sb.run(["-j", "1", "--joblog", "log", "jobs"], "")
        .assert_code(0);
    let log = sb.read_string("log");
    // Cut the last row in the middle of its command (a full disk, a power loss).
    sb.write("log", &log[..log.len() - 6]);
    sb.write("ran", "");
    sb.run(["--joblog", "log", "--resume", "jobs"], "")
        .assert_code(0);
    assert_eq!(
        sb.read_string("ran"),
        "c\n",
        "only the cut row's job reruns"
    );
    let again = sb.run(["--joblog", "log", "--resume", "jobs"], "");
    again.assert_code(0);
    assert_eq!(sb.read_string("ran"), "c\n", "every job is done");
    let rows: Vec<String> = sb.read_string("log").lines().map(str::to_owned).collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[3].starts_with("3\t") && rows[3].ends_with("\techo c >> ran"));
}

#[test]
fn line_buffer_ends_when_a_job_leaves_a_background_writer() {
    let (sb, m) = Sandbox::with_marker();
    // Two writers that never sleep keep a pipe readable at every poll.
    sb.write("jobs", format!("yes {m} & yes {m} & echo x\n"));
    let mut cmd = sb.command(["--line-buffer", "--tag", "jobs"]);
    let out = std::fs::File::create(sb.join("out")).unwrap();
    cmd.stdin(Stdio::null()).stdout(Stdio::from(out));
    let mut running = Running::spawn_raw_stdout(cmd);
    running.wait_for_exit(RUN_LIMIT).run.assert_code(0);
    assert_nothing_left(&m, &[]);
}

/// Whether some thread of `pid` sleeps in a pipe write.
fn blocked_writing_a_pipe(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
        wchan.contains("pipe_write") || wchan.contains("pipe_wait_writable")
    })
}

#[test]
fn a_second_interrupt_ends_a_run_blocked_writing_to_a_stdout_nobody_reads() {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("head -c 1000000 /dev/zero\nsleep {m}\n"));
    let (reader, writer) = nix::unistd::pipe().unwrap();
    let mut cmd = sb.command(["-j", "2", "jobs"]);
    cmd.stdin(Stdio::null()).stdout(Stdio::from(writer));
    let mut running = Running::spawn_raw_stdout(cmd);
    let pid = running.pid().as_raw();
    eventually("atp-run to block writing stdout", || {
        blocked_writing_a_pipe(pid)
    });
    running.signal(Signal::SIGINT);
    wait_delivered(&running, Signal::SIGINT);
    running.signal(Signal::SIGINT);
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(130);
    drop(reader);
    assert_nothing_left(&m, &[]);
}

#[test]
fn jobs_that_ended_in_time_while_atp_run_was_stopped_did_not_time_out() {
    let sb = Sandbox::new();
    let jobs: String = (1..=4)
        .map(|n| format!("touch started.{n}; sleep 0.3\n"))
        .collect();
    sb.write("jobs", jobs);
    let mut running = sb.spawn(["-j", "4", "--timeout", "2", "jobs"]);
    eventually("every job to start", || {
        (1..=4).all(|n| sb.exists(&format!("started.{n}")))
    });
    running.signal(Signal::SIGSTOP);
    // Long enough for every job to end, and for its --timeout to run out.
    std::thread::sleep(Duration::from_secs(3));
    running.signal(Signal::SIGCONT);
    let finished = running.wait_for_exit(RUN_LIMIT);
    assert!(
        !finished.run.stderr.contains("timed out"),
        "{}",
        finished.run.stderr
    );
    finished.run.assert_code(0);
}

#[test]
fn an_interrupt_while_leftovers_are_stopped_ends_the_run_as_interrupted() {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("(trap '' TERM; sleep {m}) & echo hi\n"));
    let mut running = sb.spawn(["--grace", "1000", "jobs"]);
    eventually("the leftovers to be terminated", || {
        running.stderr_so_far().contains("background process group")
    });
    running.signal(Signal::SIGINT);
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(130);
    assert!(
        finished.run.summary().starts_with("atp-run: interrupted: "),
        "{}",
        finished.run.stderr
    );
    assert_nothing_left(&m, &[]);
}

/// Two running jobs, then `signal`: exit 130, every job ended, nothing left.
fn terminating_signal_stops_every_job(signal: Signal) {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("sleep {m}\nsleep {m} | cat\n"));
    let mut running = sb.spawn(["-j", "2", "jobs"]);
    eventually("both jobs to run", || sleepers(&m).len() == 2);
    let groups: Vec<i32> = sleepers(&m).iter().map(|p| p.pgid).collect();
    running.signal(signal);
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(130);
    assert_nothing_left(&m, &groups);
}

#[test]
fn sigquit_stops_every_job_like_sigint() {
    terminating_signal_stops_every_job(Signal::SIGQUIT);
}

#[test]
fn sigusr2_and_sigalrm_stop_every_job_like_sigint() {
    terminating_signal_stops_every_job(Signal::SIGUSR2);
    terminating_signal_stops_every_job(Signal::SIGALRM);
}

#[test]
fn a_daemon_a_job_started_with_setsid_is_ended_with_the_run() {
    let (sb, m) = Sandbox::with_marker();
    sb.write(
        "jobs",
        format!("setsid sleep {m} & setsid sh -c 'sleep {m} & sleep {m}' & echo started\n"),
    );
    let mut running = sb.spawn(["jobs"]);
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(0);
    assert!(
        finished.run.stderr.contains("outside their process groups"),
        "{}",
        finished.run.stderr
    );
    assert_nothing_left(&m, &[]);
}

#[test]
fn background_processes_of_earlier_jobs_do_not_pile_up_as_zombies() {
    let sb = Sandbox::new();
    // Each job leaves a short background process, re-parented to atp-run when
    // its job ends; the last job counts atp-run's zombie children.
    let mut jobs = "sleep 0.05 & true\n".repeat(20);
    jobs.push_str("sleep 0.5; ps -o stat= --ppid $PPID | grep -c '^Z' || true\n");
    sb.write("jobs", jobs);
    let run = sb.run(["-j", "1", "--keep-order", "-q", "jobs"], "");
    run.assert_code(0);
    let zombies: usize = run.stdout_str().trim().parse().unwrap();
    assert!(zombies <= 3, "{zombies} zombies of atp-run");
}
