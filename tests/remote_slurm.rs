//! `atp-run --slurm` against a real single-node Slurm (`.ci/slurm.sh`), inside
//! `salloc -n2`.
//!
//! `--slurm=ssh` also needs the SSH test hosts (`.ci/sshd-hosts.sh`).
//!
//! Each test first checks that Slurm answers (and the hosts, where needed). When
//! it does not: with `CI=true` the test fails; otherwise it prints why it is
//! skipped and passes.
#![cfg(feature = "cli")]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod remote;

use remote::{BIN, json_fields, run_locally_as_json, text};

/// Words of the warning that jobs are shorter than their steps' launches.
const SHORT_JOBS_WARNING: &str = "each srun step costs";

/// `SLURM_CONF` if the test cluster answers; `None` (skip) otherwise, or a panic
/// under CI.
fn slurm() -> Option<PathBuf> {
    let dir = std::env::var_os("ATP_TEST_SLURM_DIR")
        .map_or_else(|| PathBuf::from("/tmp/atp-test-slurm"), PathBuf::from);
    let conf = dir.join("slurm.conf");
    let why = if !dir.join("env").exists() {
        format!("{} does not exist", dir.join("env").display())
    } else {
        let ok = Command::new("srun")
            .args(["-N1", "--quiet", "true"])
            .env("SLURM_CONF", &conf)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(conf);
        }
        "srun -N1 true fails".to_owned()
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the Slurm test cluster is not up: {why}"
    );
    eprintln!(
        "skipped: the Slurm test cluster is not up: {why} (start it with .ci/slurm.sh start)"
    );
    None
}

/// Runs `sh -c script` inside `salloc -n2`, with `$ATP` the binary.
fn in_allocation(conf: &Path, script: &str, stdin: &str) -> Output {
    in_salloc(conf, &["-n2"], script, stdin)
}

