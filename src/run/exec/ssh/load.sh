# The load monitor of one host (issue 13, point 2), embedded in atp-run. POSIX sh.
# Remote command:  sh -c "<this file>" atp-load PATTERN
# Prints the host's CPUs once ("@cpus LIST"), then every half second one frame:
#   @frame
#   /proc/stat:cpu… lines, /proc/meminfo:Mem{Total,Available} lines and the
#   /proc/pressure/cpu:some line (grep prefixes each with its file)
#   "@session" and the /proc/PID/stat line of this script's parent: the sshd
#   process of its master's connection, which reaps every session over that
#   master (so its cutime grows by what ended jobs used, however short)
#   /proc/PID/stat lines of this run's jobs: the processes whose command line
#   matches PATTERN (the job wrappers of this run; PATTERN is the run's nonce with
#   its first digit in brackets, so neither this script nor grep matches it) and
#   their descendants, level by level through the children files
#   @end
# A host without /proc/stat (not Linux) gets no frame: the script ends at once.
# End of stdin (atp-run gone, the session or master closed) ends the loop.
p=$1
[ -r /proc/stat ] || exit 0
echo "@cpus $(grep Cpus_allowed_list /proc/$$/status 2>/dev/null | cut -f2)"
(
    while :; do
        echo @frame
        grep -E '^(cpu|MemTotal:|MemAvailable:|some )' /proc/stat /proc/meminfo \
            /proc/pressure/cpu 2>/dev/null
        echo @session
        cat /proc/$PPID/stat 2>/dev/null
        q=
        for f in $(grep -l -e "$p" /proc/[0-9]*/cmdline 2>/dev/null); do
            f=${f#/proc/}
            q="$q ${f%/cmdline}"
        done
        d=0
        while [ -n "$q" ] && [ "$d" -lt 8 ]; do
            s= c=
            for i in $q; do
                s="$s /proc/$i/stat"
                c="$c /proc/$i/task/*/children"
            done
            # shellcheck disable=SC2086 # word splitting and globbing wanted
            cat $s 2>/dev/null
            # shellcheck disable=SC2086
            q=$(cat $c 2>/dev/null)
            d=$((d + 1))
        done
        echo @end
        sleep 0.5 2>/dev/null || sleep 1
    done
) &
cat >/dev/null
kill $! 2>/dev/null
