//! CLI tests of GNU parallel's input sources and arguments per job: `:::`,
//! `::::`, `-a`, products, `--link`, `:::+`, `{1}`…, `--colsep`, `--header`,
//! `-n`/`-N`/`-L`/`-X`/`-m`/`-s`, `-I`, `--quote`, `--tag`.
//!
//! Each `gnu_*` test is an example of GNU parallel's tutorial (parallel_tutorial)
//! or man page; the expected output is what GNU parallel 20221122 printed for the
//! same command line with `-j1 -k`, written down here (GNU parallel is never run
//! by the tests).
#![cfg(feature = "cli")]

mod common;

use common::sandbox::Sandbox;

/// Runs `atp-run -q -k args` with `stdin`; expects success; returns stdout.
fn out(sb: &Sandbox, args: &[&str], stdin: &str) -> String {
    let mut all = vec!["-q", "-k"];
    all.extend_from_slice(args);
    let run = sb.run(&all, stdin);
    run.assert_code(0);
    run.stdout_str()
}

/// The tutorial's input files.
fn tutorial() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("abc-file", "A\nB\nC\n");
    sb.write("tsv-file.tsv", "f1\tf2\nA\tB\nC\tD\n");
    sb
}

#[test]
fn gnu_one_source_on_the_command_line_from_a_file_and_from_stdin() {
    let sb = tutorial();
    assert_eq!(
        out(&sb, &["--", "echo", ":::", "A", "B", "C"], ""),
        "A\nB\nC\n"
    );
    assert_eq!(out(&sb, &["-a", "abc-file", "--", "echo"], ""), "A\nB\nC\n");
    assert_eq!(
        out(&sb, &["--", "echo", "::::", "abc-file"], ""),
        "A\nB\nC\n"
    );
    assert_eq!(out(&sb, &["--", "echo", "::::", "-"], "A\nB\n"), "A\nB\n");
    // Without a template, the values are the commands (parallel ::: 'echo a').
    assert_eq!(out(&sb, &[":::", "echo a", "echo b"], ""), "a\nb\n");
}

#[test]
fn gnu_every_combination_of_several_sources() {
    let sb = tutorial();
    let expected = "A D\nA E\nA F\nB D\nB E\nB F\nC D\nC E\nC F\n";
    let args = ["--", "echo", ":::", "A", "B", "C", ":::", "D", "E", "F"];
    assert_eq!(out(&sb, &args, ""), expected);
    let expected = "A A\nA B\nA C\nB A\nB B\nB C\nC A\nC B\nC C\n";
    assert_eq!(
        out(&sb, &["-a", "abc-file", "-a", "abc-file", "--", "echo"], ""),
        expected
    );
    let args = ["--", "echo", "{2}", "{1}", ":::", "A", "B", ":::", "C", "D"];
    assert_eq!(out(&sb, &args, ""), "C A\nD A\nC B\nD B\n");
}

#[test]
fn gnu_link_recycles_and_plus_stops_at_the_shorter() {
    let sb = Sandbox::new();
    let args = [
        "--link", "--", "echo", ":::", "A", "B", "C", "D", "E", ":::", "F", "G",
    ];
    assert_eq!(out(&sb, &args, ""), "A F\nB G\nC F\nD G\nE F\n");
    let args = [
        "--", "echo", ":::", "A", "B", "C", "D", "E", ":::+", "F", "G",
    ];
    assert_eq!(out(&sb, &args, ""), "A F\nB G\n");
}

#[test]
fn gnu_sources_mix_with_stdin_and_files_as_sources() {
    let sb = tutorial();
    let args = ["--", "echo", "::::", "-", ":::", "1", "2"];
    assert_eq!(out(&sb, &args, "x\ny\n"), "x 1\nx 2\ny 1\ny 2\n");
    // FILE operands are the first source.
    let args = ["abc-file", "--", "echo", ":::", "1"];
    assert_eq!(out(&sb, &args, ""), "A 1\nB 1\nC 1\n");
    // With a ::: source and no FILE, standard input is not read.
    assert_eq!(
        out(&sb, &["--", "echo", ":::", "only"], "ignored\n"),
        "only\n"
    );
}

#[test]
fn gnu_empty_sources() {
    let sb = Sandbox::new();
    // An empty source next to one with values is one empty value; alone, no job.
    assert_eq!(out(&sb, &["--", "echo", ":::", ":::", "a"], ""), " a\n");
    let run = sb.run(["--", "echo", ":::"], "");
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "");
}

#[test]
fn gnu_null_separated_file_with_args() {
    let sb = Sandbox::new();
    sb.write("nul", "a b\0c\n d\0");
    let args = ["-0", "--", "echo", "::::", "nul", ":::", "x"];
    assert_eq!(out(&sb, &args, ""), "a b x\nc\n d x\n");
}