/// Runs `sh -c script` inside `salloc ALLOCATION`, with `$ATP` the binary.
fn in_salloc(conf: &Path, allocation: &[&str], script: &str, stdin: &str) -> Output {
    let mut child = Command::new("salloc")
        .args(allocation)
        .args(["--quiet", "sh", "-c", script])
        .env("SLURM_CONF", conf)
        .env("ATP", BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run salloc: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn steps_fill_the_allocation_and_name_the_node() {
    let Some(conf) = slurm() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    let log = dir.path().join("joblog");
    let job = format!(
        "touch {d}/r.$$; ls {d} | grep -c '^r' >> {d}/seen; sleep 0.3; rm {d}/r.$$; \
         echo {{}} $SLURMD_NODENAME"
    );
    // The allocation's node list made unlike any node's name (srun does not read
    // it), so the Host column must come from each step, not from the allocation.
    let script = format!(
        "SLURM_JOB_NODELIST='other[1-2]' \"$ATP\" --slurm --joblog {} -- '{job}'",
        log.display()
    );
    let input: String = (1..=20).map(|i| format!("{i}\n")).collect();
    let out = in_allocation(&conf, &script, &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut printed: Vec<u32> = stdout
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    printed.sort_unstable();
    assert_eq!(printed, (1..=20).collect::<Vec<u32>>());
    // The node each job says it ran on.
    let node_of = |seq: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{seq} ")))
            .map(str::to_owned)
    };
    // Jobs of 0.3 s are not too short for a step each.
    assert!(
        !text(&out.stderr).contains(SHORT_JOBS_WARNING),
        "{}",
        text(&out.stderr)
    );
    let seen = fs::read_to_string(dir.path().join("seen")).unwrap_or_default();
    let most = seen
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .max();
    assert!(
        most.is_some_and(|m| m <= 2),
        "more than 2 steps at once in salloc -n2: {seen}"
    );
    let joblog = fs::read_to_string(&log).unwrap_or_default();
    let rows: Vec<&str> = joblog.lines().skip(1).collect();
    assert_eq!(rows.len(), 20);
    // From the first step's start to the last one's end (the joblog's Starttime
    // and JobRuntime; not the wait for the allocation): 10 rounds of 0.3 s, ~3 s.
    // The bound only catches steps run one at a time with a slow launch each.
    let times: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|row| {
            let fields: Vec<&str> = row.split('\t').collect();
            let start: f64 = fields.get(2)?.trim().parse().ok()?;
            let runtime: f64 = fields.get(3)?.trim().parse().ok()?;
            Some((start, start + runtime))
        })
        .collect();
    let first = times.iter().map(|t| t.0).fold(f64::MAX, f64::min);
    let last = times.iter().map(|t| t.1).fold(0.0, f64::max);
    assert_eq!(times.len(), 20, "{joblog}");
    assert!(
        last - first < 15.0,
        "20 x sleep 0.3 took {} s",
        last - first
    );
    for row in rows {
        let mut fields = row.split('\t');
        let (seq, host) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        let node = node_of(seq);
        assert!(node.as_deref().is_some_and(|n| !n.is_empty()), "{stdout}");
        assert_eq!(Some(host), node.as_deref(), "{row}");
    }
}

#[test]
fn step_statuses_and_output_are_the_same_as_locally() {
    let Some(conf) = slurm() else { return };
    let jobs = "exit 3\nexit 255\nkill -9 $$\nprintf 'o\\n'; printf 'e' >&2\n";
    let fields = json_fields;
    let local = run_locally_as_json(jobs);
    let steps = in_allocation(&conf, "\"$ATP\" --json --slurm", jobs);
    assert_eq!(
        steps.status.code(),
        local.status.code(),
        "{}",
        text(&steps.stderr)
    );
    assert_eq!(fields(&steps), fields(&local));
    assert_eq!(fields(&steps).len(), 4);
}

#[test]
fn host_and_sshlogin_are_the_node_the_step_runs_on() {
    let Some(conf) = slurm() else { return };
    // The test cluster has one node: the allocation's node list is its name.
    let out = in_allocation(
        &conf,
        "echo \"node $SLURM_JOB_NODELIST\"; \"$ATP\" -k --slurm -- 'echo {} {host} {sshlogin}'",
        "a\nb\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let node = lines
        .next()
        .and_then(|l| l.strip_prefix("node "))
        .unwrap_or("");
    assert!(!node.is_empty(), "{stdout}");
    let want: Vec<String> = ["a", "b"]
        .iter()
        .map(|j| format!("{j} {node} {node}"))
        .collect();
    assert_eq!(lines.collect::<Vec<_>>(), want, "{stdout}");
}

#[test]
fn steps_get_their_number_slot_and_atp_runs_pid() {
    let Some(conf) = slurm() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    // Read by a child of the job's shell: exported. atp-run's pid is printed
    // first (the script's `$!`), then the jobs' lines.
    let job = r#"'echo {#} {%} $(sh -c "echo \$PARALLEL_SEQ \$PARALLEL_JOBSLOT \$PARALLEL_PID")'"#;
    let out = in_allocation(
        &conf,
        &format!(
            "\"$ATP\" -k --slurm -- {job} ::: a b c > {d}/jobs & echo $!; wait $! && cat {d}/jobs"
        ),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let pid = lines.next().unwrap_or_default();
    let jobs: Vec<Vec<&str>> = lines.map(|l| l.split(' ').collect()).collect();
    assert_eq!(jobs.len(), 3, "{stdout}");
    for (seq, words) in (1..).zip(&jobs) {
        let seq = seq.to_string();
        // {#} {%} SEQ JOBSLOT PID
        assert_eq!(words.len(), 5, "{stdout}");
        assert_eq!([words[0], words[2]], [seq.as_str(); 2], "{stdout}");
        assert_eq!(
            words[3], words[1],
            "PARALLEL_JOBSLOT is not {{%}}: {stdout}"
        );
        assert_eq!(words[4], pid, "PARALLEL_PID is not atp-run's: {stdout}");
    }
}

#[test]
fn sigint_leaves_no_step_behind() {
    let Some(conf) = slurm() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    let mark = format!("1000.{}7", std::process::id());
    // atp-run in the background of the allocation's shell; once both steps run,
    // SIGINT to it; then the steps still listed by squeue.
    let script = format!(
        "printf '1\\n2\\n3\\n' > {d}/in; \"$ATP\" --slurm {d}/in -- 'touch {d}/s.{{}}; sleep {mark}' & p=$!; \
         i=0; while [ $(ls {d} | grep -c '^s') -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         kill -INT $p; wait $p; echo rc=$?; sleep 1; squeue -h -s -j $SLURM_JOB_ID | grep -v extern | wc -l"
    );
    let out = in_allocation(&conf, &script, "");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("rc=130"), "{stdout} {}", text(&out.stderr));
    assert!(
        stdout.trim_end().ends_with("\n0") || stdout.trim_end() == "0",
        "steps left: {stdout}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = Command::new("pgrep").args(["-f", &mark]).output();
        if left.is_ok_and(|o| o.stdout.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "sleep {mark} still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn steps_of_two_cpus_run_one_at_a_time_in_two_cpus() {
    let Some(conf) = slurm() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    let job = format!(
        "touch {d}/r.$$; ls {d} | grep -c '^r' >> {d}/seen; nproc >> {d}/cpus; sleep 0.2; rm {d}/r.$$"
    );
    let script = format!(
        "\"$ATP\" --slurm -c 2 -- '{job}; : {{}}' ::: 1 2 3 4; echo rc=$?; \
         \"$ATP\" --slurm --cpus-per-job 3 -- true ::: 1; echo rc=$?"
    );
    let out = in_salloc(&conf, &["-n1", "-c2"], &script, "");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("rc=0\nrc=2"), "{stdout} {stderr}");
    assert!(
        stderr.contains("--cpus-per-job 3 is more than any node"),
        "{stderr}"
    );
    let cpus = fs::read_to_string(dir.path().join("cpus")).unwrap_or_default();
    assert_eq!(cpus, "2\n2\n2\n2\n", "nproc in each step (srun -c 2)");
    let seen = fs::read_to_string(dir.path().join("seen")).unwrap_or_default();
    assert_eq!(seen, "1\n1\n1\n1\n", "steps at once");
}

#[test]
fn forty_tiny_jobs_are_told_to_share_steps() {
    let Some(conf) = slurm() else { return };
    let input: String = (1..=40).map(|i| format!("{i}\n")).collect();
    let out = in_allocation(&conf, "\"$ATP\" --slurm -q -- 'true {}'", &input);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(SHORT_JOBS_WARNING))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("-N"), "{stderr}");
}

#[test]
fn step_launches_keep_to_the_rate() {
    let Some(conf) = slurm() else { return };
    // A burst of 2, then 2 a second: the 6th launch is 2 s after the first.
    let started = Instant::now();
    let out = in_allocation(
        &conf,
        "\"$ATP\" --slurm --slurm-rate 2 -- 'true {}' ::: 1 2 3 4 5 6",
        "",
    );
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        took >= Duration::from_secs(2),
        "6 launches at 2/s took {took:?}"
    );
}

