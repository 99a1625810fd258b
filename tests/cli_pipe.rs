//! CLI tests of `--pipe`: standard input (or `-a FILE`) cut into blocks at record
//! boundaries, each block one job's standard input. Each job saves what it got in
//! a file named by its job number, so a test sees exactly how the input was cut:
//! no record split across two jobs, none lost or repeated. Expected outputs were
//! checked against GNU parallel 20221122 and are written here.
#![cfg(feature = "cli")]

mod common;

use std::process::{Command, Stdio};

use common::outcome::Run;
use common::sandbox::{Sandbox, bin};

/// What job `n` saved (`cat > seen.{#}`).
fn seen(sb: &Sandbox, n: usize) -> Vec<u8> {
    sb.read(&format!("seen.{n}"))
}

/// Every job's block, in job-number order; checks there is no gap in the numbers.
fn blocks(sb: &Sandbox) -> Vec<Vec<u8>> {
    let count = std::fs::read_dir(sb.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("seen.")
        })
        .count();
    (1..=count).map(|n| seen(sb, n)).collect()
}

/// Runs `atp-run --pipe ARGS -- cat > seen.{#}` on `input`; returns the blocks.
fn cut(sb: &Sandbox, args: &[&str], input: &[u8]) -> Vec<Vec<u8>> {
    let mut all = vec!["--pipe"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "cat > seen.{#}"]);
    sb.run(&all, input).assert_code(0);
    blocks(sb)
}

/// Lines of pseudo-random lengths (1 to 60 bytes), `n` of them, each unique.
fn lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut x: u32 = 12345;
    for i in 0..n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let pad = (x >> 16) as usize % 50;
        out.extend_from_slice(format!("{i}:{}\n", "x".repeat(pad)).as_bytes());
    }
    out
}

