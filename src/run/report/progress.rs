//! The progress display and the logger that keeps out of its way.
//!
//! Shown only when standard error is a terminal (and not `--no-progress`): one line
//! at the bottom, drawn by an indicatif [`ProgressBar`] whose template is the
//! message alone. The line itself is composed here and handed over as that
//! message every 100 ms by a ticker thread, always fitted to the
//! terminal's width (read again on SIGWINCH) by leaving out the least important
//! fields (see [`compose`]): never wrapped. While the input is still being read it
//! shows jobs done, lines read and the elapsed time (the input is never read ahead
//! to count it); once the total is known, done/total, failures, the ETA (only when
//! it means something, see [`format::eta`]), the elapsed time, the recent rate, busy
//! workers and a bar. With `--repeat`: elapsed time, runs, failures, and how many
//! watchdogs are running and how many are waiting for their next run. While
//! stopping: what was signalled, the time left until SIGKILL and that a second
//! Ctrl-C kills at once.
//!
//! Invariants:
//! - Everything atp-run writes to the terminal while the line is up — job output,
//!   status lines, log records — goes through [`Progress::suspend`]
//!   ([`ProgressBar::suspend`]), which clears the line first and redraws it after,
//!   so neither garbles the other.
//! - The line and indicatif's padding after it take at most the width minus 2
//!   columns ([`LineTarget`] tells indicatif the terminal is that wide), so a `^C`
//!   echoed by the terminal after it never wraps (a wrapped line would be left
//!   behind); [`LineTarget`] cuts anything past that width as it writes, so a line
//!   composed before a resize and drawn after it does not wrap either.
//! - The cursor is hidden while the line is drawn and shown again on every way out:
//!   [`Progress::finish`] (every end of a run goes through it), dropping the
//!   display, a panic (see `terminal.rs`), and Ctrl-Z ([`pause`]).
//! - Lock order: this module's state lock is never held while calling into the
//!   [`ProgressBar`] (whose own lock is held while a suspended closure runs, and
//!   that closure may count a finished job here).

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::run::lock::lock;
use crate::run::report::format::{self, EtaInput, Field};
use crate::run::report::terminal::{self, Glyphs};

/// The visible display, for the logger and for Ctrl-Z (set once, when a visible
/// display is created).
static ACTIVE: OnceLock<Arc<Shared>> = OnceLock::new();

thread_local! {
    /// This thread is inside [`Progress::suspend`] (a log record written while
    /// printing must not wait for itself).
    static SUSPENDED: Cell<bool> = const { Cell::new(false) };
}

/// What the rest of the run tells the ticker, read at each redraw.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// Records read from the input so far (jobs handed over).
    pub read: u64,
    /// Jobs that failed so far.
    pub failed: u64,
    /// Workers alive.
    pub live: usize,
    /// With `-S`: per host, its label, the jobs running on it and its slots.
    pub hosts: Vec<(&'static str, usize, usize)>,
    /// How long each running job has run.
    pub running_ages: Vec<Duration>,
    /// `--repeat`.
    pub repeat: bool,
}

/// The stopping sequence shown after the first Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopping {
    /// Jobs sent SIGTERM.
    pub signalled: usize,
    /// When the rest are killed.
    pub kill_at: Instant,
}

/// The figures the line is composed from, under one lock.
#[derive(Debug)]
struct State {
    /// Removed for good.
    finished: bool,
    started: Instant,
    done: u64,
    total: Option<u64>,
    /// Sum of finished jobs' durations (for the mean).
    job_time: Duration,
    /// (when, done) samples of the last seconds, for the recent rate.
    samples: VecDeque<(Instant, u64)>,
    stopping: Option<Stopping>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    glyphs: Glyphs,
    /// Draws the line (hidden until the ticker has composed the first one).
    bar: ProgressBar,
    /// Ctrl-Z: nothing reaches the terminal until SIGCONT (shared with the
    /// [`LineTarget`]).
    muted: Arc<AtomicBool>,
}

