//! Files and environment of `-S` jobs against real OpenSSH servers: the loopback
//! hosts of `.ci/sshd-hosts.sh`, each with its own home, so `--trc`, `--basefile`,
//! `--workdir` and `--env` really move things between "machines".
//!
//! Like `remote_ssh.rs`: without the hosts a test prints why it is skipped and
//! passes, unless `CI=true`, where it fails. The tests check the hosts' homes, so
//! they run one at a time, and each leaves the homes empty.
#![cfg(feature = "cli")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

mod remote;

use remote::{BIN, Revive, hosts_script, ssh, test_hosts, text};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What is in `host`'s home (hidden files too), one name per line.
fn home(config: &Path, host: &str) -> String {
    text(&ssh(config, host, "ls -A").stdout)
}

/// Empties the homes of host1 and host2 (a failed test may leave files).
fn clear_homes(config: &Path) {
    for h in ["host1", "host2"] {
        ssh(config, h, "rm -rf ~/* ~/.[!.]*");
    }
}

/// `atp-run --ssh 'ssh -F CONFIG' ARGS` in `dir`, with `env` added.
fn atp(config: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .arg("--ssh")
        .arg(format!("ssh -F {}", config.display()))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

/// Locks the hosts for one test and gives it a fresh local directory.
fn setup() -> Option<(
    std::sync::MutexGuard<'static, ()>,
    PathBuf,
    tempfile::TempDir,
)> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = test_hosts()?;
    clear_homes(&config);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    Some((guard, config, dir))
}

fn assert_homes_empty(config: &Path) {
    for h in ["host1", "host2"] {
        assert_eq!(home(config, h), "", "{h}'s home is not empty");
    }
}

#[test]
fn trc_moves_files_to_the_homes_and_back_and_cleans_up() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    let names = ["a 1.txt", "b 2.txt", "it's 3.txt", "d 4.txt"];
    for name in names {
        fs::write(dir.path().join(name), format!("content of {name}\n")).unwrap();
    }
    let mut args = vec![
        "-S",
        "1/host1,1/host2",
        "--trc",
        "{.}.out",
        "--",
        "cat {} > {.}.out; hostname >> {.}.out; pwd >> {.}.out; ls >> {.}.out",
        ":::",
    ];
    args.extend(names);
    let out = atp(&config, dir.path(), &args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut seen_hosts = Vec::new();
    for name in names {
        let stem = name.trim_end_matches(".txt");
        let back = fs::read_to_string(dir.path().join(format!("{stem}.out")))
            .unwrap_or_else(|e| panic!("{stem}.out did not come back: {e}"));
        let lines: Vec<&str> = back.lines().collect();
        assert_eq!(lines[0], format!("content of {name}"), "{back}");
        assert!(lines[1] == "host1" || lines[1] == "host2", "{back}");
        assert_eq!(lines[2], "/root", "the job ran in the home: {back}");
        assert!(lines[3..].contains(&name), "{name} was in the home: {back}");
        seen_hosts.push(lines[1].to_owned());
        // The local input stays.
        assert!(dir.path().join(name).exists());
    }
    seen_hosts.sort();
    seen_hosts.dedup();
    assert_eq!(seen_hosts, ["host1", "host2"], "both hosts took jobs");
    assert_homes_empty(&config);
}

#[test]
fn anchored_and_nested_paths_keep_their_relative_part() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    fs::create_dir_all(dir.path().join("data/in sub")).unwrap();
    fs::write(dir.path().join("data/in sub/x y.txt"), "x\n").unwrap();
    fs::create_dir_all(dir.path().join("rel dir")).unwrap();
    fs::write(dir.path().join("rel dir/r.txt"), "r\n").unwrap();
    // data/./in sub/x y.txt is "in sub/x y.txt" on the host, and its return
    // "data/./in sub/x y.out" comes back to data/in sub/x y.out here.
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            "host1",
            "--tf",
            "data/./in sub/x y.txt",
            "--tf",
            "rel dir/r.txt",
            "--return",
            "data/./in sub/x y.out",
            "--return",
            "rel dir/r.out",
            "--cleanup",
            "--",
            "cat 'in sub/x y.txt' > 'in sub/x y.out'; cat 'rel dir/r.txt' > 'rel dir/r.out'; true {}",
            ":::",
            "1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(dir.path().join("data/in sub/x y.out")).unwrap(),
        "x\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("rel dir/r.out")).unwrap(),
        "r\n"
    );
    // --cleanup removed the files and the directories they made.
    assert_homes_empty(&config);
}

