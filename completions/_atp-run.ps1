
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'atp-run' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'atp-run'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'atp-run' {
            [CompletionResult]::new('-a', '-a', [CompletionResultType]::ParameterName, 'Read arguments from FILE, like `:::: FILE` (GNU parallel and xargs -a); may be repeated, each FILE is one more input source')
            [CompletionResult]::new('--arg-file', '--arg-file', [CompletionResultType]::ParameterName, 'Read arguments from FILE, like `:::: FILE` (GNU parallel and xargs -a); may be repeated, each FILE is one more input source')
            [CompletionResult]::new('--colsep', '--colsep', [CompletionResultType]::ParameterName, 'Split each input line into columns at this regular expression (e.g. ''\t'', '','', '' +''); the columns are {1}, {2}, … as if each were an input source')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, '`:` — the first line of each input source names its columns, used as {name} in the template (with --colsep, one name per column); N — skip the first N lines of each source')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Give each job up to N arguments (input lines, or combinations of input sources), separated by spaces where {} is (xargs -n, parallel -n)')
            [CompletionResult]::new('--max-args', '--max-args', [CompletionResultType]::ParameterName, 'Give each job up to N arguments (input lines, or combinations of input sources), separated by spaces where {} is (xargs -n, parallel -n)')
            [CompletionResult]::new('-N', '-N ', [CompletionResultType]::ParameterName, 'Give each job N arguments, {1} … {N} being the first … N-th (the last job may have fewer; the missing ones are empty), as parallel -N')
            [CompletionResult]::new('-L', '-L ', [CompletionResultType]::ParameterName, 'Up to N input lines per job (xargs -L, parallel -L); a line is one argument (use --colsep to split it)')
            [CompletionResult]::new('--max-lines', '--max-lines', [CompletionResultType]::ParameterName, 'Up to N input lines per job (xargs -L, parallel -L); a line is one argument (use --colsep to split it)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Fill each job''s command up to N bytes at most (xargs -s, parallel -s); never more than the kernel allows')
            [CompletionResult]::new('--max-chars', '--max-chars', [CompletionResultType]::ParameterName, 'Fill each job''s command up to N bytes at most (xargs -s, parallel -s); never more than the kernel allows')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Use STR instead of {} as the placeholder for the arguments (xargs -I, parallel -I); {} is then plain text')
            [CompletionResult]::new('--replace', '--replace', [CompletionResultType]::ParameterName, 'Use STR instead of {} as the placeholder for the arguments (xargs -I, parallel -I); {} is then plain text')
            [CompletionResult]::new('--extensionreplace', '--extensionreplace', [CompletionResultType]::ParameterName, 'Use STR instead of {.} (the argument without extension), as parallel --er')
            [CompletionResult]::new('--er', '--er', [CompletionResultType]::ParameterName, 'Use STR instead of {.} (the argument without extension), as parallel --er')
            [CompletionResult]::new('--basenamereplace', '--basenamereplace', [CompletionResultType]::ParameterName, 'Use STR instead of {/} (the basename), as parallel --bnr')
            [CompletionResult]::new('--bnr', '--bnr', [CompletionResultType]::ParameterName, 'Use STR instead of {/} (the basename), as parallel --bnr')
            [CompletionResult]::new('--dirnamereplace', '--dirnamereplace', [CompletionResultType]::ParameterName, 'Use STR instead of {//} (the dirname), as parallel --dnr')
            [CompletionResult]::new('--dnr', '--dnr', [CompletionResultType]::ParameterName, 'Use STR instead of {//} (the dirname), as parallel --dnr')
            [CompletionResult]::new('--basenameextensionreplace', '--basenameextensionreplace', [CompletionResultType]::ParameterName, 'Use STR instead of {/.} (basename without extension), as parallel --bner')
            [CompletionResult]::new('--bner', '--bner', [CompletionResultType]::ParameterName, 'Use STR instead of {/.} (basename without extension), as parallel --bner')
            [CompletionResult]::new('--seqreplace', '--seqreplace', [CompletionResultType]::ParameterName, 'Use STR instead of {#} (the job number), as parallel --seqreplace')
            [CompletionResult]::new('--slotreplace', '--slotreplace', [CompletionResultType]::ParameterName, 'Use STR instead of {%} (the worker slot), as parallel --slotreplace')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). As in GNU parallel, N% is that share of the cores, +N and -N the cores plus or minus N; 0 means as many as possible: the adaptive pool, grown while CPU and memory allow (the default without -j). Cannot be combined with --min-workers or --max-workers')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). As in GNU parallel, N% is that share of the cores, +N and -N the cores plus or minus N; 0 means as many as possible: the adaptive pool, grown while CPU and memory allow (the default without -j). Cannot be combined with --min-workers or --max-workers')
            [CompletionResult]::new('-S', '-S ', [CompletionResultType]::ParameterName, 'Run jobs on these hosts over ssh: a comma-separated list of LOGIN or N/LOGIN, repeatable. LOGIN is host or user@host, a whole ssh command whose last word is the host (e.g. "ssh -p 2222 user@host"), or '':'' for this machine. N/ runs N jobs at once there; otherwise as many as it has cores. One ControlMaster per host is held for the run; nothing needs to be installed on the hosts. A host that stops answering is left out and its jobs run elsewhere (at least once)')
            [CompletionResult]::new('--sshlogin', '--sshlogin', [CompletionResultType]::ParameterName, 'Run jobs on these hosts over ssh: a comma-separated list of LOGIN or N/LOGIN, repeatable. LOGIN is host or user@host, a whole ssh command whose last word is the host (e.g. "ssh -p 2222 user@host"), or '':'' for this machine. N/ runs N jobs at once there; otherwise as many as it has cores. One ControlMaster per host is held for the run; nothing needs to be installed on the hosts. A host that stops answering is left out and its jobs run elsewhere (at least once)')
            [CompletionResult]::new('--slf', '--slf', [CompletionResultType]::ParameterName, 'Read -S logins from FILE, one list per line (''#'' starts a comment line)')
            [CompletionResult]::new('--ssh', '--ssh', [CompletionResultType]::ParameterName, 'The ssh command for -S logins, with its options [default: ssh]')
            [CompletionResult]::new('--min-workers', '--min-workers', [CompletionResultType]::ParameterName, 'Workers kept alive at all times, even when idle [default: 2]')
            [CompletionResult]::new('--max-workers', '--max-workers', [CompletionResultType]::ParameterName, 'Most workers (so jobs) at once [default: 512]')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'How long a worker above the minimum may sit idle before it retires, e.g. 500ms, 5s, 1m [default: 5s]')
            [CompletionResult]::new('--stack-size', '--stack-size', [CompletionResultType]::ParameterName, 'Stack size of each worker thread: KiB (at least 64), or a size such as 1M [default: 512]')
            [CompletionResult]::new('--cpu-threshold', '--cpu-threshold', [CompletionResultType]::ParameterName, 'Grow only while CPU utilisation (of the machine, or of the cgroup''s CPU quota) is below this percentage [default: 90]')
            [CompletionResult]::new('--memory-reserve', '--memory-reserve', [CompletionResultType]::ParameterName, 'Grow only while more memory than this is available (of the machine, or under the cgroup''s limit), and back off under half of it, e.g. 512M, 2G [default: 5% of memory, between 64M and 1G]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'With --repeat, wait this long between the end of a run and the next')
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'On interruption, how long running jobs get between SIGTERM and SIGKILL')
            [CompletionResult]::new('--joblog', '--joblog', [CompletionResultType]::ParameterName, 'Log every finished job to FILE in GNU parallel''s --joblog format (tab separated: Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command), one row written as each job ends. FILE is truncated first; with +FILE rows are appended (the header is written only into an empty file). A retried job gets one row, for its last attempt')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Run a failing job up to N times in all; each attempt''s status line says which it was, and only the last attempt counts in the summary, the exit status and the --joblog. With --keep-order or --json only the last attempt''s output is printed (in the job''s turn, or as its object)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give each job at most DURATION (e.g. 30s, 5m, or seconds), then run the --termseq termination sequence on its whole process group. A timed-out job counts as failed (joblog Exitval -1, as in GNU parallel; --json "timed_out":true). Works with every output mode')
            [CompletionResult]::new('--termseq', '--termseq', [CompletionResultType]::ParameterName, 'Termination sequence for --timeout and --halt now, in GNU parallel''s syntax: signal names and milliseconds to wait for the job''s process group to go before the next signal')
            [CompletionResult]::new('--halt', '--halt', [CompletionResultType]::ParameterName, 'Stop early, as GNU parallel''s --halt: WHEN,WHY=N or WHEN,WHY=P%. WHEN is soon (start no new job, wait for the running ones) or now (also kill the running ones with --termseq); WHY is fail, success or done (any end); N jobs, or P% of all jobs (decided once the input has ended). never (the default) and GNU''s 0, 1, 2, -1, -2 and P% forms work too. See EXIT STATUS')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour status lines: auto (when standard error is a terminal and NO_COLOR is unset), always or never')
            [CompletionResult]::new('-0', '-0', [CompletionResultType]::ParameterName, 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept')
            [CompletionResult]::new('--null', '--null', [CompletionResultType]::ParameterName, 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept')
            [CompletionResult]::new('--link', '--link', [CompletionResultType]::ParameterName, 'Pair the input sources up instead of combining every value of each with every value of the others: job i takes value i of each source, and the shorter sources are recycled (GNU parallel --link). `:::+` and `::::+` pair one source with the one before it and stop at the shorter')
            [CompletionResult]::new('--csv', '--csv', [CompletionResultType]::ParameterName, 'Read each input line as CSV (RFC 4180), as GNU parallel --csv: its fields are the columns {1}, {2}, …; a quoted field may hold commas, "" for a quote, and newlines')
            [CompletionResult]::new('-X', '-X ', [CompletionResultType]::ParameterName, 'As many arguments per job as fit the command-line limits, repeating the word around {} for each (context replace: `-X -- mv {} dir/` and `x{}y` → `xay xby`), as parallel -X. Jobs are filled up to the kernel''s limits (128 KiB per argument, ARG_MAX less the environment)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'As many arguments per job as fit the command-line limits, {} standing for all of them separated by spaces, as parallel -m')
            [CompletionResult]::new('--quote', '--quote', [CompletionResultType]::ParameterName, 'Shell-quote the template words too, so a word like `''$x''` or `a|b` reaches the command as it is (GNU parallel''s -q; our -q is --quiet)')
            [CompletionResult]::new('--slurm', '--slurm', [CompletionResultType]::ParameterName, 'Run each job as a step of the current Slurm allocation (inside salloc or sbatch): srun --exact -N1 -n1 -c1, as many at once as the allocation has CPUs. A step''s processes are stopped the way local jobs are, and nothing is left when atp-run ends, even by SIGKILL')
            [CompletionResult]::new('--ignore-load', '--ignore-load', [CompletionResultType]::ParameterName, 'Grow by the backlog alone, up to --max-workers, ignoring CPU and memory load')
            [CompletionResult]::new('--repeat', '--repeat', [CompletionResultType]::ParameterName, 'Turn every command into a watchdog: rerun it each time it ends, until Ctrl-C. Failed runs are reported and the loop goes on, backing off (consecutive failures wait 10 ms, doubling up to 1 s or --interval; a success resets it); the summary counts runs and failures per command')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Skip the jobs whose number (Seq) is already in the --joblog, whatever their status, and append to it: rerun the same input after an interruption to finish the rest. Reads joblogs written by GNU parallel too')
            [CompletionResult]::new('--resume-failed', '--resume-failed', [CompletionResultType]::ParameterName, 'Like --resume, but rerun the jobs the --joblog shows as failed (Exitval or Signal not 0); skip only the ones that succeeded')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print each command as it would run (after template substitution and quoting), one per line on standard output, in input order, and run nothing. With --resume, the jobs it would skip are left out; with --tag, each line is prefixed like a job''s output. --keep-order, --line-buffer and --ungroup change nothing; --json (which reports finished jobs) and --repeat cannot be combined with it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print status lines only for jobs that did not succeed (and the summary only when something failed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print status lines only for jobs that did not succeed (and the summary only when something failed)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Print each job''s output in input order (job number order) instead of completion order, still as whole blocks, each followed by its status line. Streamed: a job''s block is printed as soon as every earlier job''s was; jobs that finished early wait in their temporary files (not in memory), and no new job starts while 256 wait. When interrupted, what waits is printed. Cannot be combined with --ungroup, --line-buffer or --repeat')
            [CompletionResult]::new('--keep-order', '--keep-order', [CompletionResultType]::ParameterName, 'Print each job''s output in input order (job number order) instead of completion order, still as whole blocks, each followed by its status line. Streamed: a job''s block is printed as soon as every earlier job''s was; jobs that finished early wait in their temporary files (not in memory), and no new job starts while 256 wait. When interrupted, what waits is printed. Cannot be combined with --ungroup, --line-buffer or --repeat')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Prefix every line of a job''s output (stdout and stderr) with its argument (the input line, with a TEMPLATE) or else its command, and a tab, like GNU parallel --tag. A last line without a newline is prefixed too, and no newline is added to it. Combines with --keep-order and --line-buffer')
            [CompletionResult]::new('--line-buffer', '--line-buffer', [CompletionResultType]::ParameterName, 'Print jobs'' output line by line as it is produced: lines of different jobs may interleave, but a line (up to 1 MiB) is never split or mixed with another. A last line without a newline is printed when the job ends, as is. The status line follows the job''s last line. Cannot be combined with --keep-order, --ungroup or --json')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Do not capture output: jobs write straight to atp-run''s standard output and error, as they go (for long or interactive jobs). Output of different jobs may mix, even within a line. Status lines are still printed when jobs end; the progress display is off')
            [CompletionResult]::new('--ungroup', '--ungroup', [CompletionResultType]::ParameterName, 'Do not capture output: jobs write straight to atp-run''s standard output and error, as they go (for long or interactive jobs). Output of different jobs may mix, even within a line. Status lines are still printed when jobs end; the progress display is off')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per finished job on standard output, one per line (NDJSON), instead of its output and status line: seq, run, command, start (Unix time, seconds), duration (seconds), exit_code (null if killed), signal (name or null), timed_out (its --timeout ran out), attempt (the one that counted, with --retries), slot, error (why it could not run, or null), stdout and stderr (the job''s whole output). Bytes that are not UTF-8 are replaced by U+FFFD, and then command_lossy, stdout_lossy or stderr_lossy is true. The summary stays on standard error. Combines with --keep-order; not with --tag, --line-buffer or --ungroup')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Do not show the progress display (it is shown only when standard error is a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More diagnostics on standard error: -v info, -vv debug (pool decisions), -vvv trace. RUST_LOG overrides it')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More diagnostics on standard error: -v info, -vv debug (pool decisions), -vvv trace. RUST_LOG overrides it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