/// Where indicatif draws: standard error, said to be [`SPARE_COLUMNS`] narrower
/// than it is (indicatif pads a line with spaces to the width it is given, and a
/// line padded to the last column would make an echoed `^C` wrap), and silent
/// while atp-run is stopped by Ctrl-Z.
///
/// It never writes past that width on the row, whatever it is handed: a line
/// composed before a SIGWINCH can be drawn after it (the ticker composes, then
/// the resize is noticed, then indicatif draws; or a [`Progress::suspend`]
/// redraws the last line once job output is printed), and would wrap on the
/// narrower terminal. Such a line is cut at the width for the one frame until the
/// ticker composes the next. As the line therefore always takes one row, the
/// cursor moves indicatif makes between the rows it counts (from the uncut text)
/// are not made: made, they would go up into the output above and clear it.
#[derive(Debug)]
struct LineTarget {
    term: Term,
    muted: Arc<AtomicBool>,
    /// The column the cursor is at on the line's row.
    column: AtomicUsize,
}

impl LineTarget {
    fn write(&self, f: impl FnOnce(&Term) -> io::Result<()>) -> io::Result<()> {
        match self.muted.load(Ordering::SeqCst) {
            true => Ok(()),
            false => f(&self.term),
        }
    }

    /// Writes `s`, cut where it would pass the line's width.
    fn write_fitted(&self, s: &str, newline: bool) -> io::Result<()> {
        let (fitted, column) = clip(s, self.column.load(Ordering::SeqCst), line_width().max(1));
        self.column
            .store(if newline { 0 } else { column }, Ordering::SeqCst);
        match newline {
            true => self.write(|t| t.write_line(&fitted)),
            false => self.write(|t| t.write_str(&fitted)),
        }
    }
}

/// `s` written from `column` on a row of `width` columns: the part that fits (a
/// carriage return starts the row again), and the column after it. One column a
/// character, as [`format::fit`] counts (the line and its glyphs are all narrow).
fn clip(s: &str, mut column: usize, width: usize) -> (String, usize) {
    let mut fitted = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\r' | '\n' => {
                column = 0;
                fitted.push(c);
            }
            _ if column < width => {
                column += 1;
                fitted.push(c);
            }
            _ => {}
        }
    }
    (fitted, column)
}

impl TermLike for LineTarget {
    fn width(&self) -> u16 {
        u16::try_from(line_width().max(1)).unwrap_or(u16::MAX)
    }

    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        // The line is one row: there is no row of it above (see `LineTarget`).
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.write(|t| t.move_cursor_right(n))
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.write(|t| t.move_cursor_left(n))
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_fitted(s, true)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.write_fitted(s, false)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.column.store(0, Ordering::SeqCst);
        self.write(Term::clear_line)
    }

    fn flush(&self) -> io::Result<()> {
        self.write(Term::flush)
    }
}

/// The columns the line may take: the terminal's width minus [`SPARE_COLUMNS`].
fn line_width() -> usize {
    terminal::width().saturating_sub(SPARE_COLUMNS)
}

/// The progress display (hidden when not wanted: then every call is a cheap no-op
/// and `suspend` just runs its closure).
#[derive(Debug)]
pub(crate) struct Progress {
    shared: Option<Arc<Shared>>,
    ticker: Mutex<Option<Ticker>>,
}

#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// How far back the recent rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Columns left free at the end of the line (for an echoed `^C`).
const SPARE_COLUMNS: usize = 2;

impl Progress {
    /// A visible display on stderr when `visible`, otherwise a hidden one.
    pub(crate) fn new(visible: bool) -> Progress {
        let shared = visible.then(|| {
            terminal::refresh_width();
            let bar = ProgressBar::hidden();
            bar.set_style(
                ProgressStyle::default_spinner()
                    .template("{msg}")
                    .unwrap_or_else(|err| unreachable!("the template is only the message: {err}")),
            );
            let shared = Arc::new(Shared {
                state: Mutex::new(State {
                    finished: false,
                    started: Instant::now(),
                    done: 0,
                    total: None,
                    job_time: Duration::ZERO,
                    samples: VecDeque::new(),
                    stopping: None,
                }),
                glyphs: terminal::glyphs(),
                bar,
                muted: Arc::new(AtomicBool::new(false)),
            });
            let _ = ACTIVE.set(Arc::clone(&shared));
            shared
        });
        Progress {
            shared,
            ticker: Mutex::new(None),
        }
    }

