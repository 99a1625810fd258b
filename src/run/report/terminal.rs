//! What atp-run knows about the terminal on standard error: its width (read at
//! start and again on every SIGWINCH), whether it can show more than ASCII, and
//! whether the cursor is hidden (so that every way out shows it again).
//!
//! Owns: the one width every terminal line is fitted to, the glyphs chosen for
//! it, and the cursor's state.
//!
//! Invariants: the width is 0 when standard error is not a terminal (then lines
//! are not fitted); [`show_cursor`] after [`hide_cursor`] always writes the
//! escape once, whichever path comes first (the end of the run, a panic, Ctrl-Z).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Columns of the terminal on stderr; 0 when stderr is not a terminal.
static WIDTH: AtomicUsize = AtomicUsize::new(0);
/// Whether we hid the cursor and have not shown it again.
static CURSOR_HIDDEN: AtomicBool = AtomicBool::new(false);

/// Reads the terminal's width again (at start, and on SIGWINCH).
pub(crate) fn refresh_width() {
    let width = if std::io::stderr().is_terminal() {
        console::Term::stderr()
            .size_checked()
            .map_or(80, |(_, columns)| usize::from(columns))
    } else {
        0
    };
    WIDTH.store(width, Ordering::Relaxed);
}

/// The terminal's width; 0 when stderr is not a terminal.
pub(crate) fn width() -> usize {
    WIDTH.load(Ordering::Relaxed)
}

/// The characters a terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Glyphs {
    /// Between fields.
    pub sep: &'static str,
    /// Where text was left out.
    pub ellipsis: &'static str,
    /// A filled cell of the bar.
    pub full: char,
    /// An empty cell.
    pub empty: char,
}

/// Full Unicode.
pub(crate) const UNICODE: Glyphs = Glyphs {
    sep: " · ",
    ellipsis: "…",
    full: '█',
    empty: '░',
};

/// Plain ASCII, for TERM=dumb and non-UTF-8 locales.
pub(crate) const ASCII: Glyphs = Glyphs {
    sep: " | ",
    ellipsis: "...",
    full: '#',
    empty: '-',
};

/// The glyphs for this terminal, from `TERM` and the locale (`LC_ALL`, else
/// `LC_CTYPE`, else `LANG`, as POSIX orders them).
pub(crate) fn glyphs() -> Glyphs {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    let locale = var("LC_ALL")
        .or_else(|| var("LC_CTYPE"))
        .or_else(|| var("LANG"));
    if is_dumb(var("TERM").as_deref()) || !is_utf8_locale(locale.as_deref()) {
        ASCII
    } else {
        UNICODE
    }
}

/// Whether `TERM` names a terminal without escapes (`dumb`), or none is set.
pub(crate) fn is_dumb(term: Option<&str>) -> bool {
    term.is_none_or(|t| t == "dumb")
}

/// Whether the locale's character set is UTF-8 (`C` and `POSIX` are not).
pub(crate) fn is_utf8_locale(locale: Option<&str>) -> bool {
    locale.is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("utf-8") || l.contains("utf8")
    })
}

/// Hides the cursor while the progress line is drawn.
pub(crate) fn hide_cursor() {
    if !CURSOR_HIDDEN.swap(true, Ordering::SeqCst) {
        let _ = console::Term::stderr().hide_cursor();
    }
    install_panic_hook();
}

/// Shows the cursor again if we hid it.
pub(crate) fn show_cursor() {
    if CURSOR_HIDDEN.swap(false, Ordering::SeqCst) {
        let _ = console::Term::stderr().show_cursor();
    }
}

/// A panic shows the cursor before the panic message.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            show_cursor();
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumb_terminals_and_non_utf8_locales_get_ascii() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, true),
            (Some("dumb"), true),
            (Some("xterm-256color"), false),
            (Some("screen"), false),
        ];
        for (term, dumb) in cases {
            assert_eq!(is_dumb(*term), *dumb, "{term:?}");
        }
        let cases: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some("C"), false),
            (Some("POSIX"), false),
            (Some("en_US.ISO-8859-1"), false),
            (Some("C.UTF-8"), true),
            (Some("en_US.utf8"), true),
            (Some("de_DE.UTF-8@euro"), true),
        ];
        for (locale, utf8) in cases {
            assert_eq!(is_utf8_locale(*locale), *utf8, "{locale:?}");
        }
    }
}
