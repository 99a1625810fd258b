
use builtin;
use str;

set edit:completion:arg-completer[atp-run] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'atp-run'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'atp-run'= {
            cand -j 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). Cannot be combined with --min-workers or --max-workers'
            cand --jobs 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). Cannot be combined with --min-workers or --max-workers'
            cand --min-workers 'Workers kept alive at all times, even when idle [default: 2]'
            cand --max-workers 'Most workers (so jobs) at once [default: 512]'
            cand --idle-timeout 'How long a worker above the minimum may sit idle before it retires, e.g. 500ms, 5s, 1m [default: 5s]'
            cand --stack-size 'Stack size of each worker thread in KiB (at least 64) [default: 512]'
            cand --cpu-threshold 'Grow only while CPU utilisation (of the machine, or of the cgroup''s CPU quota) is below this percentage [default: 90]'
            cand --memory-reserve 'Grow only while more memory than this is available (of the machine, or under the cgroup''s limit), and back off under half of it, e.g. 512M, 2G [default: 5% of memory, between 64M and 1G]'
            cand --interval 'With --repeat, wait this long between the end of a run and the next'
            cand --grace 'On interruption, how long running jobs get between SIGTERM and SIGKILL'
            cand --color 'Colour status lines: auto (when standard error is a terminal and NO_COLOR is unset), always or never'
            cand -0 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept'
            cand --null 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept'
            cand --ignore-load 'Grow by the backlog alone, up to --max-workers, ignoring CPU and memory load'
            cand --repeat 'Turn every command into a watchdog: rerun it each time it ends, until Ctrl-C. Failed runs are reported and the loop goes on; the summary counts runs and failures per command'
            cand -q 'Print status lines only for jobs that did not succeed (and the summary only when something failed)'
            cand --quiet 'Print status lines only for jobs that did not succeed (and the summary only when something failed)'
            cand --no-progress 'Do not show the progress display (it is shown only when standard error is a terminal)'
            cand -v 'More diagnostics on standard error: -v info, -vv debug (pool decisions), -vvv trace. RUST_LOG overrides it'
            cand --verbose 'More diagnostics on standard error: -v info, -vv debug (pool decisions), -vvv trace. RUST_LOG overrides it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