    /// Redraws the line from `snapshot` every 100 ms until [`finish`](Self::finish).
    pub(crate) fn start_ticker(&self, snapshot: impl Fn() -> Snapshot + Send + 'static) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        terminal::hide_cursor();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("atp-run-progress".into())
            .spawn(move || {
                // The first line is composed before anything is drawn.
                shared.redraw(&snapshot());
                shared
                    .bar
                    .set_draw_target(ProgressDrawTarget::term_like_with_hz(
                        Box::new(LineTarget {
                            term: Term::buffered_stderr(),
                            muted: Arc::clone(&shared.muted),
                            column: AtomicUsize::new(0),
                        }),
                        20,
                    ));
                while !flag.load(Ordering::Relaxed) {
                    let snap = snapshot();
                    shared.redraw(&snap);
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        match thread {
            Ok(thread) => *self.lock_ticker() = Some(Ticker { stop, thread }),
            Err(err) => log::warn!("no progress refresh: cannot start a thread: {err}"),
        }
    }

    /// The input has ended: `total` jobs in all.
    pub(crate) fn set_total(&self, total: u64) {
        if let Some(shared) = &self.shared {
            shared.lock().total = Some(total);
        }
    }

    /// One more job done, after `ran`.
    pub(crate) fn inc(&self, ran: Duration) {
        if let Some(shared) = &self.shared {
            let mut st = shared.lock();
            st.done += 1;
            st.job_time += ran;
        }
    }

    /// The run is stopping: `signalled` jobs got SIGTERM; the rest is killed at
    /// `kill_at`.
    pub(crate) fn stopping(&self, stopping: Stopping) {
        if let Some(shared) = &self.shared {
            shared.lock().stopping = Some(stopping);
        }
    }

    /// Runs `f` with the line cleared, redrawing it after.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.shared {
            Some(shared) => shared.suspend(f),
            None => f(),
        }
    }

    fn lock_ticker(&self) -> MutexGuard<'_, Option<Ticker>> {
        lock(&self.ticker)
    }

    /// Stops the ticker, removes the line and shows the cursor. Idempotent.
    pub(crate) fn finish(&self) {
        let ticker = self.lock_ticker().take();
        if let Some(ticker) = ticker {
            ticker.stop.store(true, Ordering::Relaxed);
            let _ = ticker.thread.join();
        }
        if let Some(shared) = &self.shared {
            shared.lock().finished = true;
            shared.bar.finish_and_clear();
            terminal::show_cursor();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        if SUSPENDED.with(Cell::get) {
            return f();
        }
        self.bar.suspend(|| {
            SUSPENDED.with(|s| s.set(true));
            let r = f();
            SUSPENDED.with(|s| s.set(false));
            r
        })
    }

    /// Hands indicatif the line for now (it draws it unless hidden or muted).
    fn redraw(&self, snap: &Snapshot) {
        let mut st = self.lock();
        if st.finished {
            return;
        }
        let now = Instant::now();
        let done = st.done;
        st.samples.push_back((now, done));
        while st
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            st.samples.pop_front();
        }
        let line = compose(&view(&st, snap, now), self.glyphs, line_width());
        drop(st);
        self.bar.set_message(line);
    }
}

/// What one line shows, gathered from the state and a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct View<'a> {
    /// Time since the start.
    pub elapsed: Duration,
    /// Jobs (runs, with `--repeat`) done.
    pub done: u64,
    /// Jobs in all, once the input has ended.
    pub total: Option<u64>,
    /// Jobs finished per second recently.
    pub rate: f64,
    /// Mean duration of finished jobs.
    pub mean_job: Duration,
    /// The rest of the run's figures.
    pub snap: &'a Snapshot,
    /// Set once stopping: what was signalled, and the time left until SIGKILL.
    pub stopping: Option<(usize, Duration)>,
}

