#!/usr/bin/env bash
# A single-node Slurm cluster on this machine for --slurm tests.
#
#   .ci/slurm.sh start|stop|status
#
# Debian's munge, slurmctld and slurmd, every file under $ATP_TEST_SLURM_DIR (default
# /tmp/atp-test-slurm): a munge key of its own, munged's socket, slurm.conf, state,
# spool, logs. Nothing under /etc is read or changed. The daemons run in one pid/mount
# namespace (`unshare --pid --mount-proc`), so stopping is killing its pid 1, which takes
# every daemon and every job step with it. `start` writes $DIR/env; tests do
#   . "$ATP_TEST_SLURM_DIR/env"; salloc -n2 ...   (or srun ...)
# `start` is idempotent, `status` checks that `srun -N1 true` works within 30 s, `stop`
# leaves no process and no file. Every failure is one line on stderr and a non-zero exit.
set -euo pipefail

DIR=${ATP_TEST_SLURM_DIR:-/tmp/atp-test-slurm}
CTLD_PORT=${ATP_TEST_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${ATP_TEST_SLURMD_PORT:-6818}

die() { echo "slurm: $*" >&2; exit 1; }

ensure_packages() {
    local missing=() p
    for p in munge slurmctld slurmd slurm-client; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    command -v unshare >/dev/null || missing+=(util-linux)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "slurm: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    local log
    log=$(mktemp)
    apt-get update -qq >"$log" 2>&1 || die "apt-get update failed: $(tail -n1 "$log")"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 \
        || die "apt-get install ${missing[*]} failed: $(tail -n1 "$log")"
    rm -f "$log"
}

cmdline_of() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }

# Whether a pid is running (a zombie is not: this machine's init reaps them late).
alive() {
    local st
    st=$({ cut -d')' -f2 <"/proc/$1/stat"; } 2>/dev/null) || return 1
    [ -n "$st" ] && [[ $st != " Z"* ]]
}

# The outer pid of the namespace's init (a bash that started the daemons), or nothing.
init_pid() {
    local p
    [ -f "$DIR/init.pid" ] || return 0
    p=$(cat "$DIR/init.pid")
    case $(cmdline_of "$p") in *"$DIR/init.sh"*) alive "$p" && echo "$p" ;; esac
    return 0
}

# Every live process of our namespace (outer pids), found by its pid-namespace inode.
ns_pids() {
    local ns p
    ns=$(cat "$DIR/pidns" 2>/dev/null || true)
    [ -n "$ns" ] || return 0
    for p in $(ps -e -o pidns=,pid= | awk -v ns="$ns" '$1 == ns { print $2 }'); do
        alive "$p" && echo "$p"
    done
    return 0
}

srun_ok() {
    # shellcheck disable=SC1091
    (. "$DIR/env" && timeout 30 srun -N1 --quiet true) </dev/null >/dev/null 2>&1
}

