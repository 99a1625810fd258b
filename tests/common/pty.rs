//! `atp-run` on a real pseudo-terminal, its screen rendered as a user sees it.
//!
//! `portable-pty` gives the binary a terminal of its own (it is the session leader
//! and the terminal is its controlling terminal, so Ctrl-C and Ctrl-Z typed as
//! bytes reach it as SIGINT and SIGTSTP from the line discipline, with `^C` echoed
//! as a terminal does); `vt100` renders everything written to the terminal into a
//! grid of cells (wrapping, clearing, cursor visibility, colours), so tests assert
//! on the screen, not on escape sequences.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

use super::PATIENCE;

/// `atp-run` running on a terminal of a given size.
pub struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    /// Columns of the terminal.
    pub cols: u16,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    /// Starts `atp-run args` in `dir` on a `cols` × `rows` terminal, with `env`
    /// set on top of ours (TERM is xterm-256color and the locale C.UTF-8 unless
    /// `env` says otherwise).
    pub fn spawn(cols: u16, rows: u16, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_atp-run"));
        cmd.args(args);
        set_terminal_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Pty::start(cols, rows, dir, cmd)
    }

    /// Starts `program args` (a shell running atp-run in a pipeline, say) the same
    /// way.
    pub fn spawn_program(cols: u16, rows: u16, dir: &Path, program: &str, args: &[&str]) -> Pty {
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        set_terminal_env(&mut cmd);
        Pty::start(cols, rows, dir, cmd)
    }

    fn start(cols: u16, rows: u16, dir: &Path, mut cmd: CommandBuilder) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pseudo-terminal");
        cmd.cwd(dir);
        let child = pair.slave.spawn_command(cmd).expect("start atp-run");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            NonZeroU16::new(rows).expect("rows"),
            NonZeroU16::new(cols).expect("columns"),
            0,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (Arc::clone(&parser), Arc::clone(&raw));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            parser,
            raw,
            writer,
            child,
            cols,
            _master: pair.master,
        }
    }

    /// The process id of atp-run.
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("a pid")
    }

    /// Types `bytes` (`b"\x03"` is Ctrl-C, `b"\x1a"` Ctrl-Z).
    pub fn type_keys(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// Resizes the terminal to `cols` columns (atp-run gets SIGWINCH); the screen
    /// is cleared, as a terminal redrawing after a resize would be.
    pub fn resize(&mut self, cols: u16) {
        let rows = self.parser.lock().unwrap().screen().size().0.get();
        self._master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize the pseudo-terminal");
        let mut parser = self.parser.lock().unwrap();
        parser.set_size(
            NonZeroU16::new(rows).unwrap(),
            NonZeroU16::new(cols).expect("columns"),
        );
        parser.process(b"\x1b[2J");
        self.cols = cols;
    }

    /// Clears the screen (output drawn from now on is all there is on it).
    pub fn clear(&mut self) {
        self.parser.lock().unwrap().process(b"\x1b[2J");
    }

    /// The rows that do not go on to the next one (trailing blanks trimmed).
    pub fn unwrapped_rows(&self) -> Vec<String> {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        let (rows, _) = screen.size();
        let texts: Vec<String> = screen.rows(0, self.cols).collect();
        (0..rows.get())
            .filter(|&i| !screen.row_wrapped(i))
            .map(|i| texts[usize::from(i)].trim_end().to_owned())
            .collect()
    }

    /// Waits until the rows that do not go on to the next one satisfy
    /// `condition`, as [`wait_for`](Self::wait_for) does.
    pub fn wait_for_unwrapped(&self, what: &str, condition: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition(&self.unwrapped_rows()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The screen's rows, trailing blanks trimmed.
    pub fn rows(&self) -> Vec<String> {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        screen
            .rows(0, self.cols)
            .map(|r| r.trim_end().to_owned())
            .collect()
    }

    /// The rows that continue on the next one (were wider than the terminal).
    pub fn wrapped_rows(&self) -> Vec<String> {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        let (rows, _) = screen.size();
        let texts: Vec<String> = screen.rows(0, self.cols).collect();
        (0..rows.get())
            .filter(|&i| screen.row_wrapped(i))
            .map(|i| texts[usize::from(i)].clone())
            .collect()
    }

    /// Whether the cursor is hidden now.
    pub fn cursor_hidden(&self) -> bool {
        self.parser.lock().unwrap().screen().hide_cursor()
    }

    /// Whether the first cell of the first row starting with `prefix` has the
    /// terminal's default colour.
    pub fn default_colour_at(&self, prefix: &str) -> Option<bool> {
        let parser = self.parser.lock().unwrap();
        let screen = parser.screen();
        let row = screen
            .rows(0, self.cols)
            .position(|r| r.starts_with(prefix))?;
        let cell = screen.cell(u16::try_from(row).ok()?, 0)?;
        Some(cell.fgcolor() == vt100::Color::Default)
    }

    /// Everything written to the terminal so far.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// Waits until the screen satisfies `condition`; panics naming `what` and
    /// showing the screen after [`PATIENCE`].
    pub fn wait_for(&self, what: &str, condition: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rows = self.rows();
            if condition(&rows) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{}",
                rows.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for atp-run to exit; returns its exit code. The output it wrote last
    /// is read before this returns.
    pub fn wait_exit(&mut self) -> u32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread drain what is left.
                let mut last = self.raw().len();
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let now = self.raw().len();
                    if now == last {
                        break;
                    }
                    last = now;
                }
                return status.exit_code();
            }
            assert!(
                Instant::now() < deadline,
                "atp-run did not exit; screen:\n{}",
                self.rows().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The screen, for failure messages.
    pub fn screen(&self) -> String {
        self.rows().join("\n")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A colour terminal with a UTF-8 locale, whatever the test runner has.
fn set_terminal_env(cmd: &mut CommandBuilder) {
    cmd.env("TERM", "xterm-256color");
    cmd.env("LC_ALL", "C.UTF-8");
    cmd.env_remove("NO_COLOR");
}

/// The state letter of process `pid` (`T` stopped, `S` sleeping...), from /proc.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}