fn view<'a>(st: &State, snap: &'a Snapshot, now: Instant) -> View<'a> {
    let rate = match st.samples.front() {
        Some((t, done)) if now.duration_since(*t) >= Duration::from_secs(1) => {
            (st.done - done) as f64 / now.duration_since(*t).as_secs_f64()
        }
        _ => 0.0,
    };
    View {
        elapsed: now.duration_since(st.started),
        done: st.done,
        total: st.total,
        rate,
        mean_job: st.job_time / u32::try_from(st.done.max(1)).unwrap_or(u32::MAX),
        snap,
        stopping: st
            .stopping
            .map(|s| (s.signalled, s.kill_at.saturating_duration_since(now))),
    }
}

/// The progress line for `view`, in at most `width` characters.
pub(crate) fn compose(view: &View<'_>, glyphs: Glyphs, width: usize) -> String {
    let snap = view.snap;
    let elapsed = format!("{} elapsed", format::coarse_duration(view.elapsed));
    let failed = match snap.failed {
        0 => String::new(),
        n => format!("{n} failed"),
    };
    if let Some((signalled, left)) = view.stopping {
        let fields = [
            Field::new(9, format!("stopping: {signalled} jobs sent SIGTERM")),
            Field::new(7, format!("SIGKILL in {}", format::coarse_duration(left))),
            Field::new(8, "Ctrl-C again to kill now"),
        ];
        return format::fit(&fields, glyphs.sep, width);
    }
    // No rate until one is known (not "0/s" before the first job ends).
    let rate = match view.rate > 0.0 {
        true => format::rate(view.rate),
        false => String::new(),
    };
    let running = snap.running_ages.len();
    if snap.repeat {
        let waiting = (snap.read as usize).saturating_sub(running);
        let fields = [
            Field::new(9, elapsed),
            Field::new(8, format!("{} runs", view.done)),
            Field::new(8, failed),
            Field::new(6, format!("{running} running")),
            Field::new(5, format!("{waiting} waiting")),
        ];
        return format::fit(&fields, glyphs.sep, width);
    }
    // With -S, the hosts' slots say more than the workers (which wait for them).
    let busy = match snap.hosts.is_empty() {
        true => format!("{running} running, {} workers", snap.live),
        false => format!("{running} running"),
    };
    let Some(total) = view.total else {
        let fields = [
            Field::new(9, format!("{} done", view.done)),
            Field::new(7, format!("{} read", snap.read)),
            Field::new(8, failed),
            Field::new(6, elapsed),
            Field::new(4, rate.clone()),
            Field::new(3, busy),
        ];
        let line = format::fit(&fields, glyphs.sep, width);
        return with_hosts(line, &snap.hosts, glyphs.sep, width);
    };
    let eta = format::eta(&EtaInput {
        total,
        done: view.done,
        recent_rate: view.rate,
        mean_job: view.mean_job,
        running_ages: &snap.running_ages,
    });
    let fields = [
        Field::new(9, format!("{}/{total}", view.done)),
        Field::new(8, failed),
        Field::new(
            7,
            eta.map_or(String::new(), |d| {
                format!("ETA {}", format::coarse_duration(d))
            }),
        ),
        Field::new(6, elapsed),
        Field::new(4, rate.clone()),
        Field::new(3, busy),
    ];
    let line = with_hosts(
        format::fit(&fields, glyphs.sep, width),
        &snap.hosts,
        glyphs.sep,
        width,
    );
    // The bar takes what room is left, up to 30 cells, if at least 10.
    let room = width.saturating_sub(format::chars(&line) + format::chars(glyphs.sep));
    if room >= 10 {
        let bar = format::bar(view.done, total, room.min(30), glyphs.full, glyphs.empty);
        format!("{bar}{}{line}", glyphs.sep)
    } else {
        line
    }
}

