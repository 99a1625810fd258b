//! Property tests of the input parsers: splitting at source markers, combining
//! sources, the job-argument encoding, templates (parsing never panics, quoting
//! keeps values whole, [`Template::cost_of`] bounds what a row adds, which is what
//! keeps packed jobs under the kernel's limit) and batching.

use proptest::prelude::*;

use crate::run::input::arg_sources::Values;
use crate::run::input::arg_sources::{Operands, SourceKind};
use crate::run::input::batch::{BatchLimits, Batches};
use crate::run::input::combine::{Combine, Row, Rows};
use crate::run::input::job_args::{JobArgs, encode};
use crate::run::input::template::{Shape, Template, TemplateOptions};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

fn value() -> impl Strategy<Value = Vec<u8>> {
    // Any bytes but NUL (which no argument can hold), biased to shell specials.
    prop::collection::vec(
        prop_oneof![
            any::<u8>().prop_filter("no NUL", |b| *b != 0),
            prop::sample::select(b"'\"$`\\ {}./\n".to_vec()),
        ],
        0..12,
    )
}

fn source(values: &[Vec<u8>]) -> Values {
    let owned = values.to_vec();
    Box::new(owned.into_iter().map(Ok))
}

fn words(ws: &[&str]) -> Vec<OsString> {
    ws.iter().map(OsString::from).collect()
}

