#!/usr/bin/env bash
# Three SSH "hosts" on this machine for remote-execution tests.
#
#   .ci/sshd-hosts.sh start|stop|status
#   .ci/sshd-hosts.sh kill|freeze|thaw|pids HOST     (HOST = host1|host2|host3)
#
# host1..host3 listen on 127.0.0.1/.2/.3 port 2222 ($ATP_TEST_SSHD_PORT, so two sets
# can run side by side with two state dirs). Each is Debian's sshd, started by
# absolute path with its own config, under `unshare --pid --mount --uts` with its own
# hostname, its own /proc and its own /root (a bind-mounted directory in the state
# dir), pinned by taskset to 2/1/1 cores. Nothing under /etc/ssh is read or changed.
# All state lives in $ATP_TEST_HOSTS_DIR (default /tmp/atp-test-hosts); clients use
#   ssh -F "$ATP_TEST_HOSTS_DIR/ssh_config" host1 hostname
# `start` is idempotent and (re)starts only the hosts that do not answer, so a host
# killed by a test can rejoin. `stop` kills everything it started and removes the state
# dir. Every failure is one line on stderr and a non-zero exit.
set -euo pipefail

STATE=${ATP_TEST_HOSTS_DIR:-/tmp/atp-test-hosts}
PORT=${ATP_TEST_SSHD_PORT:-2222}
HOSTS=(host1 host2 host3)
SSHD=/usr/sbin/sshd

die() { echo "sshd-hosts: $*" >&2; exit 1; }

addr_of() { echo "127.0.0.${1#host}"; }

# host1 gets two cores, host2 and host3 one each (0-1/0/1 on a 2-core machine).
cpus_of() {
    local n
    n=$(nproc --all)
    if [ "$n" -ge 4 ]; then
        case $1 in host1) echo 0-1 ;; host2) echo 2 ;; host3) echo 3 ;; esac
    elif [ "$n" -ge 2 ]; then
        case $1 in host1) echo 0-1 ;; host2) echo 0 ;; host3) echo 1 ;; esac
    else
        echo 0
    fi
}

ensure_packages() {
    local missing=()
    [ -x "$SSHD" ] || missing+=(openssh-server)
    command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    command -v unshare >/dev/null && command -v taskset >/dev/null || missing+=(util-linux)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "sshd-hosts: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    local log
    log=$(mktemp)
    apt-get update -qq >"$log" 2>&1 || die "apt-get update failed: $(tail -n1 "$log")"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 \
        || die "apt-get install ${missing[*]} failed: $(tail -n1 "$log")"
    rm -f "$log"
    [ -x "$SSHD" ] || die "$SSHD still missing after installing openssh-server"
}

# The command line of a pid, spaces for NULs; empty when it is gone.
cmdline_of() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }

# Whether a pid is running (a zombie is not: this machine's init reaps them late).
alive() {
    local st
    st=$({ cut -d')' -f2 <"/proc/$1/stat"; } 2>/dev/null) || return 1
    [ -n "$st" ] && [[ $st != " Z"* ]]
}

# The outer pid of a host's namespace init (the sshd that is pid 1 inside), or nothing.
init_pid() {
    local f=$STATE/$1/init.pid p
    [ -f "$f" ] || return 0
    p=$(cat "$f")
    # Only if it is still that host's sshd (pids get reused).
    case $(cmdline_of "$p") in *"-f $STATE/$1/sshd_config"*) echo "$p" ;; esac
}

# Every process in a host's pid namespace, as outer pids (init first).
ns_pids() {
    local init ns
    init=$(init_pid "$1")
    [ -n "$init" ] || return 0
    ns=$(ps -o pidns= -p "$init" | tr -d ' ')
    [ -n "$ns" ] || return 0
    ps -e -o pidns=,pid= | awk -v ns="$ns" '$1 == ns { print $2 }' | sort -n
}

answers() {
    local out
    out=$(ssh -F "$STATE/ssh_config" -o ConnectTimeout=5 "$1" hostname 2>/dev/null </dev/null) || return 1
    [ "$out" = "$1" ]
}