/// `line`, then as many hosts' `label running/slots` as fit in `width` (at least
/// the first one, or none), and `+N` for those left out.
fn with_hosts(line: String, hosts: &[(&str, usize, usize)], sep: &str, width: usize) -> String {
    let mut out = line;
    let mut shown = 0;
    for (n, (label, running, slots)) in hosts.iter().enumerate() {
        let entry = format!("{sep}{label} {running}/{slots}");
        let left = hosts.len() - n - 1;
        // Room for this entry, and for the "+N" of the rest if any.
        let rest = match left {
            0 => 0,
            _ => format::chars(sep) + 1 + left.to_string().len(),
        };
        if format::chars(&out) + format::chars(&entry) + rest > width {
            break;
        }
        out.push_str(&entry);
        shown += 1;
    }
    if shown > 0 && shown < hosts.len() {
        out.push_str(&format!("{sep}+{}", hosts.len() - shown));
    }
    out
}

/// Ctrl-Z: removes the line and shows the cursor until [`resume`].
pub(crate) fn pause() {
    if let Some(shared) = ACTIVE.get() {
        // indicatif clears the line; muted, its redraw after reaches nothing.
        shared
            .bar
            .suspend(|| shared.muted.store(true, Ordering::SeqCst));
        terminal::show_cursor();
    }
}

/// SIGCONT: hides the cursor again; the ticker redraws the line.
pub(crate) fn resume() {
    if let Some(shared) = ACTIVE.get() {
        let st = shared.lock();
        if !st.finished && shared.muted.swap(false, Ordering::SeqCst) {
            terminal::hide_cursor();
        }
    }
}

/// env_logger's logger, writing through the progress display when one is shown.
struct SuspendingLogger {
    inner: env_logger::Logger,
}