write_files() {
    local host node
    host=$(hostname -s)
    mkdir -p "$DIR"/{munge,ctld,spool,log}
    # munged's socket is used by every client (srun, slurmstepd): its directories must be
    # searchable by all; munged itself refuses group/other-writable ones.
    chmod 755 "$DIR" "$DIR/munge"
    if [ ! -f "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 600 "$DIR/munge/munge.key"
    # What slurmd sees (sockets, cores, threads, memory), so the node is never drained
    # for a mismatch; the name is this machine's, as slurmctld insists.
    node=$(slurmd -C 2>/dev/null | head -n1 | sed 's/^NodeName=[^ ]*//')
    [ -n "$node" ] || die "slurmd -C printed nothing: cannot describe this node"
    cat >"$DIR/slurm.conf" <<EOF
ClusterName=atptest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
EnforcePartLimits=ALL
InactiveLimit=0
KillWait=5
MinJobAge=5
NodeName=$host NodeAddr=127.0.0.1$node State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$DIR/env" <<EOF
export SLURM_CONF=$DIR/slurm.conf
EOF
    # pid 1 of the namespace: starts the daemons, then reaps whatever is orphaned to it.
    cat >"$DIR/init.sh" <<EOF
set -e
export SLURM_CONF=$DIR/slurm.conf
/usr/sbin/munged --socket=$DIR/munge/munge.socket.2 --key-file=$DIR/munge/munge.key \\
    --pid-file=$DIR/munge/munged.pid --log-file=$DIR/log/munged.log --seed-file=$DIR/munge/munged.seed
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
set +e
trap 'exit 0' TERM
while :; do sleep 3600 & wait; done
EOF
}

start() {
    ensure_packages
    if [ -n "$(init_pid)" ] && srun_ok; then return 0; fi
    stop_all
    write_files
    unshare --pid --fork --kill-child --mount-proc bash "$DIR/init.sh" \
        </dev/null >>"$DIR/log/init.log" 2>&1 &
    local u=$! child=
    echo "$u" >"$DIR/unshare.pid"
    for _ in $(seq 100); do
        child=$(cat "/proc/$u/task/$u/children" 2>/dev/null || true)
        child=${child%% *}
        [ -n "$child" ] && [[ $(cmdline_of "$child") == *"$DIR/init.sh"* ]] && break
        child=
        alive "$u" || break
        sleep 0.05
    done
    if [ -n "$child" ]; then
        echo "$child" >"$DIR/init.pid"
        ps -o pidns= -p "$child" | tr -d ' ' >"$DIR/pidns"
    fi
    # Up when the node is idle; then one real step proves munge, slurmctld and slurmd.
    for _ in $(seq 200); do
        if SLURM_CONF=$DIR/slurm.conf sinfo -h -o %t 2>/dev/null | grep -qx idle; then break; fi
        alive "$u" || break
        grep -qs fatal "$DIR"/log/*.log && break
        sleep 0.05
    done
    grep -qs fatal "$DIR"/log/*.log || ! srun_ok || return 0
    local why
    local logs=("$DIR/log/init.log" "$DIR/log/munged.log" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log")
    why=$(cat "${logs[@]}" 2>/dev/null | grep -iE 'fatal' | tail -n1 || true)
    [ -n "$why" ] || why=$(cat "${logs[@]}" 2>/dev/null | grep -iE 'error' | tail -n1 || true)
    stop_all
    die "did not come up (no idle node, or srun -N1 true failed)${why:+: $why}"
}

stop_all() {
    local p u left
    [ -d "$DIR" ] || return 0
    p=$(init_pid)
    u=$(cat "$DIR/unshare.pid" 2>/dev/null || true)
    # pid 1 of the namespace dies, so does every daemon and job step in it.
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    if [ -n "$u" ] && [[ $(cmdline_of "$u") == "unshare "* ]]; then
        for _ in $(seq 100); do alive "$u" || break; sleep 0.05; done
        kill -KILL "$u" 2>/dev/null || true
    fi
    for _ in $(seq 40); do
        left=$(ns_pids)
        [ -z "$left" ] && break
        sleep 0.05
    done
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
    sleep 0.1
    left=$(ns_pids)
    [ -z "$left" ] || die "processes still running after stop: $left"
    rm -rf "$DIR"
}

case ${1:-} in
start)
    start
    cat <<EOF
Slurm is up (state in $DIR); for a shell or a test:
  . $DIR/env            # SLURM_CONF=$DIR/slurm.conf
  salloc -n2 sh -c 'echo \$SLURM_JOB_ID \$SLURM_JOB_CPUS_PER_NODE; srun --exact -N1 -n1 -c1 --quiet hostname'
EOF
    ;;
stop) stop_all ;;
status)
    [ -f "$DIR/env" ] || die "not started (no $DIR/env)"
    srun_ok || die "srun -N1 true failed or took over 30 s (SLURM_CONF=$DIR/slurm.conf)"
    echo "slurm: up (. $DIR/env)"
    ;;
*) die "usage: $0 start|stop|status" ;;
esac