#[test]
fn gnu_positional_placeholders_with_modifiers() {
    let sb = Sandbox::new();
    let args = [
        "--", "echo", "/={1/}", "//={1//}", "/.={1/.}", ".={1.}", ":::", "A/B.C", "D/E.F",
    ];
    assert_eq!(
        out(&sb, &args, ""),
        "/=B.C //=A /.=B .=A/B\n/=E.F //=D /.=E .=D/E\n"
    );
}

#[test]
fn gnu_colsep_and_header() {
    let sb = tutorial();
    let args = [
        "--colsep",
        "\t",
        "--",
        "echo",
        "1={1}",
        "2={2}",
        "::::",
        "tsv-file.tsv",
    ];
    assert_eq!(out(&sb, &args, ""), "1=f1 2=f2\n1=A 2=B\n1=C 2=D\n");
    let args = [
        "--header",
        ":",
        "--colsep",
        "\t",
        "--",
        "echo",
        "f1={f1}",
        "f2={f2}",
        "::::",
        "tsv-file.tsv",
    ];
    assert_eq!(out(&sb, &args, ""), "f1=A f2=B\nf1=C f2=D\n");
    let args = [
        "--header", ":", "--", "echo", "f1={f1}", "f2={f2}", ":::", "f1", "A", "B", ":::", "f2",
        "C", "D",
    ];
    assert_eq!(
        out(&sb, &args, ""),
        "f1=A f2=C\nf1=A f2=D\nf1=B f2=C\nf1=B f2=D\n"
    );
    let args = [
        "--header",
        "1",
        "--colsep",
        "\t",
        "--",
        "echo",
        "{2}-{1}",
        "::::",
        "tsv-file.tsv",
    ];
    assert_eq!(out(&sb, &args, ""), "B-A\nD-C\n");
}

#[test]
fn gnu_several_arguments_per_job() {
    let sb = Sandbox::new();
    let abc = [":::", "A", "B", "C", "D", "E", "F", "G"];
    let with = |flags: &[&str]| -> Vec<String> {
        flags.iter().chain(&abc).map(|s| (*s).to_owned()).collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        out(&sb, &args, "")
    };
    assert_eq!(
        run(with(&["-j1", "-X", "--", "echo", "pre-{}-post"])),
        "pre-A-post pre-B-post pre-C-post pre-D-post pre-E-post pre-F-post pre-G-post\n"
    );
    assert_eq!(
        run(with(&["-j1", "-m", "--", "echo", "pre-{}-post"])),
        "pre-A B C D E F G-post\n"
    );
    assert_eq!(run(with(&["-N3", "--", "echo"])), "A B C\nD E F\nG\n");
    assert_eq!(
        run(with(&["-N3", "--", "echo", "1={1}", "2={2}", "3={3}"])),
        "1=A 2=B 3=C\n1=D 2=E 3=F\n1=G 2= 3=\n"
    );
    assert_eq!(run(with(&["-n", "3", "--", "echo"])), "A B C\nD E F\nG\n");
    assert_eq!(
        out(&sb, &["-L2", "--", "echo", ":::", "a", "b", "c"], ""),
        "a b\nc\n"
    );
    assert_eq!(
        out(
            &sb,
            &["-n2", "-X", "--", "echo", "x{}y", ":::", "a", "b", "c"],
            ""
        ),
        "xay xby\nxcy\n"
    );
    // From standard input, as xargs -n.
    assert_eq!(
        out(&sb, &["-n", "2", "--", "echo"], "1\n2\n3\n"),
        "1 2\n3\n"
    );
}

#[test]
fn max_chars_packs_jobs_to_the_length() {
    let sb = Sandbox::new();
    // "echo " + 20 args of "ab" quoted-length estimate: each job stays under 20 bytes.
    let args: Vec<String> = ["-s", "20", "--", "echo", ":::"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain((0..12).map(|i| format!("a{i:02}")))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = out(&sb, &args, "");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > 1 && lines.len() < 12, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.len() + "echo ".len() <= 20),
        "{lines:?}"
    );
    assert_eq!(stdout.split_whitespace().count(), 12);
}

#[test]
fn job_numbers_and_tags_count_jobs_not_arguments() {
    let sb = Sandbox::new();
    let args = ["-N2", "--", "echo", "{#}", "{}", ":::", "a", "b", "c"];
    assert_eq!(out(&sb, &args, ""), "1 a b\n2 c\n");
    // GNU parallel --tag: a job's arguments, the values of a row tab-separated.
    assert_eq!(
        out(&sb, &["--tag", "--", "echo", ":::", "A", "B"], ""),
        "A\tA\nB\tB\n"
    );
    let args = ["--tag", "--", "echo", ":::", "a", ":::", "b", "c"];
    assert_eq!(out(&sb, &args, ""), "a\tb\ta b\na\tc\ta c\n");
    let args = ["-n2", "--tag", "--", "echo", ":::", "a", "b", "c"];
    assert_eq!(out(&sb, &args, ""), "a b\ta b\nc\tc\n");
    let log = sb.join("log");
    let args = [
        "-n2",
        "--joblog",
        log.to_str().unwrap(),
        "--",
        "true",
        ":::",
        "a",
        "b",
        "c",
    ];
    out(&sb, &args, "");
    assert_eq!(
        sb.read_string("log").lines().count(),
        3,
        "a header and 2 jobs"
    );
}