impl log::Log for SuspendingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.inner.matches(record) {
            return;
        }
        match ACTIVE.get() {
            Some(shared) => shared.suspend(|| self.inner.log(record)),
            None => self.inner.log(record),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Sets up logging on stderr: `verbosity` 0 shows warnings and errors, 1 info, 2
/// debug, 3 trace; `RUST_LOG` overrides it.
pub fn init_logging(verbosity: u8) {
    // -v prints commands (`-t`); diagnostics start at -vv.
    let level = match verbosity {
        0 | 1 => "warn",
        2 => "info",
        3 => "debug",
        _ => "trace",
    };
    let logger = env_logger::Builder::new()
        .parse_filters(level)
        .parse_env("RUST_LOG")
        .format_timestamp(None)
        .build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(SuspendingLogger { inner: logger })).is_ok() {
        log::set_max_level(max_level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::report::terminal::{ASCII, UNICODE};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn view(snap: &Snapshot, done: u64, total: Option<u64>) -> View<'_> {
        View {
            elapsed: secs(65),
            done,
            total,
            rate: 28.3,
            mean_job: secs(2),
            snap,
            stopping: None,
        }
    }

    #[test]
    fn a_line_longer_than_the_row_is_cut_at_its_width() {
        // A line composed for 198 columns, drawn after a resize to 38.
        let wide = "0/40 · 1m elapsed · 4 running, 4 workers ".repeat(5);
        let (fitted, column) = clip(&wide, 0, 38);
        assert_eq!(fitted, wide.chars().take(38).collect::<String>());
        assert_eq!(column, 38);
        // indicatif's padding after it adds nothing past the width.
        assert_eq!(clip("      ", column, 38), (String::new(), 38));
        // A carriage return starts the row again.
        assert_eq!(clip("\rabc", 38, 38), ("\rabc".to_owned(), 3));
        // What fits is written whole, padding included.
        assert_eq!(clip("ab  ", 0, 38), ("ab  ".to_owned(), 4));
        assert_eq!(clip("xy", 37, 38), ("x".to_owned(), 38));
    }

    fn busy_snap() -> Snapshot {
        Snapshot {
            read: 180,
            failed: 2,
            live: 94,
            hosts: Vec::new(),
            running_ages: vec![secs(1); 93],
            repeat: false,
        }
    }

    #[test]
    fn remote_runs_show_each_hosts_jobs_and_slots_as_far_as_they_fit() {
        let snap = Snapshot {
            hosts: vec![("host1", 3, 4), ("host2", 1, 1), ("host3", 0, 1)],
            ..busy_snap()
        };
        assert_eq!(
            compose(&view(&snap, 5, None), UNICODE, 200),
            "5 done · 180 read · 2 failed · 1m05s elapsed · 28/s · 93 running \
             · host1 3/4 · host2 1/1 · host3 0/1"
        );
        for width in [20, 60, 80, 95, 120] {
            for total in [None, Some(200)] {
                let line = compose(&view(&snap, 105, total), UNICODE, width);
                assert!(format::chars(&line) <= width, "{line:?} in {width}");
            }
        }
        assert_eq!(
            compose(&view(&snap, 5, None), UNICODE, 95),
            "5 done · 180 read · 2 failed · 1m05s elapsed · 28/s · 93 running · host1 3/4 · \
             host2 1/1 · +1"
        );
    }

    #[test]
    fn a_known_total_shows_every_field_when_there_is_room() {
        let snap = busy_snap();
        let line = compose(&view(&snap, 105, Some(200)), ASCII, 200);
        assert_eq!(
            line,
            "############################## | 105/200 | 2 failed | ETA 1s | 1m05s elapsed \
             | 28/s | 93 running, 94 workers"
                .replace(
                    "##############################",
                    &format::bar(105, 200, 30, '#', '-')
                )
        );
    }

    #[test]
    fn every_line_fits_and_keeps_the_count() {
        let snap = busy_snap();
        for total in [None, Some(200)] {
            for width in [0, 10, 20, 38, 48, 78, 198] {
                let line = compose(&view(&snap, 105, total), UNICODE, width);
                assert!(format::chars(&line) <= width, "{line:?} in {width}");
                if width >= 10 {
                    assert!(line.contains("105"), "{line:?}");
                }
            }
        }
        let narrow = compose(&view(&snap, 105, Some(200)), UNICODE, 38);
        assert_eq!(narrow, "105/200 · 2 failed · ETA 1s");
    }

    #[test]
    fn while_reading_it_shows_lines_read_and_no_eta() {
        let snap = busy_snap();
        let line = compose(&view(&snap, 5, None), UNICODE, 78);
        assert_eq!(
            line,
            "5 done · 180 read · 2 failed · 1m05s elapsed · 28/s · 93 running, 94 workers"
        );
    }

    #[test]
    fn no_rate_is_shown_before_one_is_known() {
        let snap = busy_snap();
        let mut v = view(&snap, 0, None);
        v.rate = 0.0;
        assert_eq!(
            compose(&v, UNICODE, 78),
            "0 done · 180 read · 2 failed · 1m05s elapsed · 93 running, 94 workers"
        );
    }

    #[test]
    fn repeat_shows_runs_and_waiting_watchdogs() {
        let snap = Snapshot {
            read: 3,
            failed: 0,
            live: 3,
            hosts: Vec::new(),
            running_ages: vec![secs(1)],
            repeat: true,
        };
        assert_eq!(
            compose(&view(&snap, 57, None), UNICODE, 78),
            "1m05s elapsed · 57 runs · 1 running · 2 waiting"
        );
    }

    #[test]
    fn stopping_says_what_happens_and_how_to_kill_now() {
        let snap = busy_snap();
        let mut v = view(&snap, 105, Some(200));
        v.stopping = Some((93, Duration::from_millis(4200)));
        assert_eq!(
            compose(&v, UNICODE, 78),
            "stopping: 93 jobs sent SIGTERM · SIGKILL in 4s · Ctrl-C again to kill now"
        );
        assert_eq!(
            compose(&v, UNICODE, 60),
            "stopping: 93 jobs sent SIGTERM · Ctrl-C again to kill now"
        );
    }

    #[test]
    fn a_hidden_display_runs_what_it_suspends_and_finishes_twice() {
        let progress = Progress::new(false);
        progress.start_ticker(|| unreachable!("no ticker for a hidden display"));
        progress.set_total(3);
        progress.inc(Duration::ZERO);
        assert_eq!(progress.suspend(|| 7), 7);
        progress.finish();
        progress.finish();
    }
}