proptest! {
    #[test]
    fn split_keeps_every_word_and_counts_the_sources(
        template in prop::collection::vec("[a-z{}]{1,4}", 1..4),
        sources in prop::collection::vec(prop::collection::vec("[a-z0-9:+-]{0,4}", 0..4), 0..4),
    ) {
        let mut all: Vec<String> = template.clone();
        for s in &sources {
            all.push(":::".into());
            all.extend(s.iter().filter(|w| !matches!(w.as_str(), ":::" | ":::+" | "::::" | "::::+")).cloned());
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let o = Operands::split(vec![], words(&refs), vec![]);
        prop_assert_eq!(o.template.len(), template.len());
        prop_assert_eq!(o.sources.len(), sources.len());
        let values: usize = o.sources.iter().map(|s| match &s.kind {
            SourceKind::Args(v) => v.len(),
            SourceKind::File(_) => 0,
        }).sum();
        prop_assert_eq!(values + template.len() + sources.len(), all.len());
    }

    #[test]
    fn the_product_has_every_combination_in_order(
        a in prop::collection::vec(value(), 1..5),
        b in prop::collection::vec(value(), 1..5),
        c in prop::collection::vec(value(), 1..4),
    ) {
        let (rows, _) = Combine::default()
            .rows(vec![(source(&a), false), (source(&b), false), (source(&c), false)])
            .unwrap();
        let rows: Vec<Row> = rows.map(Result::unwrap).collect();
        let mut expected = Vec::new();
        for x in &a { for y in &b { for z in &c {
            expected.push(vec![x.clone(), y.clone(), z.clone()]);
        }}}
        prop_assert_eq!(rows, expected);
    }

    #[test]
    fn link_yields_the_longest_and_recycles(
        a in prop::collection::vec(value(), 1..6),
        b in prop::collection::vec(value(), 1..6),
    ) {
        let link = Combine { link: true, ..Combine::default() };
        let (rows, _) = link.rows(vec![(source(&a), false), (source(&b), false)]).unwrap();
        let rows: Vec<Row> = rows.map(Result::unwrap).collect();
        prop_assert_eq!(rows.len(), a.len().max(b.len()));
        for (i, row) in rows.iter().enumerate() {
            prop_assert_eq!(&row[0], &a[i % a.len()]);
            prop_assert_eq!(&row[1], &b[i % b.len()]);
        }
    }

    #[test]
    fn job_args_round_trip(rows in prop::collection::vec(prop::collection::vec(value(), 3), 0..5)) {
        let buf = encode(&rows);
        let args = JobArgs::decode(&buf);
        prop_assert_eq!(args.rows(), rows.len());
        for (r, row) in rows.iter().enumerate() {
            let decoded: Vec<Vec<u8>> = args.row(r).iter().map(|v| v.to_vec()).collect();
            prop_assert_eq!(&decoded, row);
        }
    }

    #[test]
    fn parsing_any_template_never_panics(text in prop::collection::vec(
        prop::sample::select(b"{}./#%+=0123x $".to_vec()), 1..16)) {
        let word = OsString::from_vec(text);
        for header in [false, true] {
            let options = TemplateOptions { header, ..TemplateOptions::default() };
            if let Ok(mut t) = Template::parse_with(std::slice::from_ref(&word), &options) {
                let shape = Shape { width: Some(2), rows_per_job: None };
                if t.bind(shape, &[b"x".to_vec()]).is_ok() {
                    let _ = t.render(&encode(&[vec![b"a".to_vec(), b"b".to_vec()]]), 1, 1);
                }
            }
        }
    }

    #[test]
    fn cost_bounds_what_a_row_adds(
        rows in prop::collection::vec(value(), 1..8),
        context in any::<bool>(),
        template in prop::sample::select(vec!["cp x{}y {//} /d", "echo {} {/.}", "mv {} {#}"]),
    ) {
        let options = TemplateOptions { context, ..TemplateOptions::default() };
        let mut t = Template::parse_with(&words(&[template]), &options).unwrap();
        t.bind(Shape { width: Some(1), rows_per_job: None }, &[]).unwrap();
        let one: Vec<Vec<Vec<u8>>> = rows.iter().map(|v| vec![v.clone()]).collect();
        let mut previous = t.base_len();
        for k in 1..=one.len() {
            let len = t.render(&encode(&one[..k]), u64::MAX, usize::MAX).len();
            let added = len.saturating_sub(previous.min(len));
            prop_assert!(t.cost_of(&[&one[k - 1][0]]) >= added, "row {} added {}", k, added);
            prop_assert!(len <= t.base_len() + one[..k].iter().map(|r| t.cost_of(&[&r[0]])).sum::<usize>());
            previous = len;
        }
    }

    #[test]
    fn packed_jobs_never_exceed_the_limit(
        names in prop::collection::vec(value(), 1..60),
        max_len in 40usize..400,
        spread in 1usize..4,
    ) {
        let options = TemplateOptions { context: true, ..TemplateOptions::default() };
        let mut t = Template::parse_with(&words(&["touch", "p/{}"]), &options).unwrap();
        t.bind(Shape { width: Some(1), rows_per_job: None }, &[]).unwrap();
        let rows: Vec<Row> = names.iter().map(|v| vec![v.clone()]).collect();
        let rows: Rows = Box::new(rows.into_iter().map(Ok));
        let limits = BatchLimits { max_rows: None, max_len: Some(max_len) };
        let mut total = 0;
        let mut seen = Vec::new();
        for record in Batches::new(rows, limits, Some(t.clone()), 0).spread_tail(spread) {
            let record = record.unwrap();
            let job = JobArgs::decode(&record.bytes);
            let command = t.render(&record.bytes, 1, 1);
            prop_assert!(job.rows() == 1 || command.len() <= max_len, "{} > {}", command.len(), max_len);
            total += job.rows();
            seen.extend((0..job.rows()).map(|r| job.row(r)[0].to_vec()));
        }
        prop_assert_eq!(total, names.len());
        prop_assert_eq!(seen, names);
    }
}

#[test]
fn jobs_spec_round_trips() {
    use crate::run::values::jobs_spec::parse_jobs;
    proptest!(|(n in 0usize..10_000, kind in 0..4)| {
        let text = match kind { 0 => n.to_string(), 1 => format!("{}%", n + 1), 2 => format!("+{n}"), _ => format!("-{n}") };
        let spec = parse_jobs(&text).unwrap();
        prop_assert_eq!(parse_jobs(&spec.to_string()).unwrap(), spec);
    });
}