/// The SSH test hosts' ssh_config if host1 answers; `None` (skip) otherwise, or
/// a panic under CI.
fn ssh_hosts() -> Option<PathBuf> {
    let dir = std::env::var_os("ATP_TEST_HOSTS_DIR")
        .map_or_else(|| PathBuf::from("/tmp/atp-test-hosts"), PathBuf::from);
    let config = dir.join("ssh_config");
    let answers = config.exists()
        && Command::new("ssh")
            .arg("-F")
            .arg(&config)
            .args(["-o", "ConnectTimeout=10", "host1", "true"])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
    if answers {
        return Some(config);
    }
    let why = format!("host1 of {} does not answer", config.display());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the SSH test hosts are not up: {why}"
    );
    eprintln!("skipped: {why} (start them with .ci/sshd-hosts.sh start)");
    None
}

#[test]
fn slurm_ssh_runs_the_jobs_over_ssh_on_the_allocations_nodes() {
    let Some(conf) = slurm() else { return };
    let Some(hosts) = ssh_hosts() else { return };
    // Each node of the allocation is made an ssh alias of host1 (whose hostname
    // says host1), so a job that ran over ssh says so.
    let hosts_config = fs::read_to_string(&hosts).unwrap_or_default();
    let port = hosts_config
        .lines()
        .find_map(|l| l.trim().strip_prefix("Port "))
        .unwrap_or("2222")
        .trim()
        .to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (d, h) = (dir.path().display(), hosts.display());
    let script = format!(
        "for n in $(scontrol show hostnames $SLURM_JOB_NODELIST); do \
           printf 'Host %s\\n  HostName 127.0.0.1\\n  HostKeyAlias host1\\n  Port {port}\\n' $n; \
         done > {d}/cfg; echo 'Include {h}' >> {d}/cfg; \
         \"$ATP\" --slurm=ssh --ssh \"ssh -F {d}/cfg\" --joblog {d}/log -- 'hostname; : {{}}' ::: 1 2 3; \
         echo rc=$?; scontrol show hostnames $SLURM_JOB_NODELIST > {d}/nodes"
    );
    let out = in_allocation(&conf, &script, "");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("rc=0"), "{stdout} {stderr}");
    assert_eq!(stdout.matches("host1\n").count(), 3, "{stdout} {stderr}");
    let nodes = fs::read_to_string(dir.path().join("nodes")).unwrap_or_default();
    let joblog = fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    let rows: Vec<&str> = joblog.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{joblog}");
    for row in rows {
        let host = row.split('\t').nth(1).unwrap_or("");
        assert!(nodes.lines().any(|n| n == host), "{row} not in {nodes}");
    }
}
