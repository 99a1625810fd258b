#!/usr/bin/env bash
# Checks the remote job wrapper (src/run/exec/ssh/wrapper.sh) against the three loopback SSH hosts:
#   .ci/sshd-hosts.sh start && .ci/proto/test-remote-wrapper.sh [--bench]
# Prints one line per check and "N passed, N failed"; exits non-zero on any failure.
# --bench also times 50 x `ssh host true` over new connections vs one ControlMaster.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
STATE=${ATP_TEST_HOSTS_DIR:-/tmp/atp-test-hosts}
CFG=$STATE/ssh_config
[ -f "$CFG" ] || { echo "test-remote-wrapper: no $CFG: run .ci/sshd-hosts.sh start first" >&2; exit 2; }
WRAPPER=$(cat "$here/../../src/run/exec/ssh/wrapper.sh")
NONCE=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
T=$(mktemp -d /tmp/atp-wrap.XXXXXX)
CP=$T/cm-%h # ControlPath: keep it short (Unix sockets: ~104 bytes)
pass=0 fail=0
masters=()

cleanup() {
    local m
    for m in "${masters[@]}"; do kill "$m" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# Single-quote one word for the remote login shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
remote_cmd() { printf 'sh -c %s atp %s %s' "$(q "$WRAPPER")" "$NONCE" "$(q "$1")"; }

# start_job NAME HOST JOB [ssh options...]: ssh in the background, its stdin a FIFO
# that this script holds open (fd saved in CTL_NAME): closing it is the EOF signal.
declare -A CTL PID
close_all_ctl() { local f; for f in "${CTL[@]}"; do eval "exec $f>&-"; done; }
start_job() {
    local name=$1 host=$2 job=$3 fd
    shift 3
    mkfifo "$T/$name.ctl"
    # The child must not inherit the other jobs' control FIFOs, or their EOF never comes.
    (
        close_all_ctl
        exec ssh -F "$CFG" "$@" "$host" "$(remote_cmd "$job")" <"$T/$name.ctl" >"$T/$name.out" 2>"$T/$name.err"
    ) &
    PID[$name]=$!
    exec {fd}>"$T/$name.ctl"
    CTL[$name]=$fd
}
# finish_job NAME: close the control channel, wait, split the trailer off stderr.
# Sets RC (ssh's exit), STATUS ("exit N"/"signal S"/"lost"), OUT, ERR (stripped).
finish_job() {
    local name=$1 last
    wait "${PID[$name]}"
    RC=$?
    close_ctl "$name"
    OUT=$(cat "$T/$name.out"; echo .) OUT=${OUT%.}
    ERR=$(cat "$T/$name.err"; echo .) ERR=${ERR%.}
    last=${ERR##*@atp:$NONCE }
    if [ "$last" != "$ERR" ] && [[ $last =~ ^(exit|signal)\ [0-9]+$'\n'$ ]]; then
        STATUS=${last%$'\n'}
        ERR=${ERR%@atp:$NONCE *}
    else
        STATUS=lost
    fi
}
run_job() { start_job "$@" && finish_job "$1"; }
close_ctl() { local fd=${CTL[$1]}; exec {fd}>&-; }

# Processes on HOST whose whole command line matches PATTERN (ps inside the host's namespace).
remote_count() { ssh -F "$CFG" "$1" "ps -e -o args" | grep -cx -- "$2"; }
# Seconds (wall, from the call) until nothing on HOST matches PATTERN; fails after 10 s.
time_until_gone() {
    local t0 t n
    t0=$(date +%s%N)
    while :; do
        n=$(remote_count "$1" "$2")
        t=$(($(date +%s%N) - t0))
        [ "$n" = 0 ] && break
        [ $t -gt 10000000000 ] && return 1
        sleep 0.1
    done
    printf '%d.%02d\n' $((t / 1000000000)) $((t / 10000000 % 100))
}

start_master() { # start_master HOST -> MASTER pid
    # A master killed by SIGKILL leaves its socket behind; a new master would then
    # refuse to listen ("ControlSocket ... already exists, disabling multiplexing").
    rm -f "$T/cm-$(ssh -F "$CFG" -G "$1" | sed -n 's/^hostname //p')"
    (close_all_ctl; exec ssh -F "$CFG" -M -S "$CP" -o ControlPersist=no -N "$1" </dev/null) &
    MASTER=$!
    masters+=("$MASTER")
    local i
    for i in $(seq 50); do ssh -F "$CFG" -S "$CP" -O check "$1" 2>/dev/null && return 0; sleep 0.1; done
    bad "ControlMaster for $1 did not start"
    return 1
}
MUX=(-S "$CP" -o ControlMaster=no)

# 1. Exit codes and byte-exact output, on each host, new connection and multiplexed.
for h in host1 host2 host3; do start_master "$h"; done
for h in host1 host2 host3; do
    for mode in direct mux; do
        opts=()
        [ $mode = mux ] && opts=("${MUX[@]}")
        for code in 0 3 255; do
            run_job "e$code-$h-$mode" "$h" "printf 'out\n%s' \"\$(hostname)\"; printf 'err no newline' >&2; exit $code" "${opts[@]}"
            if [ "$STATUS" = "exit $code" ] && [ "$RC" = "$code" ] && [ "$OUT" = $'out\n'"$h" ] && [ "$ERR" = "err no newline" ]; then
                ok "$h $mode: exit $code passed through, stdout/stderr byte-exact"
            else
                bad "$h $mode: exit $code: rc=$RC status=$STATUS out=$(printf %q "$OUT") err=$(printf %q "$ERR")"
            fi
        done
    done
done

# 2. kill -9 $$ in the job: a signal, not exit 137 and not ssh's 255; exit 137 stays an exit.
run_job k9 host2 'echo before; kill -9 $$; echo after' "${MUX[@]}"
[ "$STATUS" = "signal 9" ] && [ "$OUT" = $'before\n' ] && [ -z "$ERR" ] \
    && ok "kill -9 \$\$ -> signal 9, no noise (ssh rc $RC)" || bad "kill -9 \$\$: status=$STATUS rc=$RC err=$(printf %q "$ERR")"
run_job x137 host2 'exit 137' "${MUX[@]}"
[ "$STATUS" = "exit 137" ] && ok "exit 137 -> exit 137 (not a signal)" || bad "exit 137: status=$STATUS"
run_job kt host3 'kill -TERM $$' "${MUX[@]}"
[ "$STATUS" = "signal 15" ] && ok "kill -TERM \$\$ -> signal 15" || bad "kill -TERM \$\$: status=$STATUS"

# 3. Background leftovers are killed when the job's shell ends.
run_job bg host3 'sleep 301 & sleep 302 & echo started' "${MUX[@]}"
n=$(remote_count host3 'sleep 30[12]')
[ "$STATUS" = "exit 0" ] && [ "$n" = 0 ] && ok "background leftovers cleaned (0 left on host3)" \
    || bad "leftovers: status=$STATUS, $n sleep 30x left on host3"

# 4. A TERM line on the control channel reaches the job's trap (and its whole group).
start_job term host1 'trap "echo got TERM; exit 7" TERM; sleep 303 & wait' "${MUX[@]}"
sleep 1
echo TERM >&"${CTL[term]}"
finish_job term
n=$(remote_count host1 'sleep 303')
[ "$STATUS" = "exit 7" ] && [ "$OUT" = $'got TERM\n' ] && [ "$n" = 0 ] \
    && ok "TERM line reached the job's trap (exit 7), its child gone" \
    || bad "TERM line: status=$STATUS out=$(printf %q "$OUT") left=$n"

# 4b. Closing the control channel (EOF) sends TERM; a job that ignores it gets KILL 2 s later.
start_job eof host1 'trap "echo got TERM; exit 9" TERM; sleep 315 & wait' "${MUX[@]}"
sleep 1
close_ctl eof
finish_job eof
[ "$STATUS" = "exit 9" ] && [ "$OUT" = $'got TERM\n' ] && [ "$(remote_count host1 'sleep 315')" = 0 ] \
    && ok "EOF on the control channel: TERM reached the job's trap, its child gone" \
    || bad "EOF: status=$STATUS out=$(printf %q "$OUT")"
start_job eofkill host1 "trap '' TERM; sleep 316" "${MUX[@]}"
sleep 1
t0=$(date +%s%N)
close_ctl eofkill
finish_job eofkill
t=$((($(date +%s%N) - t0) / 10000000))
[ "$STATUS" = "signal 9" ] && [ $t -ge 190 ] && [ "$(remote_count host1 'sleep 316')" = 0 ] \
    && ok "EOF, job ignoring TERM: KILLed $((t / 100)).$((t % 100)) s after EOF" \
    || bad "EOF, job ignoring TERM: status=$STATUS after $((t / 100)).$((t % 100)) s"

# 5. Killing the local ssh (direct and multiplexed) or the ControlMaster kills the remote tree.
for how in direct mux master; do
    h=host2
    opts=()
    [ $how != direct ] && opts=("${MUX[@]}")
    start_job "kill-$how" $h "sleep 304 | sleep 305 & sleep 306" "${opts[@]}"
    for i in $(seq 50); do [ "$(remote_count $h 'sleep 30[456]')" = 3 ] && break; sleep 0.1; done
    [ "$i" = 50 ] && bad "kill-$how: the job's 3 processes never showed up on $h"
    if [ $how = master ]; then
        m=$(ssh -F "$CFG" -S "$CP" -O check $h 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
        kill -KILL "$m"
        { wait "$m"; } 2>/dev/null
    else
        kill -KILL "${PID[kill-$how]}"
        { wait "${PID[kill-$how]}"; } 2>/dev/null
    fi
    if t=$(time_until_gone $h 'sleep 30[456]'); then
        ok "SIGKILL to the local $how ssh: remote tree gone after ${t} s"
    else
        bad "SIGKILL to the local $how ssh: remote tree still there after 10 s"
    fi
    { wait "${PID[kill-$how]}"; } 2>/dev/null
    close_ctl "kill-$how"
done
start_master host2 # the old one was killed above

# 6. 20 concurrent sessions over one master: none refused, every one reports.
for i in $(seq 20); do start_job "c$i" host1 "sleep 1; echo $i" "${MUX[@]}"; done
good=0 refused=0
for i in $(seq 20); do
    finish_job "c$i"
    [ "$STATUS" = "exit 0" ] && [ "$OUT" = "$i"$'\n' ] && good=$((good + 1))
    grep -q 'Session open refused' "$T/c$i.err" && refused=$((refused + 1))
done
[ $good = 20 ] && [ $refused = 0 ] && ok "20 concurrent sessions over one master: 20 reported, 0 refused" \
    || bad "20 concurrent sessions: $good reported, $refused refused"

# 7. A hung host (every process of it SIGSTOPped): the master's ServerAliveInterval ends
#    the session within seconds, the job is reported lost (no trailer), not failed; after
#    SIGCONT its remote tree is gone. Then a dead host (its namespace killed): lost too.
hosts_sh=$here/../sshd-hosts.sh
h=host3
rm -f "$T/cm-127.0.0.3"
(close_all_ctl; exec ssh -F "$CFG" -M -S "$CP" -o ControlPersist=no -o ServerAliveInterval=1 \
    -o ServerAliveCountMax=3 -N $h </dev/null) &
masters+=($!)
for i in $(seq 50); do ssh -F "$CFG" -S "$CP" -O check $h 2>/dev/null && break; sleep 0.1; done
start_job hung $h 'sleep 308' "${MUX[@]}"
for i in $(seq 50); do [ "$(remote_count $h 'sleep 308')" = 1 ] && break; sleep 0.1; done
"$hosts_sh" freeze $h
t0=$(date +%s%N)
finish_job hung
t=$((($(date +%s%N) - t0) / 10000000))
"$hosts_sh" thaw $h
if [ "$STATUS" = lost ] && [ "$RC" = 255 ] && t2=$(time_until_gone $h 'sleep 308'); then
    ok "hung $h: ssh gave up after $((t / 100)).$((t % 100)) s (rc 255, no trailer = lost); remote tree gone $t2 s after SIGCONT"
else
    bad "hung $h: status=$STATUS rc=$RC after $((t / 100)).$((t % 100)) s; remote sleep 308 left: $(remote_count $h 'sleep 308')"
fi
start_job dead host2 'sleep 309' "${MUX[@]}"
for i in $(seq 50); do [ "$(remote_count host2 'sleep 309')" = 1 ] && break; sleep 0.1; done
"$hosts_sh" kill host2
finish_job dead
refused=$(ssh -F "$CFG" -o ConnectTimeout=3 host2 true 2>&1)
[ "$STATUS" = lost ] && [ "$RC" = 255 ] && [[ $refused == *"Connection refused"* ]] \
    && ok "dead host2: job reported lost (rc 255, no trailer), new connections refused" \
    || bad "dead host2: status=$STATUS rc=$RC, reconnect said: $refused"
"$hosts_sh" start >/dev/null && ssh -F "$CFG" host2 true && ok "host2 rejoined after sshd-hosts.sh start" \
    || bad "host2 did not come back"

echo "$pass passed, $fail failed ($SECONDS s)"

if [ "${1:-}" = --bench ]; then
    per_job() { # per_job LABEL CMD...: 50 sequential runs, ms per run
        local label=$1 t0 t1 i
        shift
        t0=$(date +%s%N)
        for i in $(seq 50); do "$@" </dev/null >/dev/null 2>&1; done
        t1=$(date +%s%N)
        echo "bench: $label: $(((t1 - t0) / 50000000)) ms per job (50 sequential)"
    }
    per_job "new connection, ssh host3 true" ssh -F "$CFG" host3 true
    per_job "multiplexed session, ssh -S CP host3 true" ssh -F "$CFG" "${MUX[@]}" host3 true
    per_job "multiplexed session + wrapper, job true" ssh -F "$CFG" "${MUX[@]}" host3 "$(remote_cmd true)"
fi
[ $fail = 0 ]
