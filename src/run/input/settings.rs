//! The input half of the command line, validated: sources, `--colsep`,
//! `--header`, `--link`, the arguments-per-job flags, and the template they
//! shape (`-I`, `--quote`, `-X`).
//!
//! Invariant: every mistake here is a one-line usage error naming the flag,
//! found before anything is read.

use crate::cli::Cli;
use crate::run::input::arg_sources::Operands;
use crate::run::input::batch::{BatchLimits, command_limit};
use crate::run::input::combine::{Combine, Header};
use crate::run::input::pipeline::InputSettings;
use crate::run::input::sources::Separator;
use crate::run::input::template::{Template, TemplateOptions};

/// Takes the input settings and the template out of `cli`.
///
/// # Errors
/// A one-line usage error.
pub fn from_cli(cli: &mut Cli) -> Result<(InputSettings, Option<Template>), String> {
    if let Some((pipe, template)) = crate::run::input::pipe::settings::from_cli(cli)? {
        let pipe = Some(pipe);
        return Ok((
            InputSettings {
                pipe,
                ..InputSettings::default()
            },
            Some(template),
        ));
    }
    let operands = Operands::split(
        std::mem::take(&mut cli.files),
        std::mem::take(&mut cli.template),
        std::mem::take(&mut cli.arg_files),
    );
    let colsep = match &cli.colsep {
        Some(re) if re.is_empty() => return Err("--colsep needs a non-empty regex".into()),
        Some(re) => Some(
            regex::bytes::Regex::new(re)
                .map_err(|e| format!("--colsep '{re}' is not a valid regex: {e}"))?,
        ),
        None => None,
    };
    let header = match cli.header.as_deref() {
        None => None,
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n = n
                .parse()
                .map_err(|_| format!("--header {n} is too large"))?;
            Some(Header::Skip(n))
        }
        Some(":") => Some(Header::Names),
        Some(other) => {
            return Err(format!(
                "--header '{other}' is not supported: use --header : (the first line names the \
                 columns) or --header N (skip N lines)"
            ));
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let packs = cli.context_replace || cli.multiple || cli.max_chars.is_some();
    let limit = command_limit();
    if let Some(n) = cli.max_chars
        && n > limit
    {
        return Err(format!(
            "-s {n} is above the longest command this system allows ({limit} bytes): use at \
             most {limit}"
        ));
    }
    let batch = BatchLimits {
        max_rows: cli.max_args.or(cli.max_replace_args).or(cli.max_lines),
        max_len: packs.then(|| cli.max_chars.unwrap_or(limit)),
    };
    let template = if operands.template.is_empty() {
        if cli.replace.is_some() || cli.quote || cli.context_replace {
            return Err(
                "-I, --quote and -X need a command template after --: atp-run -X -- touch {}"
                    .into(),
            );
        }
        None
    } else {
        let renamed: Vec<(Vec<u8>, &'static [u8])> = [
            (&cli.extensionreplace, &b"."[..]),
            (&cli.basenamereplace, b"/"),
            (&cli.dirnamereplace, b"//"),
            (&cli.basenameextensionreplace, b"/."),
            (&cli.seqreplace, b"#"),
            (&cli.slotreplace, b"%"),
        ]
        .into_iter()
        .filter_map(|(custom, builtin)| Some((custom.clone()?.into_bytes(), builtin)))
        .collect();
        if renamed.iter().any(|(custom, _)| custom.is_empty()) {
            return Err(
                "a replacement string (--er, --bnr, --dnr, --bner, --seqreplace, \
                        --slotreplace) cannot be empty"
                    .into(),
            );
        }
        let options = TemplateOptions {
            renamed,
            replace: cli.replace.clone().map(String::into_bytes),
            quote: cli.quote,
            context: cli.context_replace,
            header: header == Some(Header::Names),
        };
        if options.replace.as_ref().is_some_and(Vec::is_empty) {
            return Err("-I needs a non-empty replacement string, e.g. -I %".into());
        }
        Some(Template::parse_with(&operands.template, &options).map_err(|e| e.to_string())?)
    };
    let settings = InputSettings {
        operands,
        separator: Some(if cli.null {
            Separator::Nul
        } else {
            Separator::Newline
        }),
        combine: Combine {
            colsep,
            header,
            link: cli.link,
            csv: cli.csv,
        },
        batch,
        // The job slots: -j N, or the cores (where the adaptive pool holds
        // jobs that compute).
        slots: cli
            .jobs
            .and_then(|spec| spec.workers(cores).ok().flatten())
            .unwrap_or(cores),
        pipe: None,
    };
    Ok((settings, template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<(InputSettings, Option<Template>), String> {
        let mut cli = Cli::try_parse_from(["atp-run"].iter().chain(args)).unwrap();
        from_cli(&mut cli)
    }

    #[test]
    fn batching_flags_set_the_limits() {
        let (s, _) = settings(&["-n", "3", "--", "echo"]).unwrap();
        assert_eq!(
            s.batch,
            BatchLimits {
                max_rows: Some(3),
                max_len: None
            }
        );
        let (s, _) = settings(&["-X", "--", "echo"]).unwrap();
        assert_eq!(s.batch.max_len, Some(command_limit()));
        let (s, _) = settings(&["-m", "-s", "100", "--", "echo"]).unwrap();
        assert_eq!(s.batch.max_len, Some(100));
        let (s, _) = settings(&["-L", "2", "--", "echo"]).unwrap();
        assert_eq!(s.batch.max_rows, Some(2));
    }

    #[test]
    fn bad_values_name_their_flag() {
        let err = |args: &[&str]| settings(args).err().unwrap();
        assert!(
            err(&["--colsep", "(", "--", "echo"]).starts_with("--colsep '(' is not a valid regex")
        );
        assert!(err(&["--header", "x", "--", "echo"]).starts_with("--header 'x' is not supported"));
        assert!(err(&["-s", "99999999", "--", "echo"]).starts_with("-s 99999999 is above"));
        assert!(err(&["-X"]).contains("need a command template after --"));
        assert!(err(&["--", "echo", "{3x}"]).starts_with("unknown placeholder {3x}"));
    }

    #[test]
    fn header_forms() {
        let (s, _) = settings(&["--header", ":", "--", "echo"]).unwrap();
        assert_eq!(s.combine.header, Some(Header::Names));
        let (s, _) = settings(&["--header", "2", "--", "echo"]).unwrap();
        assert_eq!(s.combine.header, Some(Header::Skip(2)));
    }
}
