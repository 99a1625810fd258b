//! The `--pipe` half of the command line, validated: the block rule, the record
//! separators, the header, the one input stream and the command.
//!
//! Invariant: every mistake is a one-line usage error naming the flag and what to
//! write, found before anything is read.

use crate::cli::Cli;
use crate::run::input::arg_sources::{Operands, SourceKind};
use crate::run::input::pipe::{DEFAULT_BLOCK, PipeSettings, decode_escapes};
use crate::run::input::template::{Template, TemplateOptions};

/// The `--pipe` settings and the command template, if `--pipe` is given.
///
/// # Errors
/// A one-line usage error.
pub fn from_cli(cli: &mut Cli) -> Result<Option<(PipeSettings, Template)>, String> {
    if !cli.pipe {
        return Ok(None);
    }
    if !cli.sshlogin.is_empty() || !cli.sshloginfile.is_empty() || cli.slurm.is_some() {
        return Err(
            "--pipe does not work with -S/--slurm yet: there a job's standard input \
                    carries the connection's control channel; run --pipe here, or split \
                    the input into files and pass their names as arguments"
                .into(),
        );
    }
    let block = cli.block.unwrap_or(DEFAULT_BLOCK);
    let block = usize::try_from(block)
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| {
            format!("--block {block} does not work: give at least 1 byte, e.g. --block 1M")
        })?;
    let (recend, recstart) = match (cli.null, &cli.recend, &cli.recstart) {
        (true, Some(_), _) => {
            return Err("-0 means --recend '\\0' with --pipe: give one of them, not both".into());
        }
        (true, None, start) => (vec![0], start.as_deref().map(decode_escapes)),
        (false, end, start) => (
            // GNU: --recstart alone means no recend; neither means newline.
            end.as_deref()
                .map(decode_escapes)
                .unwrap_or_else(|| match start {
                    Some(_) => Vec::new(),
                    None => b"\n".to_vec(),
                }),
            start.as_deref().map(decode_escapes),
        ),
    };
    let header_lines = match cli.header.as_deref() {
        None => 0,
        Some(":") => 1,
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n
            .parse()
            .map_err(|_| format!("--header {n} is too large"))?,
        Some(other) => {
            return Err(format!(
                "--header '{other}' is not supported with --pipe: use --header : (the first \
                 line starts every block) or --header N (the first N lines)"
            ));
        }
    };
    let operands = Operands::split(
        std::mem::take(&mut cli.files),
        std::mem::take(&mut cli.template),
        std::mem::take(&mut cli.arg_files),
    );
    let mut input = None;
    for source in operands.sources {
        match source.kind {
            SourceKind::File(path) if input.is_none() => input = Some(path),
            SourceKind::File(_) => {
                return Err(
                    "--pipe reads one stream: give at most one -a FILE or :::: FILE \
                            (or cat the files into it)"
                        .into(),
                );
            }
            SourceKind::Args(_) => {
                return Err(
                    "--pipe cuts a stream into blocks, it takes no ::: values: pipe \
                            the data in, or give -a FILE"
                        .into(),
                );
            }
        }
    }
    // GNU's order: the command comes first (`atp-run --pipe wc -l`); after `--`
    // it is the template as usual.
    let words: Vec<_> = operands
        .files
        .into_iter()
        .map(std::path::PathBuf::into_os_string)
        .chain(operands.template)
        .collect();
    if words.is_empty() {
        return Err(
            "--pipe needs a command to give the blocks to: seq 10 | atp-run --pipe wc -l".into(),
        );
    }
    let renamed: Vec<(Vec<u8>, &'static [u8])> =
        [(&cli.seqreplace, &b"#"[..]), (&cli.slotreplace, b"%")]
            .into_iter()
            .filter_map(|(custom, builtin)| Some((custom.clone()?.into_bytes(), builtin)))
            .filter(|(custom, _)| !custom.is_empty())
            .collect();
    let options = TemplateOptions {
        renamed,
        quote: cli.quote,
        ..TemplateOptions::default()
    };
    let template = Template::parse_with(&words, &options)
        .map_err(|e| e.to_string())?
        .for_pipe()?;
    let settings = PipeSettings {
        block,
        recend,
        recstart: recstart.unwrap_or_default(),
        records: cli.max_replace_args.or(cli.max_args),
        header_lines,
        input,
    };
    Ok(Some((settings, template)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Option<(PipeSettings, Template)>, String> {
        let mut cli = Cli::try_parse_from(["atp-run"].iter().chain(args)).unwrap();
        from_cli(&mut cli)
    }

    fn settings(args: &[&str]) -> PipeSettings {
        parse(args).unwrap().unwrap().0
    }

    #[test]
    fn defaults_are_gnu_parallels() {
        let s = settings(&["--pipe", "--", "wc", "-l"]);
        assert_eq!(
            s,
            PipeSettings {
                block: 1 << 20,
                recend: b"\n".to_vec(),
                recstart: Vec::new(),
                records: None,
                header_lines: 0,
                input: None,
            }
        );
        assert!(parse(&["--", "wc"]).unwrap().is_none());
    }

    #[test]
    fn separators_sizes_counts_and_headers() {
        // GNU's units: k is 1000, K is 1024.
        let s = settings(&["--pipe", "--block", "10k", "--recstart", ">", "wc"]);
        assert_eq!(
            (s.block, &s.recend[..], &s.recstart[..]),
            (10_000, &b""[..], &b">"[..])
        );
        assert_eq!(
            settings(&["--pipe", "--block", "10K", "wc"]).block,
            10 << 10
        );
        let s = settings(&["--pipe", "--recend", "\\n\\n", "--recstart", "x", "wc"]);
        assert_eq!((&s.recend[..], &s.recstart[..]), (&b"\n\n"[..], &b"x"[..]));
        let s = settings(&["--pipe", "-0", "-N", "3", "--header", ":", "wc"]);
        assert_eq!(
            (&s.recend[..], s.records, s.header_lines),
            (&b"\0"[..], Some(3), 1)
        );
        let s = settings(&["--pipe", "-n", "2", "--header", "3", "-a", "in.txt", "wc"]);
        assert_eq!((s.records, s.header_lines), (Some(2), 3));
        assert_eq!(s.input.as_deref(), Some(std::path::Path::new("in.txt")));
        let s = settings(&["--pipe", "wc", "::::", "in.txt"]);
        assert_eq!(s.input.as_deref(), Some(std::path::Path::new("in.txt")));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |args: &[&str]| parse(args).unwrap_err();
        assert!(
            err(&["--pipe", "-S", "host", "wc"])
                .starts_with("--pipe does not work with -S/--slurm yet: ")
        );
        assert!(err(&["--pipe", "--block", "0", "wc"]).starts_with("--block 0 does not work"));
        assert!(err(&["--pipe", "-0", "--recend", "x", "wc"]).starts_with("-0 means --recend"));
        assert!(
            err(&["--pipe", "--header", "x", "wc"])
                .starts_with("--header 'x' is not supported with --pipe")
        );
        assert!(err(&["--pipe", "wc", ":::", "a"]).contains("takes no ::: values"));
        assert!(
            err(&["--pipe", "-a", "x", "-a", "y", "wc"]).starts_with("--pipe reads one stream")
        );
        assert!(err(&["--pipe"]).starts_with("--pipe needs a command"));
        assert!(err(&["--pipe", "echo", "{}"]).starts_with("--pipe gives each job"));
    }
}