#[test]
fn a_basefile_goes_once_per_host_and_is_removed_at_the_end() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    fs::write(dir.path().join("base.txt"), "base\n").unwrap();
    // Each job appends a line: sent once per host, the counts on a host go
    // 2, 3, ...; sent per job, every count would be 2.
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            "1/host1,1/host2",
            "--basefile",
            "base.txt",
            "--cleanup",
            "--",
            "echo $(hostname) $(echo {} >> base.txt; wc -l < base.txt)",
            ":::",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for h in ["host1", "host2"] {
        let mut counts: Vec<u32> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{h} ")))
            .map(|c| c.trim().parse().unwrap())
            .collect();
        counts.sort_unstable();
        let want: Vec<u32> = (2..2 + u32::try_from(counts.len()).unwrap()).collect();
        assert_eq!(counts, want, "{h}: {stdout}");
    }
    assert_homes_empty(&config);
}

#[test]
fn workdir_dots_is_a_new_directory_per_job_removed_after_it() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    for n in 1..=3 {
        fs::write(dir.path().join(format!("in{n}")), format!("{n}\n")).unwrap();
    }
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            "host1",
            "--workdir",
            "...",
            "--trc",
            "{}.out",
            "--",
            "x=$(cat {}; pwd; ls); echo \"$x\" > {}.out",
            ":::",
            "in1",
            "in2",
            "in3",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut dirs = Vec::new();
    for n in 1..=3 {
        let back = fs::read_to_string(dir.path().join(format!("in{n}.out"))).unwrap();
        let lines: Vec<&str> = back.lines().collect();
        assert_eq!(lines[0], n.to_string());
        assert!(lines[1].starts_with("/root/.atp-run/tmp/"), "{back}");
        // Only this job's file is in its directory.
        assert_eq!(lines[2..], [format!("in{n}")], "{back}");
        dirs.push(lines[1].to_owned());
    }
    dirs.sort();
    dirs.dedup();
    assert_eq!(dirs.len(), 3, "one directory per job: {dirs:?}");
    assert_homes_empty(&config);
}

#[test]
fn a_named_workdir_is_made_used_and_removed_with_cleanup() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    fs::write(dir.path().join("f.txt"), "f\n").unwrap();
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            "host1",
            "--wd",
            "w d/sub",
            "--trc",
            "{}.out",
            "--",
            "pwd > {}.out; cat {} >> {}.out",
            ":::",
            "f.txt",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(dir.path().join("f.txt.out")).unwrap(),
        "/root/w d/sub\nf\n"
    );
    assert_homes_empty(&config);
    // Without --cleanup the directory and the files stay.
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S", "host1", "--wd", "kept", "--tf", "{}", "--", "true", ":::", "f.txt",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(home(&config, "host1"), "kept\n");
    assert_eq!(text(&ssh(&config, "host1", "cat kept/f.txt").stdout), "f\n");
    clear_homes(&config);
}

#[test]
fn env_values_reach_the_remote_job_byte_for_byte() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    let value = "two  spaces 'single' \"double\" $HOME `echo no` \\ back\nnew line\n";
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            "host1",
            "--env",
            "ATP_T1,ATP_UNSET_HERE",
            "--env",
            "ATP_T2",
            "--",
            "printf '%s|%s|%s' \"$ATP_T1\" \"$ATP_T2\" \"${ATP_UNSET_HERE-unset}\"; true {}",
            ":::",
            "1",
        ],
        &[("ATP_T1", value), ("ATP_T2", "plain")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{value}|plain|unset"));
}

#[test]
fn a_missing_transfer_file_fails_its_job_and_a_failed_job_still_returns_files() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    fs::write(dir.path().join("here.txt"), "h\n").unwrap();
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            "host1",
            "--trc",
            "{}.out",
            "--return",
            "{}.never",
            "--",
            "echo ran {}; cat {} > {}.out; exit 3",
            ":::",
            "here.txt",
            "not here.txt",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // Files come back from a failed job too (as in GNU parallel); one that is not
    // there is a warning naming it, and the job's status stays its own.
    assert!(text(&out.stderr).contains("failed with exit code 3"));
    assert!(
        text(&out.stderr).contains("--return here.txt.never: "),
        "{}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ran here.txt"), "{stdout}");
    assert!(!stdout.contains("not here"), "the job ran: {stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--transferfile not here.txt: no such file here"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("here.txt.out")).unwrap(),
        "h\n"
    );
    assert_homes_empty(&config);
}

