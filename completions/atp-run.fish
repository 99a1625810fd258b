complete -c atp-run -s j -l jobs -d 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). Cannot be combined with --min-workers or --max-workers' -r
complete -c atp-run -l min-workers -d 'Workers kept alive at all times, even when idle [default: 2]' -r
complete -c atp-run -l max-workers -d 'Most workers (so jobs) at once [default: 512]' -r
complete -c atp-run -l idle-timeout -d 'How long a worker above the minimum may sit idle before it retires, e.g. 500ms, 5s, 1m [default: 5s]' -r
complete -c atp-run -l stack-size -d 'Stack size of each worker thread in KiB (at least 64) [default: 512]' -r
complete -c atp-run -l cpu-threshold -d 'Grow only while CPU utilisation (of the machine, or of the cgroup\'s CPU quota) is below this percentage [default: 90]' -r
complete -c atp-run -l memory-reserve -d 'Grow only while more memory than this is available (of the machine, or under the cgroup\'s limit), and back off under half of it, e.g. 512M, 2G [default: 5% of memory, between 64M and 1G]' -r
complete -c atp-run -l interval -d 'With --repeat, wait this long between the end of a run and the next' -r
complete -c atp-run -l grace -d 'On interruption, how long running jobs get between SIGTERM and SIGKILL' -r
complete -c atp-run -l joblog -d 'Log every finished job to FILE in GNU parallel\'s --joblog format (tab separated: Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command), one row written as each job ends. FILE is truncated first; with +FILE rows are appended (the header is written only into an empty file). A retried job gets one row, for its last attempt' -r
complete -c atp-run -l retries -d 'Run a failing job up to N times in all; each attempt\'s status line says which it was, and only the last attempt counts in the summary, the exit status and the --joblog' -r
complete -c atp-run -l timeout -d 'Give each job at most DURATION (e.g. 30s, 5m, or seconds), then run the --termseq termination sequence on its whole process group. A timed-out job counts as failed (joblog Exitval -1, as in GNU parallel)' -r
complete -c atp-run -l termseq -d 'Termination sequence for --timeout and --halt now, in GNU parallel\'s syntax: signal names and milliseconds to wait for the job\'s process group to go before the next signal' -r
complete -c atp-run -l halt -d 'Stop early, as GNU parallel\'s --halt: WHEN,WHY=N or WHEN,WHY=P%. WHEN is soon (start no new job, wait for the running ones) or now (also kill the running ones with --termseq); WHY is fail, success or done (any end); N jobs, or P% of all jobs (decided once the input has ended). never (the default) and GNU\'s 0, 1, 2, -1, -2 and P% forms work too. See EXIT STATUS' -r
complete -c atp-run -l color -d 'Colour status lines: auto (when standard error is a terminal and NO_COLOR is unset), always or never' -r -f -a "auto\t'Colour when standard error is a terminal and NO_COLOR is not set'
always\t'Always colour'
never\t'Never colour'"
complete -c atp-run -s 0 -l null -d 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept'
complete -c atp-run -l ignore-load -d 'Grow by the backlog alone, up to --max-workers, ignoring CPU and memory load'
complete -c atp-run -l repeat -d 'Turn every command into a watchdog: rerun it each time it ends, until Ctrl-C. Failed runs are reported and the loop goes on; the summary counts runs and failures per command'
complete -c atp-run -l resume -d 'Skip the jobs whose number (Seq) is already in the --joblog, whatever their status, and append to it: rerun the same input after an interruption to finish the rest. Reads joblogs written by GNU parallel too'
complete -c atp-run -l resume-failed -d 'Like --resume, but rerun the jobs the --joblog shows as failed (Exitval or Signal not 0); skip only the ones that succeeded'
complete -c atp-run -l dry-run -d 'Print each command as it would run (after template substitution and quoting), one per line on standard output, and run nothing. With --resume, the jobs it would skip are left out'
complete -c atp-run -s q -l quiet -d 'Print status lines only for jobs that did not succeed (and the summary only when something failed)'
complete -c atp-run -l no-progress -d 'Do not show the progress display (it is shown only when standard error is a terminal)'
complete -c atp-run -s v -l verbose -d 'More diagnostics on standard error: -v info, -vv debug (pool decisions), -vvv trace. RUST_LOG overrides it'
complete -c atp-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c atp-run -s V -l version -d 'Print version'
