//! What becomes of job results: the reporter (`reporter.rs`) and one file per sink:
//! the tally, status lines and the summary, grouped, ordered, line-buffered,
//! ungrouped and JSON output, the joblog, the progress display, SIGUSR1's list,
//! `--dry-run`'s listing, and the `--results` files (`results.rs`: a tree of
//! files per job; `results_table.rs`: GNU parallel's one-file CSV/TSV/JSON forms).

pub(crate) mod dry_run;
pub(crate) mod format;
pub(crate) mod grouped;
pub(crate) mod joblog;
pub(crate) mod json;
pub(crate) mod json_sink;
pub(crate) mod line_buffered;
pub(crate) mod ordered;
pub(crate) mod progress;
pub(crate) mod reorder;
pub(crate) mod repeats;
pub(crate) mod reporter;
pub(crate) mod results;
pub(crate) mod results_table;
pub(crate) mod running_list;
pub(crate) mod sink;
pub(crate) mod status;
pub(crate) mod stdout;
pub(crate) mod tagger;
pub(crate) mod tally;
pub(crate) mod terminal;
pub(crate) mod ungrouped;
