# The remote job wrapper (issue 13, point 3), embedded in atp-run. POSIX sh + setsid(1).
# Remote command:  sh -c "<this file>" atp NONCE 'JOB LINE' [step]
# - JOB LINE runs as `sh -c` would run it, in its own session and process group,
#   stdin /dev/null, stdout and stderr straight to ssh's (byte-exact, unbuffered).
# - ssh's stdin is a control channel: a line "TERM" (any kill -s name) signals the
#   group; end-of-file (local ssh killed, ControlMaster killed, link dropped) sends
#   TERM, then KILL 2 s later.
# - When the job's shell ends, what is left of its group is killed, then ONE trailer
#   is written as the last bytes of stderr:  "@atp:NONCE exit N\n" or
#   "@atp:NONCE signal S\n". The client strips it; no trailer = job lost.
# - Signal vs exit 128+S: the job's shell reports a normal end from its EXIT trap on
#   fd 9; a shell killed by a signal never runs it. fd 9 is closed for the job's
#   commands, so leftovers cannot hold the report pipe open.
n=$1 c=$2
exec 3<&0 </dev/null 5>&1
r=$(
    setsid sh -c 'trap "echo e\$? >&9" EXIT; c=$1; set --; eval "unset c; $c" 9>&-' sh "$c" \
        9>&1 >&5 3<&- 5>&- &
    p=$!
    {
        while IFS= read -r s; do kill -s "$s" -- "-$p"; done
        kill -s TERM -- "-$p" && sleep 2 && kill -s KILL -- "-$p"
    } <&3 >/dev/null 2>&1 5>&- &
    w=$!
    wait "$p" 2>/dev/null # (dash reports "Killed" on stderr otherwise)
    echo "w$?"
    kill -s KILL -- "-$p" 2>/dev/null
    kill "$w" 2>/dev/null
)
case $r in
*e*) s=${r#*e} s=${s%%[!0-9]*} t="exit $s" ;;
*) s=${r#*w} t="exit $s" && [ "$s" -gt 128 ] && t="signal $((s - 128))" ;;
esac
printf '@atp:%s %s\n' "$n" "$t" >&2
# Under srun (third argument "step"), exit 0: srun would print its own line about
# a non-zero exit into the job's stderr, after the record.
[ "${3:-}" = step ] && exit 0
exit "$s"