setup_state() {
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    if [ ! -f "$STATE/client_key" ]; then
        ssh-keygen -q -t ed25519 -N '' -C atp-test-client -f "$STATE/client_key"
    fi
    cp "$STATE/client_key.pub" "$STATE/authorized_keys"
    local h a known=
    for h in "${HOSTS[@]}"; do
        a=$(addr_of "$h")
        mkdir -p "$STATE/$h/home"
        [ -f "$STATE/$h/ssh_host_ed25519_key" ] \
            || ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$STATE/$h/ssh_host_ed25519_key"
        known+="$h,[$a]:$PORT $(cut -d' ' -f1-2 "$STATE/$h/ssh_host_ed25519_key.pub")"$'\n'
        cat >"$STATE/$h/sshd_config" <<EOF
ListenAddress $a:$PORT
HostKey $STATE/$h/ssh_host_ed25519_key
PidFile $STATE/$h/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 100:30:200
MaxSessions 100
KexAlgorithms curve25519-sha256
UseDNS no
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    done
    printf '%s' "$known" >"$STATE/known_hosts"
    {
        for h in "${HOSTS[@]}"; do
            printf 'Host %s\n  HostName %s\n  Port %s\n\n' "$h" "$(addr_of "$h")" "$PORT"
        done
        cat <<EOF
Host *
  User root
  IdentityFile $STATE/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $STATE/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  CheckHostIP no
  BatchMode yes
  LogLevel ERROR
EOF
    } >"$STATE/ssh_config"
    if [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd && chmod 755 /run/sshd && touch "$STATE/created-run-sshd"
    fi
    # Validate the configs once, so a bad option is one clear line, not a silent death.
    for h in "${HOSTS[@]}"; do
        "$SSHD" -t -f "$STATE/$h/sshd_config" -h "$STATE/$h/ssh_host_ed25519_key" 2>"$STATE/$h/check.log" \
            || die "sshd rejects $STATE/$h/sshd_config: $(tail -n1 "$STATE/$h/check.log")"
    done
}

start_host() {
    local h=$1 pid child i
    stop_host "$h"
    # Inside: private mounts, own /proc, own hostname, own /root; sshd is pid 1.
    # --kill-child: if unshare dies, the namespace dies with it.
    taskset -c "$(cpus_of "$h")" \
        unshare --pid --fork --kill-child --mount --uts --mount-proc \
        sh -c 'hostname "$1" && mount --bind "$2" /root && exec "$3" -D -e -f "$4" -h "$5"' \
        sh "$h" "$STATE/$h/home" "$SSHD" "$STATE/$h/sshd_config" "$STATE/$h/ssh_host_ed25519_key" \
        </dev/null >>"$STATE/$h/sshd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$STATE/$h/unshare.pid"
    for i in $(seq 100); do
        child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
        child=${child%% *}
        if [ -n "$child" ] && [[ $(cmdline_of "$child") == *"-f $STATE/$h/sshd_config"* ]]; then
            echo "$child" >"$STATE/$h/init.pid"
            break
        fi
        alive "$pid" || break
        sleep 0.05
    done
    for i in $(seq 100); do
        answers "$h" && return 0
        alive "$pid" || break
        sleep 0.1
    done
    local why
    why=$(grep -v '^$' "$STATE/$h/sshd.log" 2>/dev/null | tail -n1 || true)
    stop_all
    die "$h ($(addr_of "$h"):$PORT) did not come up${why:+: $why}"
}

stop_host() {
    local h=$1 p u i
    [ -d "$STATE/$h" ] || return 0
    p=$(init_pid "$h")
    u=$(cat "$STATE/$h/unshare.pid" 2>/dev/null || true)
    # SIGCONT first: a frozen host must not keep its processes stopped for ever.
    for i in $(ns_pids "$h"); do kill -CONT "$i" 2>/dev/null || true; done
    # Killing the namespace's pid 1 makes the kernel kill every process in it.
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    if [ -n "$u" ] && [[ $(cmdline_of "$u") == "unshare "* ]]; then
        for i in $(seq 100); do alive "$u" || break; sleep 0.05; done
        kill -KILL "$u" 2>/dev/null || true
    fi
    rm -f "$STATE/$h/init.pid" "$STATE/$h/unshare.pid" "$STATE/$h/sshd.pid"
}

stop_all() {
    local h left
    [ -d "$STATE" ] || return 0
    for h in "${HOSTS[@]}"; do stop_host "$h"; done
    # Anything else still naming our configs (e.g. a pid file lost by hand).
    left=$(pgrep -f -- "-f $STATE/host[123]/sshd_config" || true)
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
    sleep 0.1
    left=$(pgrep -f -- "-f $STATE/host[123]/sshd_config" || true)
    [ -z "$left" ] || die "processes still running after stop: $left"
    if [ -f "$STATE/created-run-sshd" ]; then rmdir /run/sshd 2>/dev/null || true; fi
    rm -rf "$STATE"
}

usage() {
    cat <<EOF
SSH test hosts are up (state in $STATE):
  ssh -F $STATE/ssh_config host1 hostname      # prints host1
  parallel --ssh 'ssh -F $STATE/ssh_config' -S host1,host2,host3 ...
host1=127.0.0.1 (cpus $(cpus_of host1)), host2=127.0.0.2 (cpus $(cpus_of host2)), host3=127.0.0.3 (cpus $(cpus_of host3)), port $PORT, user root.
EOF
}

cmd=${1:-}
case $cmd in
start)
    ensure_packages
    setup_state
    for h in "${HOSTS[@]}"; do
        if [ -n "$(init_pid "$h")" ] && answers "$h"; then continue; fi
        start_host "$h"
    done
    usage
    ;;
stop)
    stop_all
    ;;
status)
    [ -f "$STATE/ssh_config" ] || die "not started (no $STATE/ssh_config)"
    bad=()
    for h in "${HOSTS[@]}"; do answers "$h" || bad+=("$h"); done
    [ ${#bad[@]} -eq 0 ] || die "not answering: ${bad[*]}"
    echo "sshd-hosts: host1 host2 host3 answer (ssh -F $STATE/ssh_config hostN)"
    ;;
kill | freeze | thaw | pids)
    h=${2:-}
    case $h in host1 | host2 | host3) ;; *) die "$cmd needs a host: host1, host2 or host3" ;; esac
    [ -n "$(init_pid "$h")" ] || die "$h is not running"
    case $cmd in
    pids) ns_pids "$h" ;;
    # Like a machine losing power: every process of the host dies at once.
    kill) kill -KILL "$(init_pid "$h")" ;;
    # Like a hung machine: the listener first, then everything else (twice, for forks).
    freeze) for _ in 1 2; do for p in $(ns_pids "$h"); do kill -STOP "$p" 2>/dev/null || true; done; done ;;
    thaw) for p in $(ns_pids "$h"); do kill -CONT "$p" 2>/dev/null || true; done ;;
    esac
    ;;
*)
    die "usage: $0 start|stop|status, or $0 kill|freeze|thaw|pids host1|host2|host3"
    ;;
esac
