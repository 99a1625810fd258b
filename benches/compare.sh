#!/usr/bin/env bash
# Side-by-side comparison of atp-run with the peers users would otherwise pick:
# xargs -P, GNU parallel and rust-parallel. Installs nothing: each peer is used only
# when it is on PATH. Every tool runs each workload RUNS times, in turn, in one run
# of this script, so the ratios compare like with like on the same (noisy) machine.
#
# Prints, per workload and tool: median wall time, peak RSS (max over runs) and the
# ratio of the median to atp-run's.
#
#   benches/compare.sh                 # build atp-run (release) and compare
#   RUNS=5 benches/compare.sh          # more runs per cell
#   MILLION=0 benches/compare.sh       # skip the 1,000,000-line workloads
#   ONLY=args benches/compare.sh       # only the argument workloads (touch, 1M args)
#   ATP_RUN=/path/to/atp-run benches/compare.sh
#
# Every tool runs at its defaults except xargs, which has no parallel default and
# gets -P <cores>. atp-run's status lines go to stderr, discarded like the others'.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
MILLION=${MILLION:-1}
CORES=$(nproc)
TIME=/usr/bin/time
if ! "$TIME" -f '%e' true 2>/dev/null; then
  echo "compare.sh needs GNU time at $TIME (Debian package 'time')" >&2
  exit 2
fi

if [ -z "${ATP_RUN:-}" ]; then
  cargo build --release --quiet
  ATP_RUN=$PWD/target/release/atp-run
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Workloads: one command per line.
seq 5000 | sed 's/.*/true/' > "$work/true5000"
seq 100 | sed 's/.*/sleep 0.2/' > "$work/sleep100"
for i in $(seq 12); do echo 'head -c 200000000 /dev/zero | sha256sum'; done > "$work/cpu12"
for i in $(seq 200); do echo 'head -c 200000 /dev/zero | tr "\0" x'; done > "$work/out200"
if [ "$MILLION" = 1 ]; then
  seq 1000000 | sed 's/.*/true/' > "$work/true1m"
fi

# tool name, then the command (reads the workload on stdin).
tools=("atp-run" "$ATP_RUN" "atp-run -j$CORES" "$ATP_RUN -j$CORES")
tools+=("xargs -P$CORES" "xargs -P$CORES -d \\\\n -n1 sh -c")
if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q GNU; then
  tools+=("GNU parallel" "parallel --will-cite")
fi
if command -v rust-parallel >/dev/null; then
  tools+=("rust-parallel" "rust-parallel -s")
fi

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# run_cell FILE CMD -> "median_seconds peak_kb"
run_cell() {
  local file=$1 cmd=$2 times=() peak=0 i out
  for ((i = 0; i < RUNS; i++)); do
    out=$({ "$TIME" -f '%e %M' bash -c "$cmd < '$file' > /dev/null 2>/dev/null"; } 2>&1 | tail -n 1)
    times+=("${out% *}")
    (( ${out#* } > peak )) && peak=${out#* }
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | median)" "$peak"
}

args_workloads() {
  # Several arguments per job: touch 20,000 files (names on stdin), each tool in
  # its own batching mode; then atp-run alone with 1,000,000 arguments.
  seq -f 'file-%g' 20000 > "$work/names20k"
  mkdir -p "$work/touch"
  local touch_tools=("atp-run -X" "$ATP_RUN -q -X -- touch"
                     "xargs -P$CORES -n1000" "xargs -P$CORES -n1000 touch")
  if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q GNU; then
    touch_tools+=("GNU parallel -X" "parallel --will-cite -X touch")
  fi
  local base= t name cmd secs kb
  for ((t = 0; t < ${#touch_tools[@]}; t += 2)); do
    name=${touch_tools[t]} cmd="cd '$work/touch' && ${touch_tools[t+1]}"
    read -r secs kb < <(run_cell "$work/names20k" "$cmd")
    [ -n "$base" ] || base=$secs
    printf '%-34s %-16s %10.2f %7d KB %7.2fx\n' "touch 20,000 files" "$name" "$secs" "$kb" \
      "$(awk -v a="$secs" -v b="$base" 'BEGIN {print (b > 0 ? a / b : 0)}')"
  done
  if [ "$MILLION" = 1 ]; then
    seq 1000000 > "$work/args1m"
    for how in "stdin|$ATP_RUN -q -X -- true" "::::|$ATP_RUN -q -X -- true :::: $work/args1m"; do
      read -r secs kb < <(run_cell "$work/args1m" "${how#*|}")
      printf '%-34s %-16s %10.2f %7d KB\n' "1,000,000 args via ${how%%|*}" "atp-run -X" "$secs" "$kb"
    done
  fi
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $RUNS runs per cell"
printf '%-34s %-16s %10s %10s %8s\n' workload tool "median s" "peak RSS" "ratio"
args_workloads
[ "${ONLY:-}" = args ] && exit 0
for workload in true5000:"5000 x true" sleep100:"100 x sleep 0.2" \
                cpu12:"12 x sha256sum of 200 MB" out200:"200 x 200 KB of output" \
                true1m:"1,000,000 x true"; do
  file=$work/${workload%%:*}
  label=${workload#*:}
  [ -f "$file" ] || continue
  base=
  for ((t = 0; t < ${#tools[@]}; t += 2)); do
    name=${tools[t]} cmd=${tools[t+1]}
    if [ "${workload%%:*}" = true1m ] && [[ "$name" != atp-run* ]] && [[ "$name" != xargs* ]]; then
      printf '%-34s %-16s %10s\n' "$label" "$name" "skipped (hours at its per-job cost)"
      continue
    fi
    read -r secs kb < <(run_cell "$file" "$cmd")
    [ -n "$base" ] || base=$secs
    printf '%-34s %-16s %10.2f %7d KB %7.2fx\n' "$label" "$name" "$secs" "$kb" \
      "$(awk -v a="$secs" -v b="$base" 'BEGIN {print (b > 0 ? a / b : 0)}')"
  done
done
