//! The man page (`man/atp-run.1`) and the shell completions (`completions/`) are
//! generated from `atp::cli::command()` and committed, so that packagers and users
//! get them without building. This test regenerates them and fails when a committed
//! file differs, saying how to refresh it:
//!
//! ```sh
//! ATP_REGENERATE=1 cargo test --test generated_docs
//! ```
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

use atp::cli;

/// The man page: clap_mangen's title, name, synopsis, description and options,
/// then our own PLACEHOLDERS, EXAMPLES, EXIT STATUS, PROGRESS AND STATUS LINES,
/// SIGNALS, ENVIRONMENT and SEE ALSO sections
/// (from the same text `--help` shows), then the version.
fn man_page() -> Vec<u8> {
    let man = clap_mangen::Man::new(cli::command());
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    for (title, body) in [
        ("PLACEHOLDERS", cli::PLACEHOLDERS),
        ("EXAMPLES", cli::EXAMPLES),
        ("COMING FROM GNU PARALLEL / XARGS", cli::COMING_FROM_GNU),
        ("EXIT STATUS", cli::EXIT_STATUS),
        ("PROGRESS AND STATUS LINES", cli::DISPLAY),
        ("SIGNALS", cli::SIGNALS),
        ("ENVIRONMENT", cli::ENVIRONMENT),
        (
            "SEE ALSO",
            "  parallel(1), xargs(1), sh(1). The atp library documentation: \
             cargo doc --open",
        ),
    ] {
        write_section(&mut out, title, body);
    }
    man.render_version_section(&mut out).unwrap();
    out
}

/// A section of preformatted text (the bodies are laid out for a terminal already).
fn write_section(out: &mut Vec<u8>, title: &str, body: &str) {
    writeln!(out, ".SH \"{title}\"\n.nf").unwrap();
    for line in body.lines() {
        let line = line.strip_prefix("  ").unwrap_or(line);
        let escaped = line.replace('\\', "\\e").replace('-', "\\-");
        if escaped.starts_with('.') || escaped.starts_with('\'') {
            out.extend_from_slice(b"\\&");
        }
        writeln!(out, "{escaped}").unwrap();
    }
    out.extend_from_slice(b".fi\n");
}

fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli::command(), "atp-run", &mut out);
    out
}

fn expected_files() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![(root.join("man/atp-run.1"), man_page())];
    for (shell, name) in [
        (Shell::Bash, "atp-run.bash"),
        (Shell::Zsh, "_atp-run"),
        (Shell::Fish, "atp-run.fish"),
        (Shell::Elvish, "atp-run.elv"),
        (Shell::PowerShell, "_atp-run.ps1"),
    ] {
        files.push((root.join("completions").join(name), completions(shell)));
    }
    files
}

#[test]
fn committed_man_page_and_completions_are_fresh() {
    let regenerate = std::env::var_os("ATP_REGENERATE").is_some();
    let mut stale = Vec::new();
    for (path, expected) in expected_files() {
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(expected.as_slice()) {
            continue;
        }
        if regenerate {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &expected).unwrap();
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are stale or missing: {stale:?}\n\
         refresh them with `ATP_REGENERATE=1 cargo test --test generated_docs` and commit them"
    );
}

#[test]
fn the_man_page_has_the_sections_users_look_for() {
    let page = String::from_utf8(man_page()).unwrap();
    for section in [
        "SYNOPSIS",
        "OPTIONS",
        "EXAMPLES",
        "COMING FROM GNU PARALLEL / XARGS",
        "EXIT STATUS",
        "SIGNALS",
        "ENVIRONMENT",
        "PLACEHOLDERS",
        "PROGRESS AND STATUS LINES",
    ] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    // The shape that avoids the "forgot --" mistake: files, then -- and the
    // template, each repeatable.
    assert!(
        page.contains("[FILE]... [\\-\\- TEMPLATE...]"),
        "synopsis: {}",
        page.lines()
            .skip_while(|l| !l.contains("SYNOPSIS"))
            .nth(1)
            .unwrap_or("")
    );
    assert!(page.contains("\\-\\-repeat"), "options are listed");
}

#[test]
fn short_help_lists_the_placeholders_and_the_usage_shows_the_double_dash() {
    let help = cli::command().render_help().to_string();
    for placeholder in ["{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}"] {
        assert!(
            help.contains(placeholder),
            "-h lacks {placeholder}:\n{help}"
        );
    }
    assert!(help.contains("Usage: atp-run [OPTIONS] [FILE]... [-- TEMPLATE...]"));
}