#[test]
fn gnu_replace_string_and_quote() {
    let sb = Sandbox::new();
    assert_eq!(
        out(&sb, &["-I", ",,", "--", "echo", ",,", ":::", "A/B.C"], ""),
        "A/B.C\n"
    );
    let args = ["-I", "%", "--", "echo", "%-{}", ":::", "x"];
    assert_eq!(out(&sb, &args, ""), "x-{}\n");
    let args = ["--quote", "--", "sh", "-c", "echo \"$0|$1\"", ":::", "a b"];
    assert_eq!(out(&sb, &args, ""), "a b|\n");
    // Without --quote the words are shell code: the | is a pipe.
    let args = ["--", "echo", "{}|tr", "a-z", "A-Z", ":::", "x"];
    assert_eq!(out(&sb, &args, ""), "X\n");
    let args = ["--quote", "--", "echo", "a|tr", "a-z", "A-Z", ":::", "x"];
    assert_eq!(out(&sb, &args, ""), "a|tr a-z A-Z x\n");
}

#[test]
fn values_after_a_marker_are_values_not_options() {
    let sb = Sandbox::new();
    let args = [
        "--",
        "printf '[%s]\\n'",
        ":::",
        "-n",
        "{}",
        "$(touch PWNED)",
    ];
    assert_eq!(out(&sb, &args, ""), "[-n]\n[{}]\n[$(touch PWNED)]\n");
    assert!(!sb.exists("PWNED"));
}

#[test]
fn gnu_job_counts_relative_to_the_cores() {
    let sb = Sandbox::new();
    for jobs in ["0", "100%", "+1", "-0"] {
        let args = ["-j", jobs, "--", "echo", ":::", "a", "b"];
        assert_eq!(out(&sb, &args, ""), "a\nb\n", "-j {jobs}");
    }
}

#[test]
fn dry_run_prints_each_jobs_command_and_tag() {
    let sb = Sandbox::new();
    let args = ["--dry-run", "-N2", "--", "echo", ":::", "a b", "c", "d"];
    assert_eq!(out(&sb, &args, ""), "echo 'a b' c\necho d\n");
    let args = [
        "--dry-run",
        "--tag",
        "--",
        "echo",
        "{2}",
        ":::",
        "x",
        ":::",
        "1",
        "2",
    ];
    assert_eq!(out(&sb, &args, ""), "x\t1\techo 1\nx\t2\techo 2\n");
}

#[test]
fn gnu_replacement_strings_can_be_renamed() {
    let sb = Sandbox::new();
    // parallel --er EXT --bnr BN --dnr DN --bner BNE --seqreplace SQ --slotreplace SL
    let args = [
        "-j1",
        "--er",
        "EXT",
        "--bnr",
        "BN",
        "--dnr",
        "DN",
        "--bner",
        "BNE",
        "--seqreplace",
        "SQ",
        "--slotreplace",
        "SL",
        "--",
        "echo",
        "EXT",
        "BN",
        "DN",
        "BNE",
        "SQ",
        "SL",
        ":::",
        "a/b.c",
    ];
    assert_eq!(out(&sb, &args, ""), "a/b b.c a b 1 1\n");
    // The placeholder renamed is plain text then (GNU: parallel --er EXT echo {.} EXT ::: a.b).
    let args = ["--er", "EXT", "--", "echo", "{.}", "EXT", ":::", "a.b"];
    assert_eq!(out(&sb, &args, ""), "{.} a\n");
}

#[test]
fn csv_fields_may_hold_commas_quotes_and_newlines() {
    let sb = Sandbox::new();
    sb.write(
        "people.csv",
        "name,note\n\"Smith, J\",\"say \"\"hi\"\"\"\nplain,\"two\nlines\"\n",
    );
    let args = [
        "--csv",
        "--",
        "echo",
        "[{2}]",
        "[{1}]",
        "::::",
        "people.csv",
    ];
    assert_eq!(
        out(&sb, &args, ""),
        "[note] [name]\n[say \"hi\"] [Smith, J]\n[two\nlines] [plain]\n"
    );
    let args = [
        "--header",
        ":",
        "--csv",
        "--",
        "echo",
        "{note}",
        "::::",
        "people.csv",
    ];
    assert_eq!(out(&sb, &args, ""), "say \"hi\"\ntwo\nlines\n");
}