#[test]
fn on_the_local_host_transfers_and_cleanup_touch_nothing() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    fs::write(dir.path().join("local.txt"), "l\n").unwrap();
    let out = atp(
        &config,
        dir.path(),
        &[
            "-S",
            ":",
            "--trc",
            "{}.out",
            "--",
            "cat {} > {}.out",
            ":::",
            "local.txt",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The job ran here on the files as they are; nothing was removed.
    assert_eq!(
        fs::read_to_string(dir.path().join("local.txt")).unwrap(),
        "l\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("local.txt.out")).unwrap(),
        "l\n"
    );
}

#[test]
fn file_flags_without_a_remote_host_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--trc", "x", "--", "true", ":::", "1"][..],
        &["--env", "HOME", "--", "true", ":::", "1"],
        &["--workdir", "...", "--", "true", ":::", "1"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("add -S HOST"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_job_lost_with_its_host_is_sent_again_with_its_files() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    let names = ["f 1", "f 2", "f 3", "f 4"];
    for name in names {
        fs::write(dir.path().join(name), format!("{name}\n")).unwrap();
    }
    // /tmp is shared with the hosts: a job marks here that it started.
    let d = dir.path().display();
    let job =
        format!("cat {{}} > {{}}.out; hostname >> {{}}.out; touch '{d}'/started.{{#}}; sleep 2");
    let mut args = vec![
        "-S",
        "1/host1,1/host2",
        "--trc",
        "{}.out",
        "--",
        &job,
        ":::",
    ];
    args.extend(names);
    let child = Command::new(BIN)
        .arg("--ssh")
        .arg(format!("ssh -F {}", config.display()))
        .args(&args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while fs::read_dir(dir.path()).map_or(0, |r| {
        r.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("started."))
            .count()
    }) < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the jobs did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let revive = Revive;
    assert!(hosts_script(&["kill", "host2"]));
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("host host2 is down"), "{stderr}");
    let mut on_host1 = 0;
    for name in names {
        let back = fs::read_to_string(dir.path().join(format!("{name}.out")))
            .unwrap_or_else(|e| panic!("{name}.out: {e}: {stderr}"));
        assert!(back.starts_with(&format!("{name}\nhost")), "{back}");
        on_host1 += usize::from(back.ends_with("host1\n"));
    }
    // The job lost on host2 ran again on host1, its file sent there too.
    assert!(on_host1 >= 3, "{stderr}");
    drop(revive);
    clear_homes(&config);
}

#[test]
fn workdir_dot_is_this_directory_relative_to_the_home() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    // Here the home is `dir` and we are in `dir/proj/src`: on the host, jobs run
    // in ~/proj/src.
    let here = dir.path().join("proj/src");
    fs::create_dir_all(&here).unwrap();
    fs::write(here.join("in.txt"), "i\n").unwrap();
    let home = dir.path().to_str().unwrap();
    let out = atp(
        &config,
        &here,
        &[
            "-S",
            "host1",
            "--wd",
            ".",
            "--trc",
            "{}.out",
            "--",
            "pwd > {}.out",
            ":::",
            "in.txt",
        ],
        &[("HOME", home)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(here.join("in.txt.out")).unwrap(),
        "/root/proj/src\n"
    );
    assert_homes_empty(&config);
}

/// `{host}` in a `--return` name is the host the job ran on, as in the command:
/// the file the job wrote comes back under that name (the name once reached tar
/// as the literal `${PARALLEL_SSHHOST}`, so nothing came back).
#[test]
fn host_in_a_return_name_is_the_jobs_host() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    let names = ["a.in", "b c.in", "d.in", "e.in"];
    for name in names {
        fs::write(dir.path().join(name), format!("content of {name}\n")).unwrap();
    }
    let mut args = vec![
        "-S",
        "1/host1,1/host2",
        "--transferfile",
        "{}",
        "--return",
        "{.}.{host}.out",
        "--cleanup",
        "--",
        "cat {} > {.}.{host}.out; hostname >> {.}.{host}.out",
        ":::",
    ];
    args.extend(names);
    let out = atp(&config, dir.path(), &args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("Cannot stat"),
        "{}",
        text(&out.stderr)
    );
    for name in names {
        let stem = name.trim_end_matches(".in");
        let back: Vec<String> = ["host1", "host2"]
            .iter()
            .map(|h| format!("{stem}.{h}.out"))
            .filter(|f| dir.path().join(f).exists())
            .collect();
        assert_eq!(back.len(), 1, "{name}: came back as {back:?}");
        let host = back[0].rsplit('.').nth(1).unwrap_or_default();
        let content = fs::read_to_string(dir.path().join(&back[0])).unwrap();
        assert_eq!(content, format!("content of {name}\n{host}\n"));
    }
    assert_homes_empty(&config);
}
