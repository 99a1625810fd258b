//! Never silent: command lines that look like an idiom atp-run does not take
//! (or takes differently) fail with one line naming it and what to write, exit
//! status 2, before any job runs — and reading commands from a terminal says so.
#![cfg(feature = "cli")]

mod common;

use std::io::{Read, Write};
use std::process::Stdio;

use common::sandbox::Sandbox;

/// Runs `atp-run args`, expects exit status 2, nothing run, and returns stderr.
fn usage_error(sb: &Sandbox, args: &[&str], stdin: &str) -> String {
    let run = sb.run(args, stdin);
    run.assert_code(2);
    assert_eq!(run.stdout_str(), "", "no job may run");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    run.stderr
}

#[test]
fn an_out_of_range_placeholder_is_named() {
    let sb = Sandbox::new();
    assert_eq!(
        usage_error(&sb, &["--", "echo", "{2}", "{1}"], "a b\n"),
        "atp-run: placeholder {2} is out of range: there is only 1 input source: give more \
         with ::: or ::::, split lines into columns with --colsep, or take several lines per \
         job with -N\n"
    );
    assert_eq!(
        usage_error(&sb, &["--", "echo", "{3}", ":::", "a", ":::", "b"], ""),
        "atp-run: placeholder {3} is out of range: there are only 2 input sources: give more \
         with ::: or ::::, or split lines with --colsep\n"
    );
    assert!(
        usage_error(&sb, &["-N2", "--", "echo", "{3}"], "a\n")
            .contains("{3} is out of range: there are only 2 arguments per job")
    );
    assert!(usage_error(&sb, &["--", "echo", "{0}"], "a\n").contains("numbering starts at {1}"));
}

#[test]
fn with_colsep_a_line_with_too_few_columns_is_named() {
    let sb = Sandbox::new();
    let run = sb.run(["--colsep", ",", "--", "echo", "{3}"], "a,b\n");
    run.assert_code(2);
    assert_eq!(run.stdout_str(), "");
    assert!(
        run.stderr
            .contains("input row 1 has 2 columns but the template uses {3}"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_placeholders_are_named_and_shell_code_is_not() {
    let sb = Sandbox::new();
    for bad in ["{1x}", "{..}", "{+/}", "{=uc=}"] {
        let err = usage_error(&sb, &["--", "echo", bad], "a\n");
        assert!(err.contains(bad), "{err}");
    }
    // GNU parallel leaves {foo} alone (awk and shell code use braces); so do we
    // without --header.
    let run = sb.run(["-q", "--", "echo", "{foo}", "${HOME+set}"], "a\n");
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "{foo} set a\n");
    let run = sb.run(
        ["-q", "--", "echo", "{}", "|", "awk", "'{print $2}'"],
        "x y\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "y\n");
    // With --header, {name} must name a column.
    assert_eq!(
        usage_error(
            &sb,
            &["--header", ":", "--", "echo", "{nmae}", ":::", "name", "a"],
            ""
        ),
        "atp-run: placeholder {nmae} names no column of the --header: the columns are {name}\n"
    );
}

#[test]
fn a_command_where_a_file_goes_says_to_put_it_after_the_double_dash() {
    let sb = Sandbox::new();
    assert_eq!(
        usage_error(&sb, &["echo", "{}"], "1\n2\n"),
        "atp-run: input file 'echo' does not exist; to run a command on each line, put it \
         after --: atp-run -- echo {}\n"
    );
    // A missing file that is no command keeps the plain message.
    assert_eq!(
        usage_error(&sb, &["no-such-list.txt"], ""),
        "atp-run: input file 'no-such-list.txt' does not exist\n"
    );
}

#[test]
fn an_unknown_option_is_not_told_to_go_after_the_double_dash_as_a_value() {
    let sb = Sandbox::new();
    let err = usage_error(&sb, &["--frobnicate", "-", "--", "echo"], "");
    assert_eq!(
        err,
        "atp-run: unknown option '--frobnicate': if it is meant for the command, put the \
         command after --, as in: atp-run [OPTIONS] -- COMMAND --frobnicate {}\n"
    );
    assert!(!err.contains("as a value"));
    assert_eq!(
        usage_error(&sb, &["-P", "4"], ""),
        "atp-run: unknown option '-P': xargs -P N is -j N (or --max-workers N) here\n"
    );
}

#[test]
fn reading_from_a_terminal_says_so() {
    let sb = Sandbox::new();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut child = sb
        .command(["-q"])
        .stdin(Stdio::from(pty.slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn atp-run");
    let mut master = std::fs::File::from(pty.master);
    // A command, then Ctrl-D at the start of a line: end of input.
    master.write_all(b"echo typed\n\x04").unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    assert_eq!(stdout, "typed\n");
    assert_eq!(
        stderr,
        "atp-run: reading commands from the terminal (standard input), one per line; end with \
         Ctrl-D. To give them on the command line use ::: or ::::, or pipe them in\n"
    );
    drop(master);
}

#[test]
fn no_terminal_hint_when_input_is_piped_or_given() {
    let sb = Sandbox::new();
    let run = sb.run(["-q"], "echo piped\n");
    run.assert_code(0);
    assert_eq!(run.stderr, "");
}