/// The records of `data` ending with `sep` (the last one may lack it).
fn records<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest
            .windows(sep.len())
            .position(|w| w == sep)
            .map_or(rest.len(), |p| p + sep.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// The blocks are the input, in order, each ending with `sep` but the last.
fn assert_whole_records(blocks: &[Vec<u8>], input: &[u8], sep: &[u8]) {
    assert!(
        blocks.len() > 1,
        "expected several blocks, got {}",
        blocks.len()
    );
    assert_eq!(
        blocks.concat(),
        input,
        "the blocks, in job order, are not the input"
    );
    for (i, block) in blocks[..blocks.len() - 1].iter().enumerate() {
        assert!(block.ends_with(sep), "block {} ends inside a record", i + 1);
    }
    // And as sets of records: none lost, none repeated.
    let mut got: Vec<&[u8]> = blocks.iter().flat_map(|b| records(b, sep)).collect();
    let mut want = records(input, sep);
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn newline_records_are_never_split_lost_or_repeated() {
    let sb = Sandbox::new();
    let input = lines(3000);
    let blocks = cut(&sb, &["--block", "1k"], &input);
    assert_whole_records(&blocks, &input, b"\n");
    // Each block is as full as --block allows (GNU's rule): the next record
    // would not have fitted. 1k is 1000 bytes, as in GNU.
    let mut rest: &[u8] = &input;
    for block in &blocks {
        assert!(block.len() <= 1000);
        rest = &rest[block.len()..];
        if let Some(next) = records(rest, b"\n").first() {
            assert!(block.len() + next.len() > 1000, "a block stopped early");
        }
    }
}

#[test]
fn a_custom_recend_cuts_only_after_it() {
    let sb = Sandbox::new();
    let input: Vec<u8> = (0..500)
        .flat_map(|i| format!("record {i}\nline two;;").into_bytes())
        .collect();
    let blocks = cut(&sb, &["--block", "200", "--recend", ";;"], &input);
    assert_whole_records(&blocks, &input, b";;");
}

#[test]
fn recstart_cuts_before_each_record_start() {
    let sb = Sandbox::new();
    let input: Vec<u8> = (0..300)
        .flat_map(|i| format!(">seq{i}\nACGT\nTTGA>not a start\n").into_bytes())
        .collect();
    // Both: a record ends with a newline that a '>' follows.
    let blocks = cut(
        &sb,
        &["--block", "300", "--recstart", ">", "--recend", "\\n"],
        &input,
    );
    assert!(blocks.len() > 1);
    assert_eq!(blocks.concat(), input);
    for block in &blocks {
        assert!(
            block.starts_with(b">seq"),
            "{:?}",
            String::from_utf8_lossy(block)
        );
        assert!(block.ends_with(b"start\n"));
    }
}

#[test]
fn recstart_alone_means_no_recend() {
    let sb = Sandbox::new();
    // Not even a newline before the '>': --recend is '' with --recstart alone.
    let blocks = cut(&sb, &["-N", "1", "--recstart", ">"], b">a 1>b 2>c 3");
    assert_eq!(blocks, [&b">a 1"[..], b">b 2", b">c 3"]);
}

#[test]
fn null_records_with_dash_zero_and_n_records_per_block() {
    let sb = Sandbox::new();
    let input: Vec<u8> = (0..20)
        .flat_map(|i| format!("file {i}\nwith newline\0").into_bytes())
        .collect();
    let blocks = cut(&sb, &["-0", "-N", "3"], &input);
    assert_whole_records(&blocks, &input, b"\0");
    assert_eq!(blocks.len(), 7);
    for block in &blocks[..6] {
        assert_eq!(block.iter().filter(|&&b| b == 0).count(), 3);
    }
}

#[test]
fn dash_n_gives_n_records_per_job_whatever_the_block() {
    let sb = Sandbox::new();
    // GNU's word order: the command after the options, its own -sd, included.
    let run = sb.run(
        ["--pipe", "-N3", "--block", "1", "-k", "paste", "-sd,"],
        "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "1,2,3\n4,5,6\n7,8,9\n10\n");
}

#[test]
fn header_lines_start_every_block() {
    let sb = Sandbox::new();
    let input = "h1\nh2\n1\n2\n3\n4\n5\n";
    let run = sb.run(
        ["--pipe", "--header", "2", "-N2", "-k", "paste", "-sd,"],
        input,
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "h1,h2,1,2\nh1,h2,3,4\nh1,h2,5\n");
    let run = sb.run(
        ["--pipe", "--header", ":", "-N2", "-k", "paste", "-sd,"],
        input,
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "h1,h2,1\nh1,2,3\nh1,4,5\n");
    // A header and no record: no job (as GNU).
    let run = sb.run(["--pipe", "--header", "2", "--", "echo ran"], "h1\nh2\n");
    run.assert_code(0);
    assert!(run.stdout.is_empty());
}

#[test]
fn a_record_longer_than_the_block_is_a_block_of_its_own() {
    let sb = Sandbox::new();
    let long = format!("{}\n", "L".repeat(5000));
    let input = format!("a\nb\n{long}c\nd\n");
    let blocks = cut(&sb, &["--block", "100"], input.as_bytes());
    assert_eq!(blocks, [&b"a\nb\n"[..], long.as_bytes(), b"c\nd\n"]);
}

#[test]
fn a_last_record_without_its_newline_is_delivered() {
    let sb = Sandbox::new();
    let blocks = cut(&sb, &["--block", "2"], b"a\nb\nc");
    assert_eq!(blocks, [&b"a\n"[..], b"b\n", b"c"]);
}

#[test]
fn empty_input_runs_no_job() {
    let sb = Sandbox::new();
    let run = sb.run(["--pipe", "--", "cat > seen.{#}"], "");
    run.assert_code(0);
    assert!(blocks(&sb).is_empty());
    run.assert_summary_starts_with("atp-run: 0 jobs ran");
}

#[test]
fn a_file_instead_of_standard_input() {
    let sb = Sandbox::new();
    let input = lines(500);
    sb.write("input.txt", &input);
    let from_a = cut(&sb, &["--block", "1k", "-a", "input.txt"], b"");
    assert_whole_records(&from_a, &input, b"\n");
    for entry in std::fs::read_dir(sb.path()).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().starts_with("seen.") {
            std::fs::remove_file(sb.join(name)).unwrap();
        }
    }
    let run = sb.run(
        [
            "--pipe",
            "--block",
            "1k",
            "--",
            "cat > seen.{#}",
            "::::",
            "input.txt",
        ],
        "",
    );
    run.assert_code(0);
    assert_eq!(blocks(&sb).concat(), input);
}

/// `seq 1 n`, as bytes.
fn seq(n: usize) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[test]
fn a_job_that_does_not_read_its_block_fails_as_killed_by_sigpipe() {
    // GNU parallel reports such a job as killed by signal 13 (joblog Exitval 0,
    // Signal 13), whatever it exited with. Blocks larger than a pipe holds.
    let sb = Sandbox::new();
    let input = seq(300_000);
    let run = sb.run(
        ["--pipe", "--block", "1M", "--joblog", "log", "--", "exit 0"],
        &input,
    );
    run.assert_code(1);
    let statuses = run.status_lines();
    assert_eq!(statuses.len(), 2, "{}", run.stderr);
    for line in statuses {
        assert!(line.contains("killed by SIGPIPE"), "{line}");
    }
    let log = sb.read_string("log");
    for row in log.lines().skip(1) {
        let fields: Vec<&str> = row.split('\t').collect();
        assert_eq!((fields[6], fields[7]), ("0", "13"), "{row}");
    }
    // A job that reads part of it, and one that leaves a background process
    // holding its stdin without reading: no hang either.
    for command in ["head -1", "sleep 5 0<&0 & exit 0"] {
        let run = sb.run(["--pipe", "--block", "1M", "--", command], &input);
        run.assert_code(1);
        assert!(
            run.status_lines()
                .iter()
                .all(|l| l.contains("killed by SIGPIPE")),
            "{}",
            run.stderr
        );
    }
    // Reading it all is a success, with --line-buffer (fed beside the output
    // pump) and --ungroup too.
    for mode in ["--line-buffer", "--ungroup", "--keep-order"] {
        let run = sb.run(["--pipe", mode, "--block", "100k", "wc", "-l"], &input);
        run.assert_code(0);
        let total: usize = run
            .stdout_str()
            .lines()
            .map(|l| l.trim().parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, 300_000, "{mode}");
    }
}

/// The joblog's rows as `(Seq, Send, Receive, Exitval, Signal)`, by Seq.
fn sizes(log: &str) -> Vec<(u64, u64, u64, i32, i32)> {
    let mut rows: Vec<_> = log
        .lines()
        .skip(1)
        .map(|row| {
            let f: Vec<&str> = row.split('\t').collect();
            assert_eq!(f.len(), 9, "{row:?}");
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            let code = |i: usize| f[i].parse::<i32>().unwrap();
            (n(0), n(4), n(5), code(6), code(7))
        })
        .collect();
    rows.sort_unstable();
    rows
}

#[test]
fn joblog_send_is_each_blocks_length_and_receive_its_stdout() {
    // `seq 12` is 27 bytes; -N 5 cuts it into 1..5 (10 bytes), 6..10 (11) and
    // 11..12 (6). Each job prints its block and "x\n": Receive is 2 more. GNU
    // parallel 20221122 writes these rows; with --ungroup the output does not
    // pass through it, and its Receive is 0.
    let sb = Sandbox::new();
    for mode in [
        None,
        Some("--keep-order"),
        Some("--line-buffer"),
        Some("--ungroup"),
    ] {
        let mut args = vec!["--pipe", "-N", "5", "--joblog", "log"];
        args.extend(mode);
        args.push("cat; echo x");
        sb.run(&args, seq(12)).assert_code(0);
        let received = |n| if mode == Some("--ungroup") { 0 } else { n };
        assert_eq!(
            sizes(&sb.read_string("log")),
            [
                (1, 10, received(12), 0, 0),
                (2, 11, received(13), 0, 0),
                (3, 6, received(8), 0, 0)
            ],
            "{mode:?}"
        );
    }
    // Send is exactly what each job got, and the blocks add up to the input.
    let input = lines(3000);
    let run = sb.run(
        [
            "--pipe",
            "--block",
            "1k",
            "--joblog",
            "log",
            "--",
            "cat > seen.{#}",
        ],
        &input,
    );
    run.assert_code(0);
    let rows = sizes(&sb.read_string("log"));
    let blocks = blocks(&sb);
    assert!(blocks.len() > 10);
    assert_eq!(rows.len(), blocks.len());
    for ((seq, send, receive, ..), block) in rows.iter().zip(&blocks) {
        assert_eq!((*send, *receive), (block.len() as u64, 0), "job {seq}");
    }
    let sent: u64 = rows.iter().map(|r| r.1).sum();
    assert_eq!(sent, input.len() as u64);
}

#[test]
fn joblog_send_counts_a_block_the_job_did_not_read() {
    // One block (`seq 100000` is 588895 bytes), far more than a pipe holds, and
    // a job that reads none of it: GNU parallel's Send is still the block's
    // length (it counts what it hands out), with the job killed by SIGPIPE.
    let sb = Sandbox::new();
    let run = sb.run(
        ["--pipe", "--block", "1M", "--joblog", "log", "--", "exit 0"],
        seq(100_000),
    );
    run.assert_code(1);
    assert_eq!(sizes(&sb.read_string("log")), [(1, 588_895, 0, 0, 13)]);
}

#[test]
fn joblog_send_of_a_retried_job_is_one_block_and_receive_its_last_attempt() {
    // Attempt k of a job prints k lines "t\n" and succeeds at the third: the row
    // is the last attempt's, Send its block once (GNU parallel 20221122 writes
    // the same), not three times, Receive 6 bytes, not 2 + 4 + 6.
    let sb = Sandbox::new();
    let script = "cat > /dev/null; echo t >> tries.{#}; cat tries.{#}; \
                  test $(wc -l < tries.{#}) -ge 3";
    let run = sb.run(
        [
            "--pipe",
            "-N",
            "5",
            "--retries",
            "3",
            "--joblog",
            "log",
            "--",
            script,
        ],
        seq(12),
    );
    run.assert_code(0);
    assert_eq!(
        sizes(&sb.read_string("log")),
        [(1, 10, 6, 0, 0), (2, 11, 6, 0, 0), (3, 6, 6, 0, 0)]
    );
}

#[test]
fn retries_resend_the_same_block() {
    let sb = Sandbox::new();
    let input = lines(2000);
    // The first attempt of each job saves its block and fails; the second saves
    // it again and succeeds.
    let script = "f=seen.{#}; if [ -e $f.1 ]; then cat > $f.2; else cat > $f.1; exit 1; fi";
    let run = sb.run(
        ["--pipe", "--block", "2k", "--retries", "2", "--", script],
        &input,
    );
    run.assert_code(0);
    let mut n = 1;
    let mut joined = Vec::new();
    while sb.exists(&format!("seen.{n}.1")) {
        let first = sb.read(&format!("seen.{n}.1"));
        assert_eq!(first, sb.read(&format!("seen.{n}.2")), "job {n}");
        joined.extend_from_slice(&first);
        n += 1;
    }
    assert!(n > 2);
    assert_eq!(joined, input);
}

#[test]
fn keep_order_prints_the_blocks_in_input_order() {
    let sb = Sandbox::new();
    let input = lines(5000);
    // The first block's job is the slowest: without -k its output comes last.
    let script = "if [ {#} -eq 1 ]; then sleep 1; fi; cat";
    let run = sb.run(
        ["--pipe", "-j", "4", "--block", "4k", "-k", "--", script],
        &input,
    );
    run.assert_code(0);
    assert_eq!(run.stdout, input);
}

#[test]
fn job_number_and_slot_placeholders_work() {
    let sb = Sandbox::new();
    let run = sb.run(
        [
            "--pipe",
            "-j",
            "2",
            "-N",
            "1",
            "-k",
            "--",
            "cat >/dev/null; echo {#} {%}",
        ],
        "a\nb\nc\n",
    );
    run.assert_code(0);
    let out = run.stdout_str();
    let rows: Vec<(&str, &str)> = out.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert!(rows.iter().all(|r| r.1 == "1" || r.1 == "2"), "{out}");
}

#[test]
fn usage_errors_name_what_to_write() {
    let sb = Sandbox::new();
    for (args, message) in [
        (
            &["--pipe", "-S", "host", "wc"][..],
            "--pipe does not work with -S/--slurm yet: ",
        ),
        (
            &["--pipe", "echo", "{}"],
            "--pipe gives each job its block on standard input",
        ),
        (&["--pipe"], "--pipe needs a command"),
        (&["--block", "1M", "--", "wc"], "--pipe"),
    ] {
        let run = sb.run(args, "x\n");
        run.assert_code(2);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

/// Peak resident memory, in KiB, of the children this process waited for.
fn children_max_rss_kib() -> i64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    usage.max_rss()
}

#[test]
fn memory_stays_bounded_when_jobs_are_slower_than_the_input() {
    // 256 MiB of input through jobs that each take a moment: atp-run must hold
    // back the reader, not the input. Its peak is a few blocks (about 18 MiB in a
    // debug build); without the bound on blocks waiting for a worker it passes 64.
    const INPUT: u64 = 256 << 20;
    let script = format!(
        "yes 0123456789abcdef | head -c {INPUT} | exec {} --pipe --block 1M -j 2 -- 'sleep 0.01; wc -l'",
        bin().display()
    );
    let run = Run::of(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null())
            .env_remove("RUST_LOG"),
    );
    run.assert_code(0);
    let lines: u64 = run
        .stdout_str()
        .lines()
        .map(|l| l.trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(lines, INPUT / 17);
    let peak = children_max_rss_kib();
    assert!(
        peak < 48 << 10,
        "peak RSS {peak} KiB for {} KiB of input",
        INPUT >> 10
    );
}

#[test]
fn reading_blocks_from_a_terminal_says_so() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut child = sb
        .command(["-q", "--pipe", "wc", "-l"])
        .stdin(Stdio::from(pty.slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn atp-run");
    let mut master = std::fs::File::from(pty.master);
    // Two lines, then Ctrl-D at the start of a line: end of input.
    master.write_all(b"a\nb\n\x04").unwrap();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    assert_eq!(stdout.trim(), "2");
    assert_eq!(
        stderr,
        "atp-run: reading the --pipe input from the terminal (standard input); end with \
         Ctrl-D, or pipe it in\n"
    );
    drop(master);
}
