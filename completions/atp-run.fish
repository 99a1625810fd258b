complete -c atp-run -s j -l jobs -d 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). Cannot be combined with --min-workers or --max-workers' -r
complete -c atp-run -l min-workers -d 'Workers kept alive at all times, even when idle [default: 2]' -r
complete -c atp-run -l max-workers -d 'Most workers (so jobs) at once [default: 512]' -r
complete -c atp-run -l idle-timeout -d 'How long a worker above the minimum may sit idle before it retires, e.g. 500ms, 5s, 1m [default: 5s]' -r
complete -c atp-run -l stack-size -d 'Stack size of each worker thread in KiB (at least 64) [default: 512]' -r
complete -c atp-run -l cpu-threshold -d 'Grow only while CPU utilisation (of the machine, or of the cgroup\'s CPU quota) is below this percentage [default: 90]' -r
complete -c atp-run -l memory-reserve -d 'Grow only while more memory than this is available (of the machine, or under the cgroup\'s limit), and back off under half of it, e.g. 512M, 2G [default: 5% of memory, between 64M and 1G]' -r
complete -c atp-run -l interval -d 'With --repeat, wait this long between the end of a run and the next' -r
complete -c atp-run -l grace -d 'On interruption, how long running jobs get between SIGTERM and SIGKILL' -r
complete -c atp-run -l color -d 'Colour status lines: auto (when standard error is a terminal and NO_COLOR is unset), always or never' -r -f -a "auto\t'Colour when standard error is a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c atp-run -s 0 -l null -d 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept'
complete -c atp-run -l ignore-load -d 'Grow by the backlog alone, up to --max-workers, ignoring CPU and memory load'
complete -c atp-run -l repeat -d 'Turn every command into a watchdog: rerun it each time it ends, until Ctrl-C. Failed runs are reported and the loop goes on; the summary counts runs and failures per command'
complete -c atp-run -s q -l quiet -d 'Print status lines only for jobs that did not succeed (and the summary only when something failed)'
complete -c atp-run -s k -l keep-order -d 'Print each job\'s output in input order (job number order) instead of completion order, still as whole blocks, each followed by its status line. Streamed: a job\'s block is printed as soon as every earlier job\'s was; jobs that finished early wait in their temporary files (not in memory), and no new job starts while 256 wait. When interrupted, what waits is printed. Cannot be combined with --ungroup, --line-buffer or --repeat'
complete -c atp-run -l tag -d 'Prefix every line of a job\'s output (stdout and stderr) with its argument (the input line, with a TEMPLATE) or else its command, and a tab, like GNU parallel --tag. A last line without a newline is prefixed too, and no newline is added to it. Combines with --keep-order and --line-buffer'
complete -c atp-run -l line-buffer -d 'Print jobs\' output line by line as it is produced: lines of different jobs may interleave, but a line (up to 1 MiB) is never split or mixed with another. A last line without a newline is printed when the job ends, as is. The status line follows the job\'s last line. Cannot be combined with --keep-order, --ungroup or --json'
complete -c atp-run -s u -l ungroup -d 'Do not capture output: jobs write straight to atp-run\'s standard output and error, as they go (for long or interactive jobs). Output of different jobs may mix, even within a line. Status lines are still printed when jobs end; the progress display is off'
complete -c atp-run -l json -d 'Print one JSON object per finished job on standard output, one per line (NDJSON), instead of its output and status line: seq, run, command, start (Unix time, seconds), duration (seconds), exit_code (null if killed), signal (name or null), attempt, slot, error (why it could not run, or null), stdout and stderr (the job\'s whole output). Bytes that are not UTF-8 are replaced by U+FFFD, and then command_lossy, stdout_lossy or stderr_lossy is true. The summary stays on standard error. Combines with --keep-order; not with --tag, --line-buffer or --ungroup'
complete -c atp-run -l no-progress -d 'Do not show the progress display (it is shown only when standard error is a terminal)'
complete -c atp-run -s v -l verbose -d 'More diagnostics on standard error: -v info, -vv debug (pool decisions), -vvv trace. RUST_LOG overrides it'
complete -c atp-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c atp-run -s V -l version -d 'Print version'
