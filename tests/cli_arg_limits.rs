//! The kernel's command-line limits: `-X` and `-m` fill jobs up to them and
//! never fail with E2BIG, and one command longer than the 128 KiB a single
//! argument may have still runs.
#![cfg(feature = "cli")]

mod common;

use common::sandbox::Sandbox;

/// 200,000 file names of 100 bytes each: 20 MB of arguments, some 150 times
/// what one command line may hold.
fn long_names() -> String {
    (0..200_000)
        .map(|i| format!("{i:06}-{}\n", "n".repeat(93)))
        .collect()
}

#[test]
fn context_replace_packs_200000_long_names_without_e2big() {
    let sb = Sandbox::new();
    // Each job execs a second shell with every name as an argument: that exec
    // is the one E2BIG would hit. It prints how many it got.
    let run = sb.run(
        [
            "-q",
            "-j",
            "2",
            "-X",
            "--",
            "sh",
            "-c",
            "'echo $#'",
            "count",
            "{}",
        ],
        long_names(),
    );
    run.assert_code(0);
    let counts: Vec<usize> = run
        .stdout_str()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 200_000);
    // Packed: about 128 KiB per job, so far fewer jobs than names, every job
    // full (within one name of the largest) but the last two, which share the
    // rest between the 2 job slots (as GNU parallel does).
    assert!(counts.len() < 200, "{} jobs", counts.len());
    let largest = *counts.iter().max().unwrap();
    assert!(largest > 1000, "{largest} names in the fullest job");
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    assert!(
        sorted[2] + 1 >= largest,
        "only two jobs may be short: {sorted:?}"
    );
    assert!(
        sorted[1] - sorted[0] <= 1,
        "the last two share the rest: {sorted:?}"
    );
}

#[test]
fn multiple_packs_without_e2big_too() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["-q", "-m", "--", "sh", "-c", "'echo $#'", "count", "{}"],
        long_names(),
    );
    run.assert_code(0);
    let total: usize = run
        .stdout_str()
        .lines()
        .map(|l| l.parse::<usize>().unwrap())
        .sum();
    assert_eq!(total, 200_000);
}

#[test]
fn a_command_longer_than_one_argument_may_be_still_runs() {
    let sb = Sandbox::new();
    // A generated 200 KB command line: sh -c would fail with E2BIG.
    let command = format!("echo {} | wc -c\n", "y".repeat(200_000));
    let run = sb.run(["-q"], command);
    run.assert_code(0);
    assert_eq!(run.stdout_str().trim(), "200001");
}
