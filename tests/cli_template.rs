//! CLI tests of template mode (`atp-run -- TEMPLATE`): every placeholder, append
//! mode, and hostile input values that must stay arguments, never become code.
//! Outputs are compared byte for byte; `-j 1` keeps them in input order.
#![cfg(feature = "cli")]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::sandbox::Sandbox;

/// The template that prints each of its arguments in brackets on its own line.
const SHOW: &str = "printf '[%s]\\n'";

/// Runs `atp-run -j 1 [extra] -- template` on `input`; expects success, returns stdout.
fn render(sb: &Sandbox, extra: &[&str], template: &[&str], input: &[u8]) -> Vec<u8> {
    let mut args = vec!["-j", "1"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(template);
    let run = sb.run(&args, input);
    run.assert_code(0);
    run.stdout
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_placeholder_is_replaced() {
    let sb = Sandbox::new();
    let template = format!("{SHOW} {{}} {{.}} {{/}} {{//}} {{/.}} {{#}} {{%}}");
    let out = render(
        &sb,
        &[],
        &[&template],
        b"dir/sub/file.tar.gz\nplain\n/abs.d/x\n",
    );
    let expected = "\
[dir/sub/file.tar.gz]
[dir/sub/file.tar]
[file.tar.gz]
[dir/sub]
[file.tar]
[1]
[1]
[plain]
[plain]
[plain]
[.]
[plain]
[2]
[1]
[/abs.d/x]
[/abs.d/x]
[x]
[/abs.d]
[x]
[3]
[1]
";
    assert_eq!(show(&out), expected);
}

#[test]
fn template_words_are_joined_into_one_shell_command() {
    let sb = Sandbox::new();
    sb.write("input.txt", "some text\n");
    let out = render(&sb, &[], &["tr", "a-z", "A-Z", "<", "{}"], b"input.txt\n");
    assert_eq!(show(&out), "SOME TEXT\n");
}

#[test]
fn without_a_placeholder_the_value_is_appended() {
    let sb = Sandbox::new();
    let out = render(&sb, &[], &[SHOW, "first"], b"a b\n$(touch PWNED)\n");
    assert_eq!(show(&out), "[first]\n[a b]\n[first]\n[$(touch PWNED)]\n");
    assert!(!sb.exists("PWNED"), "an appended value ran as code");
}

#[test]
fn job_number_or_slot_alone_appends_nothing_as_in_gnu_parallel() {
    // `parallel echo {#} ::: a` prints `1`: a placeholder, even {#} or {%}, says
    // where the values go, so the record is not appended.
    let sb = Sandbox::new();
    let out = render(&sb, &[], &[SHOW, "{#}", "{%}"], b"x\ny\n");
    assert_eq!(show(&out), "[1]\n[1]\n[2]\n[1]\n");
    let out = render(&sb, &[], &[SHOW, "n{#}"], b"x\n");
    assert_eq!(show(&out), "[n1]\n");
}

#[test]
fn host_placeholders_give_the_local_machine_and_dry_run_shows_them_as_gnu_parallel() {
    // `parallel --plus echo {host} {sshlogin} ::: a` prints `: :` (this machine),
    // and --dry-run shows the variables the host is chosen into.
    let sb = Sandbox::new();
    let out = render(&sb, &[], &[SHOW, "{host}", "{sshlogin}"], b"x\n");
    assert_eq!(show(&out), "[:]\n[:]\n");
    let out = render(
        &sb,
        &["--dry-run"],
        &["echo", "{host}", "{sshlogin}"],
        b"x\n",
    );
    assert_eq!(
        show(&out),
        "echo ${PARALLEL_SSHHOST} ${PARALLEL_SSHLOGIN}\n"
    );
}

/// Values that would be code, or several words, if substituted unquoted.
const HOSTILE: &[&str] = &[
    "two words",
    "  leading and trailing  ",
    "it's",
    "say \"hi\"",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a; touch PWNED",
    "a && touch PWNED",
    "a | touch PWNED",
    "> PWNED",
    "-n",
    "--help",
    "*",
    "~",
    "$HOME",
    "${HOME}",
    "back\\slash",
    "'; touch PWNED; '",
    "\"; touch PWNED; \"",
    "{}",
    "#hash",
    "tab\there",
];

#[test]
fn hostile_values_are_single_arguments_never_code() {
    let sb = Sandbox::new();
    sb.write("decoy", ""); // so that an unquoted `*` would expand to something
    let input: String = HOSTILE.iter().map(|v| format!("{v}\n")).collect();
    let expected: String = HOSTILE.iter().map(|v| format!("[{v}]\n")).collect();

    let out = render(&sb, &[], &[&format!("{SHOW} {{}}")], input.as_bytes());
    assert_eq!(show(&out), expected, "{{}}");
    // {/} of a value without a '/' is the value itself.
    let out = render(&sb, &[], &[&format!("{SHOW} {{/}}")], input.as_bytes());
    assert_eq!(show(&out), expected, "{{/}}");
    // Append mode.
    let out = render(&sb, &[], &[SHOW], input.as_bytes());
    assert_eq!(show(&out), expected, "append mode");
    assert!(!sb.exists("PWNED"), "a value ran as code");
}

#[test]
fn hostile_values_in_derived_placeholders_stay_quoted() {
    let sb = Sandbox::new();
    let out = render(
        &sb,
        &[],
        &[&format!("{SHOW} {{.}} {{//}} {{/.}}")],
        b"$(touch PWNED)/`touch PWNED`;x.'y z'\n",
    );
    assert_eq!(
        show(&out),
        "[$(touch PWNED)/`touch PWNED`;x]\n[$(touch PWNED)]\n[`touch PWNED`;x]\n"
    );
    assert!(!sb.exists("PWNED"), "a value ran as code");
}

#[test]
fn nul_separated_values_with_newlines_are_single_arguments() {
    let sb = Sandbox::new();
    let out = render(
        &sb,
        &["-0"],
        &[&format!("{SHOW} {{}}")],
        b"line one\nline two\0\ntouch PWNED\n\0trailing newline\n\0",
    );
    assert_eq!(
        show(&out),
        "[line one\nline two]\n[\ntouch PWNED\n]\n[trailing newline\n]\n"
    );
    assert!(!sb.exists("PWNED"), "a line of a value ran as code");
}

#[test]
fn non_utf8_values_are_passed_byte_for_byte() {
    let sb = Sandbox::new();
    let out = render(
        &sb,
        &[],
        &[&format!("{SHOW} {{}} {{.}} {{/.}}")],
        b"d\xe9j\xe0/caf\xe9 \xff\xfe.txt\n",
    );
    assert_eq!(
        out,
        b"[d\xe9j\xe0/caf\xe9 \xff\xfe.txt]\n[d\xe9j\xe0/caf\xe9 \xff\xfe]\n[caf\xe9 \xff\xfe]\n"
    );
    // And with -0, where such names usually come from (`find -print0`).
    let out = render(&sb, &["-0"], &[SHOW], b"\xff'\xfe\0");
    assert_eq!(out, b"[\xff'\xfe]\n");
}

#[test]
fn values_are_arguments_of_a_real_program() {
    // The use case: files with awkward names, one job per file.
    let sb = Sandbox::new();
    let names: [&[u8]; 4] = [b"it's a file.txt", b"$(x).log", b"-dash", b"caf\xe9.txt"];
    std::fs::create_dir(sb.join("in")).unwrap();
    let mut input = Vec::new();
    for name in names {
        let path = sb.join("in").join(OsStr::from_bytes(name));
        std::fs::write(&path, name).unwrap();
        input.extend_from_slice(b"in/");
        input.extend_from_slice(name);
        input.push(0);
    }
    let run = sb.run(["-0", "--", "cp", "--", "{}", "{}.copy"], &input);
    run.assert_code(0);
    for name in names {
        let mut copy = name.to_vec();
        copy.extend_from_slice(b".copy");
        let path = sb.join("in").join(OsStr::from_bytes(&copy));
        assert_eq!(std::fs::read(&path).unwrap(), name, "{path:?}");
    }
}
