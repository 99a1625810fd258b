
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
            cand -a 'Read arguments from FILE, like `:::: FILE` (GNU parallel and xargs -a); may be repeated, each FILE is one more input source'
            cand --arg-file 'Read arguments from FILE, like `:::: FILE` (GNU parallel and xargs -a); may be repeated, each FILE is one more input source'
            cand --colsep 'Split each input line into columns at this regular expression (e.g. ''\t'', '','', '' +''); the columns are {1}, {2}, … as if each were an input source'
            cand --header '`:` — the first line of each input source names its columns, used as {name} in the template (with --colsep, one name per column); N — skip the first N lines of each source. With --pipe: the first line (`:`) or the first N lines of the input start every block'
            cand --block 'With --pipe, about this many bytes per block: as in GNU parallel, k, m, g are powers of 1000 and K, M, G powers of 1024; a block ends at the last record boundary within SIZE, or holds one whole record if a record is longer [default: 1M]'
            cand --block-size 'With --pipe, about this many bytes per block: as in GNU parallel, k, m, g are powers of 1000 and K, M, G powers of 1024; a block ends at the last record boundary within SIZE, or holds one whole record if a record is longer [default: 1M]'
            cand --recend 'With --pipe, records end with STR [default: \n; '''' with --recstart alone]; -0 means --recend ''\0''. \n, \t, \r, \0 and \\ are decoded. --recend '''' alone cuts blocks at exactly --block bytes (binary data)'
            cand --recstart 'With --pipe, records start with STR: blocks are cut only before it (and, with --recend too, only where a record end is followed by it)'
            cand -n 'Give each job up to N arguments (input lines, or combinations of input sources), separated by spaces where {} is (xargs -n, parallel -n). With --pipe: N records per block, as -N'
            cand --max-args 'Give each job up to N arguments (input lines, or combinations of input sources), separated by spaces where {} is (xargs -n, parallel -n). With --pipe: N records per block, as -N'
            cand -N 'Give each job N arguments, {1} … {N} being the first … N-th (the last job may have fewer; the missing ones are empty), as parallel -N. With --pipe: N records per block (the last may have fewer), whatever --block'
            cand -L 'Up to N input lines per job (xargs -L, parallel -L); a line is one argument (use --colsep to split it)'
            cand --max-lines 'Up to N input lines per job (xargs -L, parallel -L); a line is one argument (use --colsep to split it)'
            cand -s 'Fill each job''s command up to N bytes at most (xargs -s, parallel -s); never more than the kernel allows'
            cand --max-chars 'Fill each job''s command up to N bytes at most (xargs -s, parallel -s); never more than the kernel allows'
            cand -I 'Use STR instead of {} as the placeholder for the arguments (xargs -I, parallel -I); {} is then plain text'
            cand --replace 'Use STR instead of {} as the placeholder for the arguments (xargs -I, parallel -I); {} is then plain text'
            cand --extensionreplace 'Use STR instead of {.} (the argument without extension), as parallel --er'
            cand --er 'Use STR instead of {.} (the argument without extension), as parallel --er'
            cand --basenamereplace 'Use STR instead of {/} (the basename), as parallel --bnr'
            cand --bnr 'Use STR instead of {/} (the basename), as parallel --bnr'
            cand --dirnamereplace 'Use STR instead of {//} (the dirname), as parallel --dnr'
            cand --dnr 'Use STR instead of {//} (the dirname), as parallel --dnr'
            cand --basenameextensionreplace 'Use STR instead of {/.} (basename without extension), as parallel --bner'
            cand --bner 'Use STR instead of {/.} (basename without extension), as parallel --bner'
            cand --seqreplace 'Use STR instead of {#} (the job number), as parallel --seqreplace'
            cand --slotreplace 'Use STR instead of {%} (the worker slot), as parallel --slotreplace'
            cand -j 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). As in GNU parallel, N% is that share of the cores, +N and -N the cores plus or minus N; 0 means as many as possible: the adaptive pool, grown while CPU and memory allow (the default without -j). Cannot be combined with --min-workers or --max-workers'
            cand --jobs 'Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N or xargs -P N). As in GNU parallel, N% is that share of the cores, +N and -N the cores plus or minus N; 0 means as many as possible: the adaptive pool, grown while CPU and memory allow (the default without -j). Cannot be combined with --min-workers or --max-workers'
            cand -S 'Run jobs on these hosts over ssh: a comma-separated list of LOGIN or N/LOGIN, repeatable. LOGIN is host or user@host, a whole ssh command whose last word is the host (e.g. "ssh -p 2222 user@host"), or '':'' for this machine. N/ runs N jobs at once there; otherwise as many as it has cores. One ControlMaster per host is held for the run; nothing needs to be installed on the hosts. A host that stops answering is left out and its jobs run elsewhere (at least once)'
            cand --sshlogin 'Run jobs on these hosts over ssh: a comma-separated list of LOGIN or N/LOGIN, repeatable. LOGIN is host or user@host, a whole ssh command whose last word is the host (e.g. "ssh -p 2222 user@host"), or '':'' for this machine. N/ runs N jobs at once there; otherwise as many as it has cores. One ControlMaster per host is held for the run; nothing needs to be installed on the hosts. A host that stops answering is left out and its jobs run elsewhere (at least once)'
            cand --slf 'Read -S logins from FILE, one list per line (''#'' starts a comment line)'
            cand --ssh 'The ssh command for -S logins, with its options [default: ssh]'
            cand --min-workers 'Workers kept alive at all times, even when idle [default: 2]'
            cand --max-workers 'Most workers (so jobs) at once [default: 512]'
            cand --idle-timeout 'How long a worker above the minimum may sit idle before it retires, e.g. 500ms, 5s, 1m [default: 5s]'
            cand --stack-size 'Stack size of each worker thread: KiB (at least 64), or a size such as 1M [default: 512]'
            cand --cpu-threshold 'Grow only while CPU utilisation (of the machine, or of the cgroup''s CPU quota) is below this percentage [default: 90]'
            cand --memory-reserve 'Grow only while more memory than this is available (of the machine, or under the cgroup''s limit), and back off under half of it, e.g. 512M, 2G [default: 5% of memory, between 64M and 1G]'
            cand --interval 'With --repeat, wait this long between the end of a run and the next'
            cand --grace 'On interruption, how long running jobs get between SIGTERM and SIGKILL'
            cand --joblog 'Log every finished job to FILE in GNU parallel''s --joblog format (tab separated: Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command), one row written as each job ends. FILE is truncated first; with +FILE rows are appended (the header is written only into an empty file). A retried job gets one row, for its last attempt'
            cand --retries 'Run a failing job up to N times in all; each attempt''s status line says which it was, and only the last attempt counts in the summary, the exit status and the --joblog. With --keep-order or --json only the last attempt''s output is printed (in the job''s turn, or as its object)'
            cand --timeout 'Give each job at most DURATION (e.g. 30s, 5m, or seconds), then run the --termseq termination sequence on its whole process group. A timed-out job counts as failed (joblog Exitval -1, as in GNU parallel; --json "timed_out":true). Works with every output mode'
            cand --termseq 'Termination sequence for --timeout and --halt now, in GNU parallel''s syntax: signal names and milliseconds to wait for the job''s process group to go before the next signal'
            cand --halt 'Stop early, as GNU parallel''s --halt: WHEN,WHY=N or WHEN,WHY=P%. WHEN is soon (start no new job, wait for the running ones) or now (also kill the running ones with --termseq); WHY is fail, success or done (any end); N jobs, or P% of all jobs (decided once the input has ended). never (the default) and GNU''s 0, 1, 2, -1, -2 and P% forms work too. See EXIT STATUS'
            cand --color 'Colour status lines: auto (when standard error is a terminal and NO_COLOR is unset), always or never'
            cand -0 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept. With --pipe: records end with NUL (--recend ''\0'')'
            cand --null 'Input records are separated by NUL bytes instead of newlines (for `find -print0`); newlines and spaces inside records are kept. With --pipe: records end with NUL (--recend ''\0'')'
            cand --link 'Pair the input sources up instead of combining every value of each with every value of the others: job i takes value i of each source, and the shorter sources are recycled (GNU parallel --link). `:::+` and `::::+` pair one source with the one before it and stop at the shorter'
            cand --csv 'Read each input line as CSV (RFC 4180), as GNU parallel --csv: its fields are the columns {1}, {2}, …; a quoted field may hold commas, "" for a quote, and newlines'
            cand --pipe 'Cut standard input (or the -a FILE) into blocks of about --block bytes ending at record boundaries, and give each block to one job as its standard input (GNU parallel --pipe). The words after the options are the command, run once per block: `seq 10 | atp-run --pipe wc -l`; {#} and {%} work in it. A job that ends without reading all of its block fails as killed by SIGPIPE, as GNU parallel reports it. Memory stays about (running jobs + 4) x --block, whatever the input''s size'
            cand --spreadstdin 'Cut standard input (or the -a FILE) into blocks of about --block bytes ending at record boundaries, and give each block to one job as its standard input (GNU parallel --pipe). The words after the options are the command, run once per block: `seq 10 | atp-run --pipe wc -l`; {#} and {%} work in it. A job that ends without reading all of its block fails as killed by SIGPIPE, as GNU parallel reports it. Memory stays about (running jobs + 4) x --block, whatever the input''s size'
            cand -X 'As many arguments per job as fit the command-line limits, repeating the word around {} for each (context replace: `-X -- mv {} dir/` and `x{}y` → `xay xby`), as parallel -X. Jobs are filled up to the kernel''s limits (128 KiB per argument, ARG_MAX less the environment)'
            cand -m 'As many arguments per job as fit the command-line limits, {} standing for all of them separated by spaces, as parallel -m'
            cand --quote 'Shell-quote the template words too, so a word like `''$x''` or `a|b` reaches the command as it is (GNU parallel''s -q; our -q is --quiet)'
            cand --slurm 'Run each job as a step of the current Slurm allocation (inside salloc or sbatch): srun --exact -N1 -n1 -c1, as many at once as the allocation has CPUs. A step''s processes are stopped the way local jobs are, and nothing is left when atp-run ends, even by SIGKILL'
            cand --ignore-load 'Grow by the backlog alone, up to --max-workers, ignoring CPU and memory load'
            cand --repeat 'Turn every command into a watchdog: rerun it each time it ends, until Ctrl-C. Failed runs are reported and the loop goes on, backing off (consecutive failures wait 10 ms, doubling up to 1 s or --interval; a success resets it); the summary counts runs and failures per command'
            cand --resume 'Skip the jobs whose number (Seq) is already in the --joblog, whatever their status, and append to it: rerun the same input after an interruption to finish the rest. Reads joblogs written by GNU parallel too'
            cand --resume-failed 'Like --resume, but rerun the jobs the --joblog shows as failed (Exitval or Signal not 0); skip only the ones that succeeded'
            cand --dry-run 'Print each command as it would run (after template substitution and quoting), one per line on standard output, in input order, and run nothing. With --resume, the jobs it would skip are left out; with --tag, each line is prefixed like a job''s output. --keep-order, --line-buffer and --ungroup change nothing; --json (which reports finished jobs) and --repeat cannot be combined with it'
            cand -q 'Print status lines only for jobs that did not succeed (and the summary only when something failed)'
            cand --quiet 'Print status lines only for jobs that did not succeed (and the summary only when something failed)'
            cand -k 'Print each job''s output in input order (job number order) instead of completion order, still as whole blocks, each followed by its status line. Streamed: a job''s block is printed as soon as every earlier job''s was; jobs that finished early wait in their temporary files (not in memory), and no new job starts while 256 wait. When interrupted, what waits is printed. Cannot be combined with --ungroup, --line-buffer or --repeat'
            cand --keep-order 'Print each job''s output in input order (job number order) instead of completion order, still as whole blocks, each followed by its status line. Streamed: a job''s block is printed as soon as every earlier job''s was; jobs that finished early wait in their temporary files (not in memory), and no new job starts while 256 wait. When interrupted, what waits is printed. Cannot be combined with --ungroup, --line-buffer or --repeat'
            cand --tag 'Prefix every line of a job''s output (stdout and stderr) with its argument (the input line, with a TEMPLATE) or else its command, and a tab, like GNU parallel --tag. A last line without a newline is prefixed too, and no newline is added to it. Combines with --keep-order and --line-buffer'
            cand --line-buffer 'Print jobs'' output line by line as it is produced: lines of different jobs may interleave, but a line (up to 1 MiB) is never split or mixed with another. A last line without a newline is printed when the job ends, as is. The status line follows the job''s last line. Cannot be combined with --keep-order, --ungroup or --json'
            cand -u 'Do not capture output: jobs write straight to atp-run''s standard output and error, as they go (for long or interactive jobs). Output of different jobs may mix, even within a line. Status lines are still printed when jobs end; the progress display is off'
            cand --ungroup 'Do not capture output: jobs write straight to atp-run''s standard output and error, as they go (for long or interactive jobs). Output of different jobs may mix, even within a line. Status lines are still printed when jobs end; the progress display is off'
            cand --json 'Print one JSON object per finished job on standard output, one per line (NDJSON), instead of its output and status line: seq, run, command, start (Unix time, seconds), duration (seconds), exit_code (null if killed), signal (name or null), timed_out (its --timeout ran out), attempt (the one that counted, with --retries), slot, error (why it could not run, or null), stdout and stderr (the job''s whole output). Bytes that are not UTF-8 are replaced by U+FFFD, and then command_lossy, stdout_lossy or stderr_lossy is true. The summary stays on standard error. Combines with --keep-order; not with --tag, --line-buffer or --ungroup'
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
